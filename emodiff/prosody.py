"""A prosody step before the diffusion, for changing a clip's emotion: partial noising at a fixed
length keeps the source's pitch level and speaking rate, and those carry much of an emotion.
So the clip is first moved toward the target emotion's pitch level, pitch range and rate, as the
generator's training speakers show them (Praat's PSOLA via parselmouth, which keeps the formants,
so the voice stays the speaker's), and the diffusion then redraws the voice quality.

The statistics compare each speaker with their own neutral takes of the same sentences (both
corpora have every sentence in every emotion): an emotion's pitch offset in semitones and its
duration ratio and pitch-range ratio, averaged over speakers, so no speaker's own voice enters them.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .audio import load_audio
from .data import EMOTIONS

PROSODY_FILE = "prosody.json"  # beside the diffusion pipeline whose training speakers it describes
FMIN, FMAX = 65.0, 500.0  # Hz: the pitch range searched, low male to high female speech
TOP_DB = 30  # silence trimmed off both ends before timing a clip


def prosody_of(samples: np.ndarray, rate: int) -> tuple[float, float, float]:
    """(median F0 in Hz over voiced frames, its spread in semitones (standard deviation), seconds
    of speech between the trimmed silences)."""
    import librosa

    speech, _ = librosa.effects.trim(samples, top_db=TOP_DB)
    f0 = librosa.yin(speech, fmin=FMIN, fmax=FMAX, sr=rate, frame_length=2048)
    energy = librosa.feature.rms(y=speech, frame_length=2048, hop_length=512)[0][: len(f0)]
    voiced = f0[(energy > 0.1 * energy.max()) & (f0 > FMIN * 1.05) & (f0 < FMAX * 0.95)]
    if len(voiced) < 3:
        return float("nan"), float("nan"), len(speech) / rate
    return float(np.median(voiced)), float(np.std(12 * np.log2(voiced))), len(speech) / rate


@dataclass
class ProsodyStats:
    """Per emotion, relative to neutral: pitch offset (semitones), pitch-range and duration ratios."""

    semitones: dict
    range: dict
    duration: dict
    speakers: list

    @classmethod
    def measure(cls, records, rate: int = 22050) -> "ProsodyStats":
        per_speaker = defaultdict(lambda: defaultdict(list))
        for r in tqdm(records, desc="prosody", unit="clip"):
            f0, spread, seconds = prosody_of(load_audio(r.path, sample_rate=rate).samples, rate)
            if np.isfinite(f0):
                per_speaker[r.speaker][r.emotion].append((f0, spread, seconds))
        stats = {key: defaultdict(list) for key in ("semitones", "range", "duration")}
        for emotions in per_speaker.values():
            if "neutral" not in emotions:
                continue
            f0_n, spread_n, dur_n = np.median(emotions["neutral"], axis=0)
            for e, takes in emotions.items():
                f0, spread, seconds = np.median(takes, axis=0)
                stats["semitones"][e].append(12 * np.log2(f0 / f0_n))
                stats["range"][e].append(spread / spread_n)
                stats["duration"][e].append(seconds / dur_n)
        mean = {k: {e: float(np.mean(v[e])) for e in EMOTIONS if v[e]} for k, v in stats.items()}
        return cls(**mean, speakers=sorted(per_speaker))

    def save(self, path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path) -> "ProsodyStats":
        return cls(**json.loads(Path(path).read_text()))

    def move(self, samples: np.ndarray, rate: int, source: str, target: str, amount: float = 1.0) -> np.ndarray:
        """`samples` (spoken in `source`) with the pitch level, pitch range and rate of `target`:
        each changed by the ratio of the two emotions' statistics, `amount` of the way (1: all)."""
        import parselmouth
        from parselmouth.praat import call

        if source == target:
            return samples
        sound = parselmouth.Sound(samples.astype(np.float64), sampling_frequency=rate)
        median = call(sound.to_pitch(pitch_floor=FMIN, pitch_ceiling=FMAX), "Get quantile", 0, 0, 0.5, "Hertz")
        if not np.isfinite(median):  # no voiced speech: nothing to move
            return samples
        shift = amount * (self.semitones[target] - self.semitones[source])
        spread = (self.range[target] / self.range[source]) ** amount
        stretch = (self.duration[target] / self.duration[source]) ** amount
        moved = call(sound, "Change gender", FMIN, FMAX, 1.0, median * 2 ** (shift / 12), spread, stretch)
        return moved.values[0].astype(np.float32)
