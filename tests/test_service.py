"""emodiff.service.EmoDiff: the release as one object, for the app and the CLI."""
import json

import numpy as np
import pytest
import torch

from emodiff.checkpoint import CheckpointError
from emodiff.cli import main
from emodiff.diffusion import mel_seed
from emodiff.diffusion.envelope import ENVELOPE, dct_matrix
from emodiff.loudness import PEAK, TARGET_LUFS, loudness
from emodiff.mel import MelConfig, MelNormalizer
from emodiff.service import EmoDiff

from .conftest import EMODB_CLIP, MEL, SR, planted, tone


def kinds(ensemble) -> list[str]:
    """Members as E(CNN)/F(functionals) + T/F (speaker-normalised)."""
    return [type(m).__name__[0] + str(m.cfg.speaker_norm)[0] for m in ensemble.members]


def test_the_release_takes_the_folders_present(tmp_path, tiny_classifier):
    """Only classifier/ is required; seed, speaker-normalised and functionals folders join when
    shipped, each in its ensemble; nothing loads before it is asked for."""
    from emodiff.functionals import FunctionalsClassifier, FunctionalsConfig

    with pytest.raises(CheckpointError, match="config.json is missing"):
        EmoDiff(tmp_path).classifier
    tiny_classifier(0).save_pretrained(tmp_path / "classifier")
    assert kinds(EmoDiff(tmp_path).classifier) == kinds(EmoDiff(tmp_path).speaker_classifier) == ["EF"]
    tiny_classifier(1).save_pretrained(tmp_path / "classifier_seed1")
    tiny_classifier(2, speaker_norm=True).save_pretrained(tmp_path / "classifier_speaker")  # in no set: ignored
    svc = EmoDiff(tmp_path)
    assert kinds(svc.classifier) == ["EF", "EF"] and kinds(svc.speaker_classifier) == ["EF", "EF"]
    mel = svc.mel((SR, tone(1.0)))
    probs = svc.speaker_classifier.confidences(mel)
    assert probs == pytest.approx({e: np.mean([m.confidences(mel)[e] for m in svc.speaker_classifier.members])
                                   for e in probs})
    x, labels, spk_names = planted(dim=88)
    for name, norm in (("functionals", False), ("functionals_speaker", True)):
        FunctionalsClassifier.fit(FunctionalsConfig(feature_set="eGeMAPSv02", speaker_norm=norm), x, labels,
                                  spk_names).save_pretrained(tmp_path / name)
    svc = EmoDiff(tmp_path)
    assert kinds(svc.classifier) == ["EF", "EF", "FF"]
    assert kinds(svc.speaker_classifier) == ["FT", "EF", "EF", "FF"]
    assert svc.ensemble_for(1) is svc.classifier and svc.ensemble_for(2) is svc.speaker_classifier
    assert "pipeline" not in svc.loaded()  # loaded on first use only


def test_each_set_takes_its_own_temperature_only_with_all_its_members(tmp_path, tiny_classifier):
    """ensembles.json's temperature sharpens the members' mean for the set it was fitted for;
    a release missing a member of the set, or other classifiers asked for, go without it; the
    CNN members alone (judging a mel) are not sharpened."""
    from emodiff.calibration import set_ensemble_temperature
    from emodiff.evaluation import sharpen
    from emodiff.service import ONE_CLIP

    tiny_classifier(0).save_pretrained(tmp_path / "classifier")
    set_ensemble_temperature(tmp_path / "ensembles.json", "one_clip", 0.5, ["runs/x"])
    assert EmoDiff(tmp_path).classifier.temperature == 1.0  # classifier_seed1 and functionals missing
    x, labels, spk_names = planted(dim=88)
    tiny_classifier(1).save_pretrained(tmp_path / "classifier_seed1")
    from emodiff.functionals import VOICE_ENCODER, FunctionalsClassifier, FunctionalsConfig
    FunctionalsClassifier.fit(FunctionalsConfig(feature_set="eGeMAPSv02"), x, labels).save_pretrained(
        tmp_path / "functionals")
    assert EmoDiff(tmp_path).classifier.temperature == 1.0  # voice_statistics missing
    FunctionalsClassifier.fit(FunctionalsConfig(feature_set=VOICE_ENCODER), *planted(dim=1536)[:2]).save_pretrained(
        tmp_path / "voice_statistics")
    svc = EmoDiff(tmp_path)
    assert [p.name for p in svc.present(ONE_CLIP)] == list(ONE_CLIP) and svc.classifier.temperature == 0.5
    assert svc.speaker_classifier.temperature == 1.0  # no temperature fitted for that set
    assert EmoDiff(tmp_path, classifiers=[tmp_path / "classifier"]).classifier.temperature == 1.0
    clip = (SR, tone(1.0))
    plain = EmoDiff(tmp_path, classifiers=[tmp_path / n for n in ONE_CLIP]).classifier.predict(clip)
    sharp = svc.classifier.predict(clip)
    expected = sharpen(np.array([plain[e] for e in plain]), 0.5)
    assert [sharp[e] for e in sharp] == pytest.approx(list(expected), abs=1e-5)
    assert max(sharp.values()) > max(plain.values())
    mel = svc.mel(clip)
    assert svc.classifier.confidences(mel) == pytest.approx(
        {e: np.mean([m.confidences(mel)[e] for m in svc.classifier.networks]) for e in plain})


def test_the_mel_and_rate_come_from_the_saved_models(tmp_path, tiny_classifier):
    """A release of 16 kHz models decodes and analyses at 16 kHz; nothing spells 22,050."""
    cfg16 = MelConfig(sample_rate=16000, fmax=7600.0)
    clf = tiny_classifier(mel=cfg16)
    clf.save_pretrained(tmp_path / "classifier")
    svc = EmoDiff(tmp_path)
    assert svc.mel_config == cfg16 and svc.sample_rate == 16000
    audio = svc.load(EMODB_CLIP) if EMODB_CLIP.exists() else svc.load((SR, tone(1.0)))
    assert audio.sample_rate == 16000
    assert svc.mel(audio).shape[1] == len(audio.samples) // 256
    assert set(svc.recognise(audio)) == set(clf.emotions)


def test_actions_on_a_tiny_release(tiny_release):
    svc = EmoDiff(tiny_release)
    audio = svc.load((SR, tone(1.0)))
    probs = svc.recognise(audio)
    assert sum(probs.values()) == pytest.approx(1, abs=1e-5)
    rows = svc.recognise_speaker([audio, svc.load((SR, tone(1.0, freq=300.0)))])
    assert len(rows) == 2 and all(sum(r.values()) == pytest.approx(1, abs=1e-5) for r in rows)
    out = svc.enhance(audio, "sad", strength=0.3, steps=3, seed=1)
    assert out.target == "sad" and out.mel.shape == out.source_mel.shape and len(out.wave) == out.mel.shape[1] * 256
    assert out.before == svc.classifier.confidences(svc.mel(audio))
    clearer = svc.enhance(audio, None, strength=0.3, steps=3, seed=1)  # no target: its own emotion, clearer
    assert clearer.target == max(clearer.before, key=clearer.before.get)
    with pytest.raises(ValueError, match="strength"):  # 0 is refused, not taken for "the default"
        svc.enhance(audio, "sad", strength=0.0, steps=3)
    # By default it redraws from noise and holds the clip's envelope (the words): `diffusion.envelope`
    d, (lo, hi) = dct_matrix(out.mel.shape[0]), ENVELOPE
    error = {keep: ((d @ svc.enhance(audio, "sad", steps=3, seed=1, keep_envelope=keep).mel)[lo:hi]
                    - (d @ out.source_mel)[lo:hi]).abs().mean().item() for keep in (True, False)}
    assert error[True] < 0.1 * error[False]
    made = svc.generate("angry", seconds=0.5, steps=3, seed=2)
    again = svc.pipeline.generate("angry", seconds=0.5, steps=3, generator=mel_seed(2), vocode=False)
    torch.testing.assert_close(made.mel, again.mel)
    # Levels: an enhanced clip as loud as its source, a generated one at the standard level, unless
    # the peak limit holds it back (then quieter, never louder)
    quiet = svc.load((SR, 0.01 * tone(1.0)))
    for source in (audio, quiet):
        enhanced = svc.enhance(source, "sad", strength=0.3, steps=3, seed=1).wave.numpy()
        change = loudness(enhanced, svc.sample_rate) - loudness(source.samples, source.sample_rate)
        assert abs(change) <= 0.5 or (change < 0 and np.abs(enhanced).max() >= PEAK - 1e-3), change
    generated = svc.generate("sad", seconds=1.0, steps=3, seed=3).wave.numpy()
    level = loudness(generated, svc.sample_rate)
    assert abs(level - TARGET_LUFS) <= 0.5 or (level < TARGET_LUFS and np.abs(generated).max() >= PEAK - 1e-3), level


def test_a_pipeline_of_another_mel_than_the_classifiers_is_refused(tmp_path, tiny_classifier, tiny_pipeline):
    tiny_classifier().save_pretrained(tmp_path / "classifier")
    pipe = tiny_pipeline()
    pipe.normalizer = MelNormalizer(np.zeros(80), np.ones(80), MelConfig(sample_rate=16000, fmax=7600.0))
    pipe.save_pretrained(tmp_path / "diffusion")
    with pytest.raises(CheckpointError):
        EmoDiff(tmp_path).pipeline


def test_cli_generate_and_enhance_write_audio_at_the_models_rate(tiny_release, tmp_path, capsys):
    import soundfile as sf

    common = ["--checkpoints", str(tiny_release)]
    assert main(common + ["generate", "--emotion", "happy", "--seconds", "0.5", "--steps", "3", "--seed", "0",
                          "--out", str(tmp_path / "g.wav"), "--mel-png", str(tmp_path / "g.png")]) == 0
    info = sf.info(str(tmp_path / "g.wav"))
    assert info.samplerate == MEL.sample_rate and info.duration > 0.4 and (tmp_path / "g.png").exists()
    source = tmp_path / "source.wav"
    sf.write(source, tone(1.0, 16000), 16000)
    assert main(common + ["enhance", str(source), "--emotion", "sad", "--strength", "0.3", "--steps", "3",
                          "--out", str(tmp_path / "e.wav")]) == 0
    assert sf.info(str(tmp_path / "e.wav")).samplerate == MEL.sample_rate
    printed = capsys.readouterr().out
    assert "enhanced toward sad" in printed and ("reached" in printed.lower() or "clearer" in printed.lower())
    assert main(common + ["classify", str(source), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 6


def test_warm_up_loads_every_part_and_runs_it(tiny_release, tmp_path, tiny_classifier, caplog):
    import logging

    svc = EmoDiff(tiny_release)
    with caplog.at_level(logging.INFO, logger="emodiff.service"):
        svc.warm_up()
    assert set(svc.loaded()) == {"classifier", "speaker_classifier", "pipeline"}
    assert svc.pipeline._vocoder is not None  # the vocoder too: the first generation pays nothing
    tiny_classifier().save_pretrained(tmp_path / "classifier")  # a release without diffusion
    partial = EmoDiff(tmp_path)
    with caplog.at_level(logging.INFO, logger="emodiff.service"):
        partial.warm_up()
    assert "diffusion + vocoder not available" in caplog.text and "classifier" in partial.loaded()


def test_prosody_step_runs_before_a_change_of_emotion(tiny_release, tmp_path):
    """With prosody statistics beside the pipeline, changing a clip to an emotion spoken 1.5x
    slower makes it ~1.5x longer; making it clearer (the emotion heard) leaves its length."""
    pytest.importorskip("parselmouth")
    import shutil

    from emodiff.prosody import PROSODY_FILE, ProsodyStats

    release = tmp_path / "release"
    shutil.copytree(tiny_release, release)
    svc = EmoDiff(release)
    audio = svc.load(EMODB_CLIP)
    heard = max(svc.classifier.confidences(svc.mel(audio)).items(), key=lambda kv: kv[1])[0]
    other = next(e for e in svc.pipeline.emotions if e != heard)
    flat = {e: 1.0 for e in svc.pipeline.emotions}
    ProsodyStats(semitones={e: 0.0 for e in flat}, range=flat, duration={**flat, other: 1.5},
                 speakers=[]).save(release / "diffusion" / PROSODY_FILE)
    changed = svc.enhance(audio, other, strength=0.3, steps=2, seed=0)
    clearer = svc.enhance(audio, None, strength=0.3, steps=2, seed=0)
    assert changed.mel.shape[1] / changed.source_mel.shape[1] == pytest.approx(1.5, abs=0.08)
    assert clearer.mel.shape == clearer.source_mel.shape


def test_the_enhance_tabs_cnn_vote_takes_the_mel_temperature(tmp_path, tiny_classifier):
    """Judging a mel, only the CNN members vote: ensembles.json's "mel" temperature sharpens
    their mean there, and the one-clip set's temperature stays for whole clips."""
    from emodiff.calibration import set_ensemble_temperature
    from emodiff.evaluation import sharpen

    for i, name in enumerate(("classifier", "classifier_seed1")):
        tiny_classifier(i).save_pretrained(tmp_path / name)
    x, labels, _ = planted(dim=88)
    from emodiff.functionals import FunctionalsClassifier, FunctionalsConfig
    FunctionalsClassifier.fit(FunctionalsConfig(feature_set="eGeMAPSv02"), x, labels).save_pretrained(
        tmp_path / "functionals")
    set_ensemble_temperature(tmp_path / "ensembles.json", "mel", 0.5, ["runs/x"])
    svc = EmoDiff(tmp_path)
    plain = EmoDiff(tmp_path, classifiers=[tmp_path / "classifier", tmp_path / "classifier_seed1"])
    mel = svc.mel((SR, tone(1.0)))
    raw = plain.classifier.confidences(mel)
    assert svc.classifier.mel_temperature == 0.5 and svc.classifier.temperature == 1.0
    assert list(svc.classifier.confidences(mel).values()) == pytest.approx(
        list(sharpen(np.array(list(raw.values())), 0.5)), abs=1e-5)
