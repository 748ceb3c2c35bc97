import numpy as np
import torch

from emodiff.mel import MelConfig, MelNormalizer, mel_spectrogram
from emodiff.augment import AugmentConfig, augment_batch, vtlp

CFG = MelConfig()


def tone(hz: float, seconds: float = 0.5) -> torch.Tensor:
    t = np.arange(int(CFG.sample_rate * seconds)) / CFG.sample_rate
    return mel_spectrogram(np.sin(2 * np.pi * hz * t).astype(np.float32), CFG)


def peak_band(mel: torch.Tensor) -> int:
    return int(mel.mean(-1).argmax())


def test_vtlp_moves_a_tone_as_a_scaled_vocal_tract_would():
    mel = torch.stack([tone(1000.0)] * 3)
    warped = vtlp(mel, torch.tensor([1.0, 1.1, 0.9]), CFG)
    torch.testing.assert_close(warped[0], mel[0])  # no warp, no change
    for b, hz in ((1, 1100.0), (2, 900.0)):
        assert peak_band(warped[b]) == peak_band(tone(hz))
    assert peak_band(warped[1]) > peak_band(mel[0]) > peak_band(warped[2])


def test_vtlp_keeps_every_value_within_the_input_and_silence_silent():
    mel = torch.randn(4, CFG.n_mels, 30)
    mel[:, :, 20:] = CFG.silence  # padding of a short clip
    warped = vtlp(mel, torch.tensor([0.8, 0.9, 1.1, 1.2]), CFG)
    torch.testing.assert_close(warped[:, :, 20:], mel[:, :, 20:])
    lo, hi = mel.amin(1, keepdim=True), mel.amax(1, keepdim=True)  # per frame, over bands
    assert torch.all(warped >= lo - 1e-5) and torch.all(warped <= hi + 1e-5)


def test_augment_batch_warps_each_clip_its_own_way_from_the_seed_only():
    raw = torch.stack([tone(700.0), tone(1500.0)])
    norm = MelNormalizer.fit([m.numpy() for m in raw], CFG)
    mel, target = norm.normalize(raw), torch.eye(2)
    cfg = AugmentConfig(vtlp=0.1, gain_db=0.0)
    a, _ = augment_batch(mel, target, cfg, norm, torch.Generator().manual_seed(3))
    b, _ = augment_batch(mel, target, cfg, norm, torch.Generator().manual_seed(3))
    c, _ = augment_batch(mel, target, cfg, norm, torch.Generator().manual_seed(4))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c) and not torch.allclose(a, mel, atol=1e-3)
    torch.testing.assert_close(augment_batch(mel, target, AugmentConfig(gain_db=0.0), norm,
                                             torch.Generator().manual_seed(3))[0], mel)
