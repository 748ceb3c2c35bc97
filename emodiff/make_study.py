"""Preparing a blind listening test in a `Study` folder, in one of three designs (`study.DESIGNS`):

- *label*: real clips of unseen speakers, others enhanced toward another emotion, and generated
  ones; each annotator names the emotion and rates naturalness. Catch trials: anchors (real
  clips of the emotions listeners name most reliably) and repeats (a clip heard twice).
- *ab*: pairs: a real clip and its enhancement toward another emotion ("which sounds more
  <target>?"), a real clip and a generated one of its emotion ("which sounds more natural?").
  Catch trials: a real clip of a clear emotion against a neutral one of the same speaker.
- *mushra*: per page a real clip as the reference and, blind, its hidden copy, a 3.5 kHz
  low-pass anchor (ITU-R BS.1534-3), the vocoder alone on its mel, and the diffusion's clearer
  and converted versions of it, each rated 0-100 against the reference.

Nothing but the content may tell a clip's source: every clip is set to one loudness (ITU-R
BS.1770, `loudness.TARGET_LUFS`; loud reads as angry, and a near-silent clip gives itself away),
generated clips are as long as real ones, files and IDs are opaque hashes.
"""
from __future__ import annotations

import hashlib
import random

import numpy as np
from tqdm.auto import tqdm

from .audio import load_audio, save_audio
from .data import EMOTIONS
from .diffusion import mel_seed
from .loudness import TARGET_LUFS, set_loudness
from .mel import mel_spectrogram
from .sampling import DEFAULT_GUIDANCE
from .study import Study

ANCHOR_EMOTIONS = ("angry", "sad", "neutral")  # the emotions EmoDB's listeners named most reliably
ANCHOR_CUTOFF = 3500  # Hz: BS.1534-3's low-quality anchor


def low_pass(samples: np.ndarray, rate: int, cutoff: float = ANCHOR_CUTOFF) -> np.ndarray:
    from scipy.signal import butter, sosfiltfilt

    return sosfiltfilt(butter(8, cutoff, fs=rate, output="sos"), samples).astype(np.float32)


class _Maker:
    """Adds clips to `study`, each set to one loudness under an opaque name; counts progress."""

    def __init__(self, study: Study, pipe, seed: int, target_lufs: float, total: int, sampling: dict):
        self.study, self.pipe, self.seed, self.target_lufs = study, pipe, seed, target_lufs
        self.rate, self.sampling = pipe.mel_config.sample_rate, sampling
        self.progress = tqdm(total=total, desc=f"{study.design} study clips", unit="clip")

    def add(self, source: str, emotion: str, samples, meta: dict) -> str:
        clip_id = hashlib.sha256(f"{self.seed}/{source}/{sorted(meta.items())}".encode()).hexdigest()[:12]
        samples, before, after = set_loudness(samples, self.rate, self.target_lufs)
        save_audio(self.study.folder / f"{clip_id}.wav", samples, self.rate)
        self.study.add_clip(clip_id, f"{clip_id}.wav", source, emotion,
                            {**meta, "lufs_before": round(before, 2), "lufs": round(after, 2)})
        self.progress.update()
        return clip_id

    def real(self, record, **meta) -> tuple[str, np.ndarray]:
        samples = load_audio(record.path, sample_rate=self.rate).samples
        return self.add("real", record.emotion, samples, {"file": record.path.name, **meta}), samples

    def enhanced(self, record, samples, target: str, strength: float, i: int) -> str:
        source = "clearer" if target == record.emotion else "enhanced"
        out = self.pipe.enhance(mel_spectrogram(samples, self.pipe.mel_config), target, strength=strength,
                                generator=mel_seed(self.seed + i), **self.sampling)
        return self.add(source, target, out.wave.numpy(), {"file": record.path.name, "from": record.emotion,
                                                           "strength": strength})

    def generated(self, emotion: str, seconds: float, i: int) -> str:
        out = self.pipe.generate(emotion, seconds=seconds, generator=mel_seed(self.seed + 1000 + i), **self.sampling)
        return self.add("generated", emotion, out.wave.numpy(), {"index": i, "seconds": round(seconds, 2)})


def _other(emotion: str, i: int) -> str:
    """Another emotion, cycling through all five others."""
    return EMOTIONS[(EMOTIONS.index(emotion) + 1 + i % 5) % 6]


def _label(make: _Maker, chosen, spare, n: int, strength: float, anchors: int, repeats: int, rng) -> None:
    real = [make.real(r) for r in chosen[:n]]
    for i, r in enumerate(chosen[n:2 * n]):
        samples = load_audio(r.path, sample_rate=make.rate).samples
        make.enhanced(r, samples, _other(r.emotion, i), strength, i)
    for i in range(n):
        make.generated(EMOTIONS[i % 6], len(real[i % len(real)][1]) / make.rate, i)
    for r in _anchor_clips(spare, anchors):
        make.real(r, catch="anchor")
    clips = {k: c for k, c in make.study.clips().items() if "catch" not in c["meta"]}
    for clip in rng.sample(sorted(clips), min(repeats, len(clips))):
        c = clips[clip]
        make.add(c["source"], c["emotion"], load_audio(make.study.folder / c["file"], sample_rate=make.rate).samples,
                 {**c["meta"], "catch": "repeat", "of": clip})


def _clearest_first(record) -> int:
    """EmoDB kept only takes that 80 % of its listeners recognised; RAVDESS's strong takes
    (intensity 02, the file name's fourth field) are clearer than its normal ones."""
    if record.corpus == "emodb":
        return 0
    return 1 if record.path.name.split("-")[3:4] == ["02"] else 2


def _anchor_clips(records, n: int) -> list:
    """`n` clips of the emotions listeners name most reliably, in turn, clearest takes first."""
    records = sorted(records, key=_clearest_first)  # stable: the shuffled order within a rank stays
    by_emotion = {e: [r for r in records if r.emotion == e] for e in ANCHOR_EMOTIONS}
    return [by_emotion[e].pop(0) for i in range(n) if by_emotion[e := ANCHOR_EMOTIONS[i % 3]]]


def _ab(make: _Maker, chosen, spare, n: int, strength: float, anchors: int) -> None:
    for i, r in enumerate(chosen[:n]):
        target = _other(r.emotion, i)
        real, samples = make.real(r)
        converted = make.enhanced(r, samples, target, strength, i)
        make.study.add_trial(f"t{real}", [converted, real], f"Which clip sounds more {target}?",
                             meta={"comparison": "enhanced vs real (more of the target emotion)", "target": target})
    for i, r in enumerate(chosen[n:2 * n]):
        real, samples = make.real(r)
        generated = make.generated(r.emotion, len(samples) / make.rate, i)
        make.study.add_trial(f"t{generated}", [generated, real], "Which clip sounds more natural?",
                             meta={"comparison": "generated vs real (more natural)"})
    for i, r in enumerate(_anchor_clips([r for r in spare if r.emotion != "neutral"], anchors)):
        neutral = next((s for s in spare if s.speaker == r.speaker and s.emotion == "neutral"), None)
        if neutral is None:
            continue
        clear, other = make.real(r, catch="anchor")[0], make.real(neutral, catch="anchor")[0]
        make.study.add_trial(f"t{clear}", [clear, other], f"Which clip sounds more {r.emotion}?",
                             meta={"comparison": "anchor", "catch": "anchor", "expect": clear})


def _mushra(make: _Maker, chosen, n: int, strength: float) -> None:
    for i, r in enumerate(chosen[:n]):
        reference, samples = make.real(r)
        mel = mel_spectrogram(samples, make.pipe.mel_config)
        stimuli = [make.add("reference", r.emotion, samples, {"file": r.path.name}),
                   make.add("anchor", r.emotion, low_pass(samples, make.rate), {"file": r.path.name}),
                   make.add("vocoded", r.emotion, make.pipe.vocoder(mel).numpy(), {"file": r.path.name}),
                   make.enhanced(r, samples, r.emotion, strength, i),
                   make.enhanced(r, samples, _other(r.emotion, i), strength, i)]
        make.study.add_trial(f"t{reference}", stimuli, "How close to the reference does each clip sound? "
                             "100: you cannot tell it from the reference.", reference=reference)


def make_study(folder, records, pipe, design: str = "label", n_per_source: int = 12, strength: float = 0.5,
               steps: int = 25, guidance: float = DEFAULT_GUIDANCE, seed: int = 0, target_lufs: float = TARGET_LUFS,
               anchors: int = 2, repeats: int = 2, min_catch_pass: float | None = None) -> Study:
    """Prepare a listening test of `design` from `records` (use speakers the models never
    heard): `n_per_source` clips or trials of each kind (see the module's docstring), plus
    `anchors` and `repeats` catch trials where the design has them, all at `target_lufs`.
    `min_catch_pass` states the exclusion rule (default `study.MIN_CATCH_PASS`)."""
    study = Study(folder, design)
    if min_catch_pass is not None:
        study.min_catch_pass = min_catch_pass
    rng = random.Random(seed)
    records = list(records)
    chosen = rng.sample(records, min(2 * n_per_source, len(records)))
    taken = {r.path for r in chosen}
    spare = sorted((r for r in records if r.path not in taken), key=lambda r: str(r.path))
    rng.shuffle(spare)
    total = {"label": 3 * n_per_source + anchors + repeats, "ab": 4 * n_per_source + 2 * anchors,
             "mushra": 6 * n_per_source}[design]
    make = _Maker(study, pipe, seed, target_lufs, total, {"steps": steps, "guidance": guidance})
    if design == "label":
        _label(make, chosen, spare, n_per_source, strength, anchors, repeats, rng)
    elif design == "ab":
        _ab(make, chosen, spare, n_per_source, strength, anchors)
    else:
        _mushra(make, chosen, n_per_source, strength)
    make.progress.close()
    return study
