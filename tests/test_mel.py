import math

import librosa
import numpy as np
import torch

from emodiff.audio import load_audio
from emodiff.mel import MelConfig, MelNormalizer, mel_filterbank, mel_of, mel_spectrogram

from .conftest import EMODB_CLIP, MEL, SR, tone


def _librosa_reference(x: np.ndarray, cfg: MelConfig) -> np.ndarray:
    """hifi-gan's mel written with librosa: reflect pad, uncentred STFT, magnitude, log."""
    pad = (cfg.n_fft - cfg.hop_length) // 2
    x = np.pad(x, pad, mode="reflect")
    stft = librosa.stft(x, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                        win_length=cfg.win_length, window="hann", center=False)
    spec = np.sqrt(np.abs(stft) ** 2 + 1e-9)  # hifi-gan's epsilon
    fb = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels,
                             fmin=cfg.fmin, fmax=cfg.fmax)
    return np.log(np.maximum(fb @ spec, cfg.log_clamp))


def test_mel_matches_reference_and_shape(data_root):
    cfg = MelConfig()
    x = load_audio(EMODB_CLIP, sample_rate=SR).samples
    mel = mel_spectrogram(x, cfg)
    assert mel.shape == (80, len(x) // 256)
    np.testing.assert_allclose(mel.numpy(), _librosa_reference(x, cfg), atol=2e-3)
    assert mel.min() >= math.log(1e-5) - 1e-6 and mel.max() < 5


def test_mel_is_batched_and_filterbank_cached():
    cfg = MelConfig()
    x = torch.from_numpy(np.stack([tone(1.0), tone(1.0, freq=330.0)]))
    before = mel_filterbank.cache_info().hits
    batch = mel_spectrogram(x, cfg)  # (2, 80, T)
    assert batch.shape == (2, 80, SR // 256)
    torch.testing.assert_close(batch[1], mel_spectrogram(x[1], cfg))
    assert mel_filterbank.cache_info().hits >= before + 1


def test_normaliser_fits_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    mels = [rng.normal(-5, 2, (80, n)).astype(np.float32) for n in (50, 70)]
    norm = MelNormalizer.fit(mels, MEL)
    z = norm.normalize(torch.from_numpy(np.concatenate(mels, axis=1)))
    assert abs(float(z.mean())) < 1e-4 and abs(float(z.std()) - 1) < 1e-2
    norm.save(tmp_path / "normalizer.json")
    loaded = MelNormalizer.load(tmp_path / "normalizer.json")
    torch.testing.assert_close(loaded.denormalize(z), torch.from_numpy(np.concatenate(mels, axis=1)))
    assert loaded.mel_config == MelConfig()


def test_a_model_is_handed_audio_at_its_own_rate(data_root):
    """`mel_of` decodes a source at the config's rate and resamples an `Audio` decoded at another:
    the same clip gives the same mel either way, and a config with another rate gives its own."""
    at_16k = load_audio(EMODB_CLIP, sample_rate=16000)
    direct, resampled = mel_of(EMODB_CLIP, MEL), mel_of(at_16k, MEL)
    assert direct.shape == resampled.shape
    torch.testing.assert_close(direct, resampled, atol=1e-3, rtol=0)
    other = MelConfig(sample_rate=16000, fmax=7600.0)
    assert mel_of(EMODB_CLIP, other).shape[1] == len(at_16k.samples) // other.hop_length
