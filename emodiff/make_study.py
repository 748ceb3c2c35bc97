"""Preparing a blind listening test: real clips of unseen speakers, others enhanced toward
another emotion, and generated ones, under opaque names in a `Study` folder.

Nothing but the content may tell a clip's source: every clip is set to one loudness (ITU-R
BS.1770, `loudness.TARGET_LUFS`; loud reads as angry, and a near-silent clip gives itself away),
and generated clips are as long as the real ones, not all 3.0 s.
"""
from __future__ import annotations

import hashlib
import random

from tqdm.auto import tqdm

from .audio import load_audio, save_audio
from .data import EMOTIONS
from .diffusion import mel_seed
from .loudness import TARGET_LUFS, loudness, set_loudness
from .sampling import DEFAULT_GUIDANCE
from .study import Study


def make_study(folder, records, pipe, n_per_source: int = 12, strength: float = 0.5, steps: int = 25,
               guidance: float = DEFAULT_GUIDANCE, seed: int = 0, target_lufs: float = TARGET_LUFS) -> Study:
    """Prepare a listening test: `n_per_source` real clips from `records` (use unseen speakers),
    as many of them enhanced toward another emotion, and as many generated (emotions balanced,
    lengths those of the real clips), all at `target_lufs`. Files get opaque names so nothing
    in a URL or file name tells the source; each clip's meta keeps its loudness before and after."""
    rate = pipe.mel_config.sample_rate
    study = Study(folder)
    rng = random.Random(seed)
    chosen = rng.sample(list(records), min(2 * n_per_source, len(records)))
    real, to_enhance = chosen[:n_per_source], chosen[n_per_source:]
    progress = tqdm(total=len(real) + len(to_enhance) + n_per_source, desc="study clips", unit="clip")

    def add(source, emotion, samples, meta):
        clip_id = hashlib.sha256(f"{seed}/{source}/{meta}".encode()).hexdigest()[:12]
        level = loudness(samples, rate)
        samples, reached = set_loudness(samples, rate, target_lufs)
        save_audio(study.folder / f"{clip_id}.wav", samples, rate)
        study.add_clip(clip_id, f"{clip_id}.wav", source, emotion,
                       {**meta, "lufs_before": round(level, 2), "lufs": round(reached, 2)})
        progress.update()

    seconds = []
    for r in real:
        samples = load_audio(r.path, sample_rate=rate).samples
        seconds.append(len(samples) / rate)
        add("real", r.emotion, samples, {"file": r.path.name})
    for i, r in enumerate(to_enhance):
        target = EMOTIONS[(EMOTIONS.index(r.emotion) + 1 + i % 5) % 6]
        out = pipe.enhance(load_audio(r.path, sample_rate=rate), target, strength=strength, steps=steps,
                           guidance=guidance, generator=mel_seed(seed + i))
        add("enhanced", target, out.wave.numpy(), {"file": r.path.name, "from": r.emotion, "strength": strength})
    for i in range(n_per_source):
        emotion, length = EMOTIONS[i % 6], seconds[i % len(seconds)] if seconds else 3.0
        out = pipe.generate(emotion, seconds=length, steps=steps, guidance=guidance,
                            generator=mel_seed(seed + 1000 + i))
        add("generated", emotion, out.wave.numpy(), {"index": i, "seconds": round(length, 2)})
    progress.close()
    return study
