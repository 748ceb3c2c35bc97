"""Preparing a blind listening test: real clips of unseen speakers, others enhanced toward
another emotion, and generated ones, under opaque names in a `Study` folder."""
from __future__ import annotations

import hashlib
import random

from .audio import load_audio, save_audio
from .data import EMOTIONS
from .diffusion import mel_seed
from .sampling import DEFAULT_GUIDANCE
from .study import Study


def make_study(folder, records, pipe, n_per_source: int = 12, strength: float = 0.5, steps: int = 25,
               guidance: float = DEFAULT_GUIDANCE, seed: int = 0) -> Study:
    """Prepare a listening test: `n_per_source` real clips from `records` (use unseen speakers),
    as many of them enhanced toward another emotion, and as many generated, emotions balanced.
    Files get opaque names so nothing in a URL or file name tells the source."""
    rate = pipe.mel_config.sample_rate
    study = Study(folder)
    rng = random.Random(seed)
    chosen = rng.sample(list(records), min(2 * n_per_source, len(records)))
    real, to_enhance = chosen[:n_per_source], chosen[n_per_source:]

    def add(source, emotion, samples, meta):
        clip_id = hashlib.sha256(f"{seed}/{source}/{meta}".encode()).hexdigest()[:12]
        save_audio(study.folder / f"{clip_id}.wav", samples, rate)
        study.add_clip(clip_id, f"{clip_id}.wav", source, emotion, meta)

    for r in real:
        add("real", r.emotion, load_audio(r.path, sample_rate=rate).samples, {"file": r.path.name})
    for i, r in enumerate(to_enhance):
        target = EMOTIONS[(EMOTIONS.index(r.emotion) + 1 + i % 5) % 6]
        out = pipe.enhance(load_audio(r.path, sample_rate=rate), target, strength=strength, steps=steps,
                           guidance=guidance, generator=mel_seed(seed + i))
        add("enhanced", target, out.wave.numpy(), {"file": r.path.name, "from": r.emotion, "strength": strength})
    for i in range(n_per_source):
        emotion = EMOTIONS[i % 6]
        out = pipe.generate(emotion, seconds=3.0, steps=steps, guidance=guidance,
                            generator=mel_seed(seed + 1000 + i))
        add("generated", emotion, out.wave.numpy(), {"index": i})
    return study
