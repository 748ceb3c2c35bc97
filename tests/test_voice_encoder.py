import json

import numpy as np
import pytest
import torch

from emodiff.audio import load_audio, resample
from emodiff.functionals import VOICE_ENCODER, FunctionalsConfig, functionals
from emodiff.voice_encoder import FOLDER, VoiceEncoder, shipped

from .conftest import EMODB_CLIP, RAVDESS_CLIP, SR


def speech16k(path=EMODB_CLIP):
    return resample(load_audio(path, sample_rate=SR).samples, SR, 16000)


def test_conversion_reproduces_resemblyzers_speaker_embedding(data_root, script):
    """The converted LSTM, fed this module's mel, gives resemblyzer's own embedding of the same
    audio through resemblyzer's projection: weights, layer order and front end all carried over."""
    resemblyzer = pytest.importorskip("resemblyzer")
    from resemblyzer.audio import wav_to_mel_spectrogram

    wav = resemblyzer.preprocess_wav(speech16k(), source_sr=16000)
    original = resemblyzer.VoiceEncoder("cpu", verbose=False)
    converted = script("train/convert_voice_encoder").from_resemblyzer()
    mel = converted.mel(wav)
    np.testing.assert_allclose(mel.numpy(), wav_to_mel_spectrogram(wav), rtol=1e-4, atol=1e-6)
    with torch.no_grad():
        x = mel[None]
        for layer in converted.lstm:
            x, (h, _) = layer(x)
        ours = torch.relu(original.linear(h[-1]))
        ours = ours / ours.norm()
        theirs = original(mel[None])
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-5)


def test_shipped_fp16_weights_give_the_fp32_statistics(data_root, script):
    pytest.importorskip("resemblyzer")
    wav = speech16k()
    full = script("train/convert_voice_encoder").from_resemblyzer().statistics(wav)
    shipped_stats = shipped().statistics(wav)
    assert shipped_stats.shape == (2 * 3 * 256,) and shipped_stats.dtype == np.float32
    assert np.corrcoef(full, shipped_stats)[0, 1] > 0.9999
    assert json.loads((FOLDER / "config.json").read_text())["model_type"] == "emodiff-voice-encoder"


def test_statistics_tell_two_voices_apart_and_ignore_the_silence_around_speech(data_root):
    """As a feature set of the functionals model: silence padding (cut before analysis) barely
    moves the statistics; another speaker's clip moves them a lot."""
    cfg = FunctionalsConfig(feature_set=VOICE_ENCODER)
    speech = load_audio(EMODB_CLIP, sample_rate=SR).samples
    quiet = np.random.default_rng(0).normal(0, 1e-5, SR).astype(np.float32)
    a = functionals(speech, cfg)
    b = functionals(np.concatenate([quiet, speech, quiet]), cfg)
    c = functionals(load_audio(RAVDESS_CLIP, sample_rate=SR).samples, cfg)
    assert a.shape == (1536,) and np.isfinite(a).all()
    assert np.abs(a - b).mean() < 0.1 * np.abs(a - c).mean()


def test_quiet_clips_are_raised_to_the_level_the_encoder_was_trained_on():
    enc = VoiceEncoder.from_pretrained()
    wav = speech16k()
    level = 10 ** (-30 / 20) / np.sqrt(np.mean(wav.astype(np.float64) ** 2))
    at_target = (wav * level).astype(np.float32)
    np.testing.assert_allclose(enc.statistics(at_target * 0.01), enc.statistics(at_target), rtol=1e-3, atol=1e-4)
    assert not np.allclose(enc.statistics(at_target * 10), enc.statistics(at_target), atol=1e-3)


def test_the_feature_cache_is_named_by_the_encoders_weights(monkeypatch):
    import emodiff.functionals as fn

    cfg = FunctionalsConfig(feature_set=VOICE_ENCODER)
    before = cfg.key()
    monkeypatch.setattr(fn, "weights_digest", lambda: "other-weights")
    assert cfg.key() != before and FunctionalsConfig().key() == FunctionalsConfig().key()


def test_a_model_fitted_on_another_encoders_statistics_is_refused(tmp_path, monkeypatch):
    """The features come from checkpoints/voice_encoder/, outside the model's folder: a model
    fitted on another encoder's would load and answer wrongly, so it is refused in words."""
    import emodiff.functionals as fn
    from emodiff.checkpoint import CheckpointError
    from emodiff.functionals import FunctionalsClassifier

    from .conftest import planted

    x, labels, _ = planted(dim=1536)
    FunctionalsClassifier.fit(FunctionalsConfig(feature_set=VOICE_ENCODER), x, labels).save_pretrained(tmp_path / "m")
    assert FunctionalsClassifier.from_pretrained(tmp_path / "m").emotions == FunctionalsConfig().emotions
    monkeypatch.setattr(fn, "weights_digest", lambda: "other-weights")
    with pytest.raises(CheckpointError, match="another voice encoder"):
        FunctionalsClassifier.from_pretrained(tmp_path / "m")


def test_missing_encoder_weights_are_reported_in_words(tmp_path):
    from emodiff.checkpoint import CheckpointError
    from emodiff.voice_encoder import weights_digest

    with pytest.raises(CheckpointError, match="voice encoder's weights are missing"):
        weights_digest(tmp_path)
