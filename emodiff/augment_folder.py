"""Augmenting a dataset of one's own: a folder of labelled clips in, a training set out.

    augment_folder("my_clips", "augmented", per_clip=2, mode="both")   # or: emodiff augment ...

Each input clip gets new clips of its own emotion: *generated* (sampled from noise, styled on
a clip of the same speaker, as long as the source's speech) and/or *enhanced* (the clip itself
partly noised and denoised toward its own emotion, the paper's way). Nothing crosses speakers:
a clip's style reference is always its own speaker's. Every output is a WAV at the pipeline's
rate, loudness-matched to its source, with a row in `manifest.csv`. Each output clip has its
own seed, so the result is the same with any number of workers and after any interruption:
re-running skips the clips the manifest already holds, and a killed run loses at most the
clips in flight.
"""
from __future__ import annotations

import csv
import json
import os
import random
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .audio import AudioError, load_audio, save_audio
from .augment_sets import fingerprint, render
from .checkpoint import model_folder, replace_atomically
from .data import ALL_EMOTIONS, EMOTIONS, parse_emodb, parse_ravdess, trim_silence
from .loudness import loudness, set_loudness
from .mel import mel_spectrogram
from .sampling import DEFAULT_GUIDANCE

AUDIO = (".wav", ".flac", ".ogg", ".mp3")
MODES = ("generate", "enhance")
RECENT = 64  # decoded input clips a worker keeps: memory stays bounded whatever the folder's size
MANIFEST = ("path", "emotion", "source", "speaker", "mode", "strength", "steps", "guidance", "seed",
            "judge_confidence", "kept", "model")


@dataclass(frozen=True)
class Clip:
    """A labelled input clip: `name` is its path relative to the input folder."""

    name: str
    emotion: str
    speaker: str


@dataclass(frozen=True)
class Job:
    """One output clip: `source` augmented by `mode`, styled on `reference` (same speaker)."""

    index: int
    source: Clip
    reference: Clip
    mode: str
    variant: int

    @property
    def out_name(self) -> str:
        stem = Path(self.source.name).with_suffix("").as_posix().replace("/", "__")
        return f"{self.source.emotion}/{stem}_{self.mode}{self.variant}.wav"


def labelled_clips(in_dir, labels=None, emotions=EMOTIONS) -> tuple[list[Clip], dict[str, str]]:
    """The clips of `in_dir` with their labels: from `labels` (a CSV with columns path, emotion
    and optionally speaker; paths relative to `in_dir`) or from EmoDB / RAVDESS file names.
    Returns (clips, {file: why it was skipped}). Emotions outside `emotions` are refused with
    their names; an empty result is refused too."""
    root = Path(in_dir)
    if not root.is_dir():
        raise ValueError(f"No folder at {root}.")
    skipped, clips = {}, []
    if labels:
        with open(labels, newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows or not {"path", "emotion"} <= set(rows[0]):
            raise ValueError(f"{labels} needs a header with the columns path,emotion[,speaker].")
        for row in rows:
            if not (root / row["path"]).is_file():
                skipped[row["path"]] = "no such file"
                continue
            clips.append(Clip(row["path"], row["emotion"].strip().lower(), (row.get("speaker") or "").strip()
                              or f"clip:{row['path']}"))
    else:
        for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO):
            record = parse_emodb(path) or parse_ravdess(path)
            name = path.relative_to(root).as_posix()
            if record is None:
                skipped[name] = "no label: not an EmoDB or RAVDESS file name, and no --labels CSV"
            else:
                clips.append(Clip(name, record.emotion, record.speaker))
    unknown = sorted({c.emotion for c in clips} - set(ALL_EMOTIONS))
    if unknown:
        raise ValueError(f"Unknown emotions {unknown}; the model knows {', '.join(EMOTIONS)}.")
    for c in clips:
        if c.emotion not in EMOTIONS:  # a corpus's own class (EmoDB's boredom, RAVDESS's calm)
            skipped[c.name] = f"{c.emotion}: not one of the model's emotions"
    clips = [c for c in clips if c.emotion in emotions]
    if not clips:
        why = f" ({len(skipped)} files skipped, e.g. {next(iter(skipped))}: {next(iter(skipped.values()))})" \
            if skipped else ""
        raise ValueError(f"No labelled clips of the emotions {', '.join(emotions)} in {root}{why}.")
    return clips, skipped


def plan(clips: list[Clip], mode: str = "generate", per_clip: int = 1, per_emotion: int | None = None,
         seed: int = 0) -> list[Job]:
    """The output clips to make: `per_clip` of each mode for every clip, or `per_emotion` in all
    for each emotion (its clips in turn, the modes alternating). A generated clip's style
    reference is another clip of its speaker (in a seeded order), or itself when it is alone."""
    modes = MODES if mode == "both" else (mode,)
    if mode not in (*MODES, "both"):
        raise ValueError(f"Unknown mode {mode!r}; choose generate, enhance or both.")
    rng = random.Random(seed)
    by_speaker: dict[str, list[Clip]] = {}
    for c in clips:
        by_speaker.setdefault(c.speaker, []).append(c)
    for same in by_speaker.values():
        rng.shuffle(same)
    turn: dict[Clip, int] = {}

    def job(clip: Clip, m: str) -> Job:
        k = turn[clip, m] = turn.get((clip, m), -1) + 1
        same = by_speaker[clip.speaker]
        others = [c for c in same if c != clip] or [clip]
        reference = clip if m == "enhance" else others[k % len(others)]
        return Job(0, clip, reference, m, k)

    if per_emotion is None:
        jobs = [job(c, m) for c in clips for m in modes for _ in range(per_clip)]
    else:
        jobs = []
        for emotion in dict.fromkeys(c.emotion for c in clips):
            mine = [c for c in clips if c.emotion == emotion]
            jobs += [job(mine[i % len(mine)], modes[i % len(modes)]) for i in range(per_emotion)]
    return [Job(i, j.source, j.reference, j.mode, j.variant) for i, j in enumerate(jobs)]


@dataclass
class Settings:
    """How every clip of a run is made (saved in the output's README and each manifest row)."""

    in_dir: str
    out_dir: str
    pipeline: str
    judge: list | None = None
    steps: int = 25
    guidance: float = DEFAULT_GUIDANCE
    strength: float = 0.5
    sampler: str = "dpm"
    seed: int = 0
    max_seconds: float = 6.0
    save_mels: bool = False
    filter_confidence: float | None = None


class Renderer:
    """The models one process needs: the pipeline, and the judge that scores what it makes."""

    def __init__(self, settings: Settings):
        from .diffusion import load_pipeline
        from .evaluation import Ensemble

        self.s = settings
        self.pipe = load_pipeline(settings.pipeline)
        self.judge = Ensemble.from_pretrained(settings.judge)
        if self.judge.mel_config != self.pipe.mel_config:
            raise ValueError("The judge reads another mel than the pipeline makes.")
        self.model = fingerprint(Path(settings.pipeline))
        self._audio: OrderedDict[str, tuple] = OrderedDict()

    def source(self, clip: Clip):
        """(samples, raw log-mel of the speech, capped at max_seconds) of an input clip; the last
        RECENT clips are kept decoded (a clip's jobs and its speaker's references come together)."""
        if clip.name not in self._audio:
            cfg = self.pipe.mel_config
            audio = load_audio(Path(self.s.in_dir) / clip.name, sample_rate=cfg.sample_rate, crop=True)
            mel = trim_silence(mel_spectrogram(audio.samples, cfg).numpy())
            self._audio[clip.name] = audio.samples, mel[:, :int(self.s.max_seconds * cfg.frames_per_second)]
            if len(self._audio) > RECENT:
                self._audio.popitem(last=False)
        self._audio.move_to_end(clip.name)
        return self._audio[clip.name]

    def __call__(self, job: Job) -> dict:
        """Make one output clip, write it (atomically), and return its manifest row."""
        s, cfg = self.s, self.pipe.mel_config
        samples, mel = self.source(job.source)
        gen = torch.Generator().manual_seed(s.seed * 1_000_003 + job.index)
        frames = mel.shape[1]
        out = render(self.pipe, [job.source.emotion], frames, s.steps, s.guidance, gen, s.sampler,
                     inputs=torch.from_numpy(mel)[None] if job.mode == "enhance" else None,
                     strength=s.strength if job.mode == "enhance" else 0.0,
                     references=[torch.from_numpy(self.source(job.reference)[1])] if job.mode == "generate" else None
                     )[0, :, :frames]
        confidence = self.judge.confidences(out)[job.source.emotion]
        kept = s.filter_confidence is None or confidence >= s.filter_confidence
        if kept:
            wave, *_ = set_loudness(self.pipe.vocoder(out).numpy(), cfg.sample_rate, loudness(samples, cfg.sample_rate))
            target = Path(s.out_dir) / "wav" / job.out_name
            replace_atomically(target, lambda tmp: save_audio(tmp, wave, cfg.sample_rate))
            if s.save_mels:
                mel_path = (Path(s.out_dir) / "mels" / job.out_name).with_suffix(".npy")
                replace_atomically(mel_path, lambda tmp: np.save(tmp, out.numpy().astype(np.float16)))
        return {"path": f"wav/{job.out_name}", "emotion": job.source.emotion, "source": job.source.name,
                "speaker": job.reference.speaker, "mode": job.mode,
                "strength": s.strength if job.mode == "enhance" else "", "steps": s.steps, "guidance": s.guidance,
                "seed": s.seed * 1_000_003 + job.index, "judge_confidence": round(float(confidence), 4),
                "kept": int(kept), "model": self.model}


_worker: Renderer | None = None


def _start_worker(settings: Settings) -> None:
    global _worker
    torch.set_num_threads(1)  # the workers share the cores
    _worker = Renderer(settings)


def _run(job: Job) -> tuple[dict | None, str | None]:
    try:
        return _worker(job), None
    except AudioError as e:
        return None, f"{job.source.name}: {e}"


def done_rows(out_dir) -> list[dict]:
    """The manifest rows already written (a previous, maybe interrupted, run)."""
    path = Path(out_dir) / "manifest.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class Manifest:
    """manifest.csv, one row appended (and flushed to disk) per finished clip."""

    def __init__(self, out_dir):
        self.path = Path(out_dir) / "manifest.csv"
        new = not self.path.is_file()
        self.file = open(self.path, "a", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=MANIFEST)
        if new:
            self.writer.writeheader()

    def add(self, row: dict) -> None:
        self.writer.writerow(row)
        self.file.flush()
        os.fsync(self.file.fileno())

    def close(self) -> None:
        self.file.close()


def write_card(settings: Settings, summary: dict) -> None:
    """README.md of the output folder: what was run, on what, and what came of it."""
    lines = ["# Augmented clips (EmoDiff)", "",
             "Made by `emodiff augment` (`emodiff.augment_folder`). Each row of `manifest.csv` is one clip: "
             "its file, emotion, source clip, the speaker whose clip styled it, mode, sampling settings, "
             "seed, the judge's confidence in its emotion, whether it was kept, and the pipeline's "
             "fingerprint.", "", "```json", json.dumps({"settings": asdict(settings), "summary": summary}, indent=1),
             "```", ""]
    (Path(settings.out_dir) / "README.md").write_text("\n".join(lines))


def _results(settings: Settings, jobs: list[Job], workers: int, progress: bool):
    """(manifest row or None, error or None) per job, as they finish, over `workers` processes."""
    from tqdm import tqdm

    bar = dict(total=len(jobs), disable=not progress, desc="augmenting", unit="clip")
    if workers <= 1:
        global _worker
        _worker = Renderer(settings)
        yield from (_run(job) for job in tqdm(jobs, **bar))
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn, not fork: a forked child inherits torch's thread pool in a broken state.
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_start_worker,
                             initargs=(settings,)) as pool:
        futures = [pool.submit(_run, job) for job in jobs]
        yield from (f.result() for f in tqdm(as_completed(futures), **bar))


def augment_folder(in_dir, out_dir, pipeline=None, mode: str = "generate", per_clip: int = 1,
                   per_emotion: int | None = None, emotions=EMOTIONS, labels=None, judge=None,
                   filter_confidence: float | None = None, seed: int = 0, workers: int = 1, steps: int = 25,
                   guidance: float = DEFAULT_GUIDANCE, strength: float = 0.5, sampler: str = "dpm",
                   max_seconds: float = 6.0, save_mels: bool = False, max_clips: int = 0,
                   progress: bool = True) -> dict:
    """Augment the labelled clips of `in_dir` into `out_dir` (see the module's docstring and
    `labelled_clips`, `plan`). `pipeline`: a diffusion pipeline folder or Hub repo id (default:
    the release's); `judge`: classifier folders whose confidence in each clip's emotion goes in
    the manifest (default: the release's one-clip classifiers), and with `filter_confidence`
    decides which clips are kept. `max_clips` stops after that many new clips, as if killed
    (tests). Returns a summary, also written to OUT/README.md."""
    from .service import CHECKPOINTS, ONE_CLIP, EmoDiff

    pipeline = model_folder(pipeline or CHECKPOINTS / "diffusion")
    release = pipeline.parent if (pipeline.parent / "classifier").is_dir() else CHECKPOINTS
    settings = Settings(str(in_dir), str(out_dir), str(pipeline),
                        [str(p) for p in (judge or EmoDiff(release).present(ONE_CLIP))], steps, guidance, strength,
                        sampler, seed, max_seconds, save_mels, filter_confidence)
    clips, skipped = labelled_clips(in_dir, labels, emotions)
    jobs = plan(clips, mode, per_clip, per_emotion, seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    check_settings(out, settings, mode, per_clip, per_emotion)
    done = {r["path"] for r in done_rows(out)}
    todo = [j for j in jobs if f"wav/{j.out_name}" not in done]
    todo = todo[:max_clips] if max_clips else todo
    manifest, unreadable = Manifest(out), {}
    try:
        for row, error in _results(settings, todo, workers, progress):
            if row is None:
                unreadable[error.split(": ", 1)[0]] = error.split(": ", 1)[1]
            else:
                manifest.add(row)
    finally:
        manifest.close()
    rows = done_rows(out)
    summary = {"input_clips": len(clips), "skipped_inputs": skipped, "unreadable_inputs": unreadable,
               "planned": len(jobs), "in_manifest": len(rows), "kept": sum(r["kept"] == "1" for r in rows),
               "complete": len(rows) >= len(jobs)}
    if summary["complete"] and summary["kept"]:
        summary["training_set"] = str(write_training_set(out))
    write_card(settings, summary)
    return summary


def check_settings(out: Path, settings: Settings, mode: str, per_clip: int, per_emotion) -> None:
    """The first run in `out` writes its settings; a later one (a resume) must use the same,
    or the folder would mix clips made two ways."""
    wanted = {**asdict(settings), "mode": mode, "per_clip": per_clip, "per_emotion": per_emotion}
    path = out / "settings.json"
    if path.is_file():
        kept = json.loads(path.read_text())
        if kept != wanted:
            changed = sorted(k for k in wanted if kept.get(k) != wanted[k])
            raise ValueError(f"{out} holds clips made with other settings ({', '.join(changed)}); "
                             "use another output folder, or the same options to resume.")
    else:
        replace_atomically(path, lambda tmp: tmp.write_text(json.dumps(wanted, indent=1)))


def write_training_set(out_dir, frames: int = 160) -> Path:
    """OUT/training_set.npz: every kept clip of the manifest, analysed again from its WAV (what a
    listener gets) and centre-cropped to `frames`, in the augmentation sets' format, so that
    `train/train_classifier.py --generated OUT/training_set.npz` trains on it. A clip's corpus
    is its speaker's (`emodb_03` -> emodb), else "user"."""
    from .augment_sets import save_set
    from .data import center_crop
    from .mel import MelNormalizer, mel_of

    out = Path(out_dir)
    pipeline = Path(json.loads((out / "settings.json").read_text())["pipeline"])
    cfg = MelNormalizer.load(pipeline / "normalizer.json").mel_config
    kept = [r for r in done_rows(out) if r["kept"] == "1"]
    if not kept:
        raise ValueError(f"{out} holds no kept clips.")
    by_emotion: dict[str, list] = {}
    for r in kept:
        by_emotion.setdefault(r["emotion"], []).append(r)
    # emotions in turn, so that any prefix of the set (a smaller --generated-ratio) stays balanced
    rows = [r for group in zip(*(_padded(g, max(map(len, by_emotion.values()))) for g in by_emotion.values()))
            for r in group if r is not None]
    mels = [center_crop(mel_of(out / r["path"], cfg).numpy(), frames, cfg.silence)[0] for r in rows]
    corpus = {"emodb": "emodb", "ravdess": "ravdess"}
    origins = [_Source(r["emotion"], corpus.get(r["speaker"].split("_")[0], "user")) for r in rows]
    path = out / "training_set.npz"
    save_set(path, [np.stack(mels).astype(np.float16)], origins, cfg, source=f"emodiff augment {out.name}")
    return path


def _padded(items: list, n: int) -> list:
    return items + [None] * (n - len(items))


@dataclass(frozen=True)
class _Source:
    """What `save_set` reads of each clip's origin."""

    emotion: str
    corpus: str
