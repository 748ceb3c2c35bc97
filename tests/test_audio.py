import numpy as np
import pytest

from emodiff.audio import AudioError, load_audio

from .conftest import EMODB_CLIP, RAVDESS_CLIP, SAMPLES, SR, encode, tone


# ---- loading what users hand us -----------------------------------------------------

@pytest.mark.parametrize("fmt,subtype", [("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "FLOAT"),
                                         ("FLAC", "PCM_16"), ("OGG", "VORBIS"),
                                         ("MP3", "MPEG_LAYER_III")])
@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
def test_formats_and_rates_become_mono_22k(fmt, subtype, rate):
    x = tone(1.0, rate, channels=2)
    audio = load_audio(encode(x, rate, fmt, subtype), sample_rate=SR)
    assert audio.sample_rate == SR and audio.source_rate == rate and audio.channels == 2
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    # Lossy codecs pad a few ms; length must still be about one second.
    assert abs(audio.seconds - 1.0) < 0.08
    # The 220 Hz fundamental survives decoding and resampling.
    spectrum = np.abs(np.fft.rfft(audio.samples))
    assert abs(np.argmax(spectrum) * SR / len(audio.samples) - 220) < 3


def test_path_bytes_and_gradio_tuple_agree(tmp_path):
    x = tone(0.8, 16000)
    pcm = (x * 32767).astype(np.int16)
    data = encode(pcm, 16000, "WAV", "PCM_16")
    path = tmp_path / "clip.wav"
    path.write_bytes(data)
    a, b = load_audio(path, sample_rate=SR), load_audio(data, sample_rate=SR)
    c = load_audio((16000, pcm), sample_rate=SR)  # Gradio's numpy format: int16 samples
    d = load_audio((16000, np.stack([pcm, pcm], axis=1)), sample_rate=SR)  # (N, channels)
    np.testing.assert_array_equal(a.samples, b.samples)
    np.testing.assert_allclose(a.samples, c.samples, atol=1e-4)
    np.testing.assert_allclose(c.samples, d.samples, atol=1e-6)


def test_real_clips(data_root):
    emodb = load_audio(EMODB_CLIP, sample_rate=SR)
    assert emodb.source_rate == 16000 and 1.0 < emodb.seconds < 3.0
    ravdess = load_audio(RAVDESS_CLIP, sample_rate=SR)
    assert ravdess.source_rate == 22050  # the file's own rate
    stereo = load_audio(SAMPLES / "03-01-05-02-01-01-02.wav", sample_rate=SR)
    assert stereo.source_rate == 48000 and stereo.sample_rate == SR


def _truncated_flac():
    data = encode(tone(2.0, 16000), 16000, "FLAC")
    return data[: len(data) // 2]


BAD_INPUTS = {
    "empty": (b"", "empty"),
    "one byte": (b"R", "not audio"),
    "text": (b"hello, this is not a sound file\n" * 20, "not audio"),
    "png": (b"\x89PNG\r\n\x1a\n" + bytes(200), "not audio"),
    "truncated wav": (encode(tone(1.0), SR, "WAV", "PCM_16")[:5000], "truncated"),
    "truncated flac": (_truncated_flac(), "truncated"),
    "no samples": (encode(np.zeros(0, np.float32), SR, "WAV", "PCM_16"), "no audio samples"),
    "too short": (encode(tone(0.05), SR, "WAV", "PCM_16"), "at least 0.25 s"),
    "silence": (encode(np.zeros(SR, np.float32), SR, "WAV", "PCM_16"), "silent"),
    "nan": (encode(np.full(SR, np.nan, np.float32), SR, "WAV", "FLOAT"), "NaN"),
    "too long": (encode(tone(31.0, 8000), 8000, "WAV", "PCM_16"), "limit is 30 s"),
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_gives_one_clear_error(name):
    data, phrase = BAD_INPUTS[name]
    with pytest.raises(AudioError, match=phrase):
        load_audio(data, sample_rate=SR)


def test_bad_arrays_and_paths(tmp_path):
    with pytest.raises(AudioError, match="no audio samples"):
        load_audio((SR, np.zeros(0, np.int16)), sample_rate=SR)
    with pytest.raises(AudioError, match="NaN"):
        load_audio((SR, np.array([0.1, np.inf] * 10000, np.float32)), sample_rate=SR)
    with pytest.raises(AudioError, match="No audio file"):
        load_audio(tmp_path / "missing.wav", sample_rate=SR)


def test_long_input_can_be_cropped_with_a_notice():
    audio = load_audio(encode(tone(40.0, 8000), 8000, "WAV", "PCM_16"), crop=True, sample_rate=SR)
    assert abs(audio.seconds - 30.0) < 0.01 and audio.cropped_from == pytest.approx(40.0)
    assert "40.0 s" in audio.notice
    assert load_audio(encode(tone(1.0), SR), sample_rate=SR).notice is None
