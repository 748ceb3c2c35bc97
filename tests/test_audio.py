import math

import librosa
import numpy as np
import pytest
import torch

from emodiff.audio import (SAMPLE_RATE, AudioError, MelConfig, MelNormalizer, load_audio,
                           mel_filterbank, mel_spectrogram)

from .conftest import EMODB_CLIP, RAVDESS_CLIP, SAMPLES, encode, tone


# ---- loading what users hand us -----------------------------------------------------

@pytest.mark.parametrize("fmt,subtype", [("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "FLOAT"),
                                         ("FLAC", "PCM_16"), ("OGG", "VORBIS"),
                                         ("MP3", "MPEG_LAYER_III")])
@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
def test_formats_and_rates_become_mono_22k(fmt, subtype, rate):
    x = tone(1.0, rate, channels=2)
    audio = load_audio(encode(x, rate, fmt, subtype))
    assert audio.sample_rate == SAMPLE_RATE and audio.source_rate == rate and audio.channels == 2
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    # Lossy codecs pad a few ms; length must still be about one second.
    assert abs(audio.seconds - 1.0) < 0.08
    # The 220 Hz fundamental survives decoding and resampling.
    spectrum = np.abs(np.fft.rfft(audio.samples))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / len(audio.samples) - 220) < 3


def test_path_bytes_and_gradio_tuple_agree(tmp_path):
    x = tone(0.8, 16000)
    pcm = (x * 32767).astype(np.int16)
    data = encode(pcm, 16000, "WAV", "PCM_16")
    path = tmp_path / "clip.wav"
    path.write_bytes(data)
    a, b = load_audio(path), load_audio(data)
    c = load_audio((16000, pcm))  # Gradio's numpy format: int16 samples
    d = load_audio((16000, np.stack([pcm, pcm], axis=1)))  # (N, channels)
    np.testing.assert_array_equal(a.samples, b.samples)
    np.testing.assert_allclose(a.samples, c.samples, atol=1e-4)
    np.testing.assert_allclose(c.samples, d.samples, atol=1e-6)


def test_real_clips(data_root):
    emodb = load_audio(EMODB_CLIP)
    assert emodb.source_rate == 16000 and 1.0 < emodb.seconds < 3.0
    ravdess = load_audio(RAVDESS_CLIP)
    assert ravdess.source_rate == 22050
    stereo = load_audio(SAMPLES / "03-01-05-02-01-01-02.wav")
    assert stereo.source_rate == 48000 and stereo.sample_rate == SAMPLE_RATE


def _truncated_flac():
    data = encode(tone(2.0, 16000), 16000, "FLAC")
    return data[: len(data) // 2]


BAD_INPUTS = {
    "empty": (b"", "empty"),
    "one byte": (b"R", "not audio"),
    "text": (b"hello, this is not a sound file\n" * 20, "not audio"),
    "png": (b"\x89PNG\r\n\x1a\n" + bytes(200), "not audio"),
    "truncated wav": (encode(tone(1.0), 22050, "WAV", "PCM_16")[:5000], "truncated"),
    "truncated flac": (_truncated_flac(), "truncated"),
    "no samples": (encode(np.zeros(0, np.float32), 22050, "WAV", "PCM_16"), "no audio samples"),
    "too short": (encode(tone(0.05), 22050, "WAV", "PCM_16"), "at least 0.25 s"),
    "silence": (encode(np.zeros(22050, np.float32), 22050, "WAV", "PCM_16"), "silent"),
    "nan": (encode(np.full(22050, np.nan, np.float32), 22050, "WAV", "FLOAT"), "NaN"),
    "too long": (encode(tone(31.0, 8000), 8000, "WAV", "PCM_16"), "limit is 30 s"),
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_gives_one_clear_error(name):
    data, phrase = BAD_INPUTS[name]
    with pytest.raises(AudioError, match=phrase):
        load_audio(data)


def test_bad_arrays_and_paths(tmp_path):
    with pytest.raises(AudioError, match="no audio samples"):
        load_audio((22050, np.zeros(0, np.int16)))
    with pytest.raises(AudioError, match="NaN"):
        load_audio((22050, np.array([0.1, np.inf] * 10000, np.float32)))
    with pytest.raises(AudioError, match="No audio file"):
        load_audio(tmp_path / "missing.wav")


def test_long_input_can_be_cropped_with_a_notice():
    audio = load_audio(encode(tone(40.0, 8000), 8000, "WAV", "PCM_16"), crop=True)
    assert abs(audio.seconds - 30.0) < 0.01 and audio.cropped_from == pytest.approx(40.0)
    assert "40.0 s" in audio.notice
    assert load_audio(encode(tone(1.0), 22050)).notice is None


# ---- the mel ------------------------------------------------------------------------

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
    x = load_audio(EMODB_CLIP).samples
    mel = mel_spectrogram(x, cfg)
    assert mel.shape == (80, len(x) // 256)
    np.testing.assert_allclose(mel.numpy(), _librosa_reference(x, cfg), atol=2e-3)
    assert mel.min() >= math.log(1e-5) - 1e-6 and mel.max() < 5


def test_mel_is_batched_and_filterbank_cached():
    cfg = MelConfig()
    x = torch.from_numpy(np.stack([tone(1.0), tone(1.0, freq=330.0)]))
    before = mel_filterbank.cache_info().hits
    batch = mel_spectrogram(x, cfg)  # (2, 80, T)
    assert batch.shape == (2, 80, 22050 // 256)
    torch.testing.assert_close(batch[1], mel_spectrogram(x[1], cfg))
    assert mel_filterbank.cache_info().hits >= before + 1


def test_normaliser_fits_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    mels = [rng.normal(-5, 2, (80, n)).astype(np.float32) for n in (50, 70)]
    norm = MelNormalizer.fit(mels)
    z = norm.normalize(torch.from_numpy(np.concatenate(mels, axis=1)))
    assert abs(float(z.mean())) < 1e-4 and abs(float(z.std()) - 1) < 1e-2
    norm.save(tmp_path / "normalizer.json")
    loaded = MelNormalizer.load(tmp_path / "normalizer.json")
    torch.testing.assert_close(loaded.denormalize(z), torch.from_numpy(np.concatenate(mels, axis=1)))
    assert loaded.mel_config == MelConfig()
