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


def measure_clip(record, records, pipe, judges: Judges, strength: float, steps: int, guidance: float,
                 seed: int, prepare=None, **options) -> dict:
    """One source clip: judged before, vocoded, and enhanced toward each of the six emotions
    (its own: clarity; the others: conversion), with voice, words and level against the source.
    `prepare(samples, rate, source_emotion, target) -> samples` runs before the diffusion (a
    prosody step, say); `options` go to `pipe.enhance` (steering, the envelope lock)."""
    rate = pipe.mel_config.sample_rate
    samples = load_audio(record.path, sample_rate=rate).samples
    level, source_voice, source_words = loudness(samples, rate), voice(samples, rate), words(samples, rate)
    words_ref, voice_ref = _neighbours(record, records)
    row = {"clip": record.name, "corpus": record.corpus, "speaker": record.speaker, "emotion": record.emotion,
           "before": {k: v.tolist() for k, v in judges(samples, rate).items()}}
    if words_ref is not None:
        row["words_other_sentence"] = content_distance(source_words, words(load_audio(words_ref.path,
                                                                                      sample_rate=rate).samples, rate))
    if voice_ref is not None:
        row["voice_same_speaker"] = float(source_voice @ voice(load_audio(voice_ref.path, sample_rate=rate).samples,
                                                               rate))
    mel = mel_spectrogram(samples, pipe.mel_config)
    outputs = {"vocoded": pipe.vocoder(mel).numpy()}
    for i, target in enumerate(EMOTIONS):
        start = samples if prepare is None else prepare(samples, rate, record.emotion, target)
        start_mel = mel if start is samples else mel_spectrogram(start, pipe.mel_config)  # moved: analysed anew
        out = pipe.enhance(start_mel, target, strength=strength, steps=steps,
                           guidance=guidance, generator=mel_seed(seed + i), **options)
        outputs[target] = out.wave.numpy()
    for name, wave in outputs.items():
        wave = set_loudness(wave, rate, level)[0]  # as the app returns it
        row[name] = {"judges": {k: v.tolist() for k, v in judges(wave, rate).items()},
                     "voice": float(source_voice @ voice(wave, rate)),
                     "words": content_distance(source_words, words(wave, rate)),
                     "loudness_change": loudness(wave, rate) - level}
    return row


def _interval(values, speakers) -> list[float]:
    values = np.asarray(values, float)
    draws = [values[idx].mean() for idx in resamples(len(values), speakers, 2000, 0)]
    return [float(values.mean()), *percentile_interval(draws)]


def summarise(rows: list[dict], judge: str) -> dict:
    """Per corpus (and both): clarity — top-1 on the clip's own emotion before, vocoded and
    after, and the change, with 95 % intervals resampling speakers; conversion — top-1 on the
    target per target emotion and overall, P(target) before and after; voice, words and level
    beside their baselines."""
    out = {}
    for corpus in ("emodb", "ravdess", "both"):
        rs = [r for r in rows if corpus in ("both", r["corpus"])]
        if not rs:
            continue
        speakers = [r["speaker"] for r in rs]
        hit = lambda probs, e: float(np.argmax(probs) == EMOTIONS.index(e))  # noqa: E731
        before = [hit(r["before"][judge], r["emotion"]) for r in rs]
        vocoded = [hit(r["vocoded"]["judges"][judge], r["emotion"]) for r in rs]
        after = [hit(r[r["emotion"]]["judges"][judge], r["emotion"]) for r in rs]
        clarity = {"n": len(rs), "speakers": len(set(speakers)), "top1_before": _interval(before, speakers),
                   "top1_vocoded": _interval(vocoded, speakers), "top1_after": _interval(after, speakers),
                   "change": _interval(np.subtract(after, before), speakers)}
        per_target, conv, p_before, p_after, cells = defaultdict(list), [], [], [], []
        for r in rs:
            for target in EMOTIONS:
                if target == r["emotion"]:
                    continue
                h = hit(r[target]["judges"][judge], target)
                per_target[target].append(h)
                conv.append(h)
                cells.append(r["speaker"])
                p_before.append(r["before"][judge][EMOTIONS.index(target)])
                p_after.append(r[target]["judges"][judge][EMOTIONS.index(target)])
        conversion = {"n": len(conv), "top1": _interval(conv, cells),
                      "per_target": {t: float(np.mean(v)) for t, v in per_target.items()},
                      "p_target_before": float(np.mean(p_before)), "p_target_after": float(np.mean(p_after))}
        out[corpus] = {"clarity": clarity, "conversion": conversion, **_costs(rs, speakers)}
    return out


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
    for key in ("voice_same_speaker", "words_other_sentence"):
        have = [(r[key], r["speaker"]) for r in rows if key in r]
        if have:
            costs[key] = _interval(*zip(*have))
    return costs


def evaluate(records, test, pipe, judges: Judges, per_cell: int, strength: float, steps: int, guidance: float,
             seed: int = 0, prepare=None, **options) -> list[dict]:
    """`per_cell` clips of each corpus and emotion from `test` (held-out speakers), speakers
    taken in turn; `records` (the same speakers' other clips) supply the baselines."""
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
    return [measure_clip(r, records, pipe, judges, strength, steps, guidance, seed, prepare, **options)
            for r in tqdm(chosen, desc="clips", unit="clip")]
