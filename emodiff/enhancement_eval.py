"""Does enhancement do what the Enhance tab says? Measured on speakers the generator never
heard, by judges that had no part in making it, on what the listener hears (the vocoded audio
at the source's loudness, as the app returns it), in both senses of "enhance":

- *clarity*: each clip pushed toward its own emotion: is it recognised as that more often?
- *conversion*: each clip pushed toward each of the five other emotions: is it recognised as
  the target?

And at what cost: the voice (cosine similarity of Resemblyzer speaker embeddings, source vs
enhanced, beside two different real clips of the same speaker), the words (DTW distance of
MFCC sequences, source vs enhanced, beside the source vs another sentence of the same
speaker), the level (loudness change, LU). `before` is the original clip; `vocoded` is its mel
through the vocoder alone, what any mel edit starts from.

And against what a perfect converter would give (`measure_real_takes`): the speaker's own take
of the same sentence in the target emotion, through the same vocoder. The judges do not
recognise every real take, so this is the ceiling of the conversion score.
"""
from __future__ import annotations

import functools
from collections import defaultdict

import numpy as np
from tqdm.auto import tqdm

from .audio import Audio, load_audio, resample
from .data import EMOTIONS
from .diffusion import mel_seed
from .evaluation import load_classifier
from .loudness import loudness, set_loudness
from .mel import mel_spectrogram
from .stats import percentile_interval, resamples

EMBED_RATE = 16000  # Resemblyzer's and the MFCCs' rate


@functools.cache
def _voice_encoder():
    try:
        from resemblyzer import VoiceEncoder
    except ImportError as e:  # an evaluation extra: README, "Evaluate enhancement"
        raise ImportError("Speaker similarity needs resemblyzer: pip install --no-deps resemblyzer==0.1.4 "
                          "webrtcvad-wheels") from e
    return VoiceEncoder("cpu", verbose=False)


def voice(samples: np.ndarray, rate: int) -> np.ndarray:
    """A unit-length speaker embedding (Resemblyzer's GE2E encoder, weights in its package)."""
    from resemblyzer import preprocess_wav

    return _voice_encoder().embed_utterance(preprocess_wav(resample(samples, rate, EMBED_RATE), EMBED_RATE))


def words(samples: np.ndarray, rate: int) -> np.ndarray:
    """MFCCs 1-12 (no energy), normalised per coefficient over the clip: what is said, less how loud."""
    import librosa

    mfcc = librosa.feature.mfcc(y=resample(samples, rate, EMBED_RATE), sr=EMBED_RATE, n_mfcc=13)[1:]
    return (mfcc - mfcc.mean(1, keepdims=True)) / (mfcc.std(1, keepdims=True) + 1e-8)


def content_distance(a: np.ndarray, b: np.ndarray) -> float:
    """DTW distance of two MFCC sequences per step of the alignment path: small when the same
    words are said, whatever the timing."""
    import librosa

    cost, path = librosa.sequence.dtw(X=a, Y=b, metric="euclidean")
    return float(cost[-1, -1] / len(path))


class Judges:
    """Held-out classifiers (CNN on the mel, or openSMILE functionals), each giving the six
    emotions' probabilities for a waveform, in `EMOTIONS` order."""

    def __init__(self, paths):
        self.models = {p.name if p.name != "best" else p.parent.name: load_classifier(p) for p in paths}

    def __call__(self, samples: np.ndarray, rate: int) -> dict[str, np.ndarray]:
        out = {}
        for name, model in self.models.items():
            if hasattr(model, "mel_config"):
                mel = mel_spectrogram(resample(samples, rate, model.mel_config.sample_rate), model.mel_config)
                probs = dict(zip(model.emotions, model.mel_probabilities(mel).numpy()))
            else:
                probs = model.predict(Audio(samples.astype(np.float32), rate, rate, 1))
            out[name] = np.array([probs[e] for e in EMOTIONS])
        return out


def _neighbours(record, records) -> tuple:
    """Another real clip of the speaker with other words (the content baseline; same emotion
    where there is one) and another of the speaker in another emotion (the voice baseline)."""
    same = [r for r in records if r.speaker == record.speaker and r.path != record.path]
    other_words = [r for r in same if r.text != record.text]
    words_ref = next((r for r in other_words if r.emotion == record.emotion), other_words[0] if other_words else None)
    voice_ref = next((r for r in same if r.emotion != record.emotion), same[0] if same else None)
    return words_ref, voice_ref


class _Source:
    """A source clip as its outputs are compared with it: its loudness, voice and words, and the
    row that starts its measurements (the clip judged as it is, and its speaker's baselines)."""

    def __init__(self, record, records, rate: int, judges: Judges):
        self.rate, self.judges = rate, judges
        self.samples = load_audio(record.path, sample_rate=rate).samples
        self.level = loudness(self.samples, rate)
        self.voice, self.words = voice(self.samples, rate), words(self.samples, rate)
        self.row = {"clip": record.name, "corpus": record.corpus, "speaker": record.speaker,
                    "emotion": record.emotion, "before": {k: v.tolist() for k, v in judges(self.samples, rate).items()}}
        words_ref, voice_ref = _neighbours(record, records)
        if words_ref is not None:
            self.row["words_other_sentence"] = content_distance(self.words, words(self.load(words_ref), rate))
        if voice_ref is not None:
            self.row["voice_same_speaker"] = float(self.voice @ voice(self.load(voice_ref), rate))

    def load(self, record) -> np.ndarray:
        return load_audio(record.path, sample_rate=self.rate).samples

    def score(self, wave: np.ndarray) -> dict:
        """An output at the source's loudness (as the app returns it): judged, with its voice
        and words beside the source's and its level change."""
        wave = set_loudness(wave, self.rate, self.level)[0]
        return {"judges": {k: v.tolist() for k, v in self.judges(wave, self.rate).items()},
                "voice": float(self.voice @ voice(wave, self.rate)),
                "words": content_distance(self.words, words(wave, self.rate)),
                "loudness_change": loudness(wave, self.rate) - self.level}


def measure_clip(record, records, pipe, judges: Judges, strength: float, steps: int, guidance: float,
                 seed: int, prepare=None, **options) -> dict:
    """One source clip: judged before, vocoded, and enhanced toward each of the six emotions
    (its own: clarity; the others: conversion), with voice, words and level against the source.
    `prepare(samples, rate, source_emotion, target) -> samples` runs before the diffusion (a
    prosody step, say); `options` go to `pipe.enhance` (steering, the envelope lock)."""
    rate = pipe.mel_config.sample_rate
    source = _Source(record, records, rate, judges)
    samples = source.samples
    mel = mel_spectrogram(samples, pipe.mel_config)
    outputs = {"vocoded": pipe.vocoder(mel).numpy()}
    for i, target in enumerate(EMOTIONS):
        start = samples if prepare is None else prepare(samples, rate, record.emotion, target)
        start_mel = mel if start is samples else mel_spectrogram(start, pipe.mel_config)  # moved: analysed anew
        out = pipe.enhance(start_mel, target, strength=strength, steps=steps,
                           guidance=guidance, generator=mel_seed(seed + i), **options)
        outputs[target] = out.wave.numpy()
    return {**source.row, **{name: source.score(wave) for name, wave in outputs.items()}}


def real_takes(record, records) -> dict:
    """The speaker's own take of `record`'s sentence in each other emotion it was recorded in
    (the first in `records`' order: RAVDESS's normal intensity, first repetition), and in its
    own emotion a stronger take where there is one (RAVDESS: what "clearer" means to an actor)."""
    takes = {}
    for r in records:
        if r.speaker != record.speaker or r.text != record.text:
            continue
        if r.emotion != record.emotion or (record.intensity, r.intensity) == ("normal", "strong"):
            takes.setdefault(r.emotion, r)
    return takes


def measure_real_takes(record, records, pipe, judges: Judges) -> dict:
    """What a perfect conversion of `record` would score: each real take (`real_takes`) through
    the vocoder at the source's loudness, judged and compared with the source as an enhanced
    clip is. Targets the speaker never recorded the sentence in are absent."""
    source = _Source(record, records, pipe.mel_config.sample_rate, judges)
    row = dict(source.row)
    for target, take in real_takes(record, records).items():
        mel = mel_spectrogram(source.load(take), pipe.mel_config)
        row[target] = {"take": take.name, **source.score(pipe.vocoder(mel).numpy())}
    return row


def _interval(values, speakers) -> list[float]:
    values = np.asarray(values, float)
    draws = [values[idx].mean() for idx in resamples(len(values), speakers, 2000, 0)]
    return [float(values.mean()), *percentile_interval(draws)]


def summarise(rows: list[dict], judge: str) -> dict:
    """Per corpus (and both): clarity — top-1 on the clip's own emotion before, vocoded and
    after, and the change, with 95 % intervals resampling speakers, and before and after per
    emotion; conversion — top-1 on the target per target emotion and overall, P(target) before
    and after; voice, words and level beside their baselines."""
    out = {}
    for corpus in ("emodb", "ravdess", "both"):
        rs = [r for r in rows if corpus in ("both", r["corpus"])]
        if not rs:
            continue
        speakers = [r["speaker"] for r in rs]
        vocoded = [_hit(r["vocoded"]["judges"][judge], r["emotion"]) for r in rs]
        clarity = {**_clarity(rs, judge), "top1_vocoded": _interval(vocoded, speakers)}
        out[corpus] = {"clarity": clarity, "conversion": _conversion(rs, judge), **_costs(rs, speakers)}
    return out


def summarise_real_takes(rows: list[dict], judge: str) -> dict:
    """Per corpus (and both): conversion as `summarise` gives it, and the voice and words of
    the takes in other emotions beside their source, for the rows `measure_real_takes` found
    such a take for; clarity, where there are stronger takes of the clip's own emotion: its
    emotion recognised in the clip and in the stronger take."""
    out = {}
    for corpus in ("emodb", "ravdess", "both"):
        rs = [r for r in rows if corpus in ("both", r["corpus"]) and any(e in r for e in _others(r))]
        if not rs:
            continue
        speakers = [r["speaker"] for r in rs]
        mean = lambda r, key: float(np.mean([r[e][key] for e in _others(r) if e in r]))  # noqa: E731
        out[corpus] = {"conversion": _conversion(rs, judge),
                       "voice": _interval([mean(r, "voice") for r in rs], speakers),
                       "words": _interval([mean(r, "words") for r in rs], speakers),
                       **_baselines(rs)}
        stronger = [r for r in rs if r["emotion"] in r]
        if stronger:
            out[corpus]["clarity"] = _clarity(stronger, judge)
    return out


def _clarity(rows: list[dict], judge: str) -> dict:
    """Each row's own emotion recognised in the clip (before) and in its output toward that
    emotion (after): overall with the change (95 % intervals resampling speakers), and per
    emotion."""
    speakers = [r["speaker"] for r in rows]
    before = [_hit(r["before"][judge], r["emotion"]) for r in rows]
    after = [_hit(r[r["emotion"]]["judges"][judge], r["emotion"]) for r in rows]
    return {"n": len(rows), "speakers": len(set(speakers)), "top1_before": _interval(before, speakers),
            "top1_after": _interval(after, speakers), "change": _interval(np.subtract(after, before), speakers),
            "per_emotion": {e: [_mean_where(before, rows, e), _mean_where(after, rows, e)]
                            for e in EMOTIONS if any(r["emotion"] == e for r in rows)}}


def _others(row: dict) -> list[str]:
    return [e for e in EMOTIONS if e != row["emotion"]]


def _mean_where(values: list[float], rows: list[dict], emotion: str) -> float:
    return float(np.mean([v for v, r in zip(values, rows) if r["emotion"] == emotion]))


def _hit(probs, emotion: str) -> float:
    return float(np.argmax(probs) == EMOTIONS.index(emotion))


def _conversion(rows: list[dict], judge: str) -> dict:
    """Top-1 on the target, per target emotion and overall (95 % interval resampling speakers),
    and P(target) before and after, over the targets each row has."""
    per_target, conv, p_before, p_after, cells = defaultdict(list), [], [], [], []
    for r in rows:
        for target in EMOTIONS:
            if target == r["emotion"] or target not in r:
                continue
            h = _hit(r[target]["judges"][judge], target)
            per_target[target].append(h)
            conv.append(h)
            cells.append(r["speaker"])
            p_before.append(r["before"][judge][EMOTIONS.index(target)])
            p_after.append(r[target]["judges"][judge][EMOTIONS.index(target)])
    return {"n": len(conv), "top1": _interval(conv, cells),
            "per_target": {t: float(np.mean(v)) for t, v in per_target.items()},
            "p_target_before": float(np.mean(p_before)), "p_target_after": float(np.mean(p_after))}


def _costs(rows: list[dict], speakers: list[str]) -> dict:
    """Voice, words and level of the enhanced clips (all six targets) beside the baselines."""
    enhanced = lambda key: [float(np.mean([r[e][key] for e in EMOTIONS])) for r in rows]  # noqa: E731
    costs = {"voice_enhanced": _interval(enhanced("voice"), speakers),
             "voice_vocoded": _interval([r["vocoded"]["voice"] for r in rows], speakers),
             "words_enhanced": _interval(enhanced("words"), speakers),
             "words_vocoded": _interval([r["vocoded"]["words"] for r in rows], speakers),
             # the level is set to the source's; only the peak limit holds a clip back (quieter)
             "loudness_within_half_lu": float(np.mean([abs(r[e]["loudness_change"]) <= 0.5 for r in rows
                                                       for e in EMOTIONS])),
             "loudness_change_min": float(min(r[e]["loudness_change"] for r in rows for e in EMOTIONS))}
    return {**costs, **_baselines(rows)}


def _baselines(rows: list[dict]) -> dict:
    """Two real clips of a speaker (voice), another sentence of the speaker (words)."""
    out = {}
    for key in ("voice_same_speaker", "words_other_sentence"):
        have = [(r[key], r["speaker"]) for r in rows if key in r]
        if have:
            out[key] = _interval(*zip(*have))
    return out


def choose_clips(test, per_cell: int, seed: int = 0) -> list:
    """`per_cell` clips of each corpus and emotion from `test` (held-out speakers), speakers
    taken in turn."""
    rng = np.random.default_rng(seed)
    chosen = []
    for corpus in ("emodb", "ravdess"):
        for emotion in EMOTIONS:
            cell = [r for r in test if r.corpus == corpus and r.emotion == emotion]
            cell = [cell[i] for i in rng.permutation(len(cell))]
            seen, rank = defaultdict(int), []
            for r in cell:  # each speaker's first clip, then each one's second, ...
                rank.append(seen[r.speaker])
                seen[r.speaker] += 1
            chosen += [r for _, _, r in sorted(zip(rank, range(len(cell)), cell))][:per_cell]
    return chosen


def evaluate(records, test, pipe, judges: Judges, per_cell: int, strength: float, steps: int, guidance: float,
             seed: int = 0, prepare=None, **options) -> list[dict]:
    """`measure_clip` on `choose_clips`; `records` (the same speakers' other clips) supply the
    baselines."""
    return [measure_clip(r, records, pipe, judges, strength, steps, guidance, seed, prepare, **options)
            for r in tqdm(choose_clips(test, per_cell, seed), desc="clips", unit="clip")]
