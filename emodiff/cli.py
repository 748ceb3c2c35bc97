"""`emodiff` command line: the library's actions for people and shell scripts."""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from .audio import AudioError
from .checkpoint import CheckpointError
from .loudness import TARGET_LUFS
from .sampling import DEFAULT_GUIDANCE, ENHANCE_STEPS
from .service import CHECKPOINTS, EmoDiff


def _index(args) -> None:
    from .data import ALL_EMOTIONS, EMOTIONS, index_corpora, speakers

    records = index_corpora(args.data_root, ALL_EMOTIONS if args.all_emotions else EMOTIONS)
    counts = Counter((r.corpus, r.emotion) for r in records)
    if args.json:
        print(json.dumps({f"{c}/{e}": n for (c, e), n in sorted(counts.items())}, indent=1))
        return
    emotions = sorted({e for _, e in counts}, key=lambda e: (ALL_EMOTIONS.index(e)))
    print(f"{'corpus':10}{'speakers':>9}" + "".join(f"{e:>10}" for e in emotions) + f"{'total':>8}")
    for corpus in ("emodb", "ravdess"):
        rs = [r for r in records if r.corpus == corpus]
        print(f"{corpus:10}{len(speakers(rs)):>9}" + "".join(f"{counts[corpus, e]:>10}" for e in emotions)
              + f"{len(rs):>8}")
    print(f"{len(records)} clips")


def _cache(args) -> None:
    from .data import ALL_EMOTIONS, FeatureCache, index_corpora

    records = index_corpora(args.data_root, ALL_EMOTIONS)
    cache = FeatureCache(args.cache_dir, EmoDiff(args.checkpoints).mel_config)
    start = time.perf_counter()
    cache.build([r.path for r in records], workers=args.workers, progress=True)
    print(f"{len(records)} mels in {cache.dir} ({time.perf_counter() - start:.1f} s)")


def _mel(args) -> None:
    from .plotting import plot_mel, save_figure

    svc = EmoDiff(args.checkpoints)
    audio = svc.load(args.audio)
    if audio.notice:
        print(audio.notice, file=sys.stderr)
    mel = svc.mel(audio)
    save_figure(plot_mel(mel.numpy(), svc.mel_config, Path(args.audio).name), args.png, dpi=120)
    print(f"{tuple(mel.shape)} mel ({audio.seconds:.2f} s) -> {args.png}")


def _vocode(args) -> None:
    from .audio import save_audio
    from .vocoder import Vocoder

    svc = EmoDiff(args.checkpoints)
    vocoder = Vocoder(svc.mel_config, args.vocoder, precision=args.precision)
    save_audio(args.out, vocoder(svc.mel(args.audio)).numpy(), svc.sample_rate)
    print(f"{args.audio} -> mel -> {vocoder.method} ({vocoder.precision}) -> {args.out}")


def _classify(args) -> None:
    from .audio import load_clips

    svc = EmoDiff(args.checkpoints, classifiers=args.checkpoint)
    # one unreadable clip does not lose the others
    clips, failed = load_clips(args.audio, sample_rate=svc.sample_rate, crop=True)
    if len(args.audio) == 1 and failed:
        raise AudioError(failed[args.audio[0]])
    for path, reason in failed.items():
        print(f"emodiff: {path}: {reason}", file=sys.stderr)
    for path, audio in clips.items():
        if audio.notice:
            print(f"{path}: {audio.notice}", file=sys.stderr)
    if not clips:
        raise AudioError(f"None of the {len(args.audio)} clips could be read.")
    if svc.ensemble_for(len(clips)).speaker_norm:
        print(f"speaker-normalised classifier: the {len(clips)} clip(s) are taken as one speaker"
              + ("; with one clip it is much less accurate (see its model card)" if len(clips) < 2 else ""),
              file=sys.stderr)
    results = dict(zip(clips, svc.recognise_speaker(clips.values())))
    if args.json:
        print(json.dumps(results[args.audio[0]] if len(args.audio) == 1 else results, indent=1))
    elif len(args.audio) == 1:
        for emotion, p in sorted(results[args.audio[0]].items(), key=lambda kv: -kv[1]):
            print(f"{emotion:10} {p:6.1%}  {'#' * round(40 * p)}")
    else:
        for path, probs in results.items():
            top = sorted(probs.items(), key=lambda kv: -kv[1])[:2]
            print(f"{path}  " + "  ".join(f"{e} {p:.1%}" for e, p in top))
    if failed:
        raise AudioError(f"{len(failed)} of {len(args.audio)} clips could not be read: {', '.join(failed)}")


def _write_result(mel, wave, svc: EmoDiff, args, title: str) -> None:
    from .audio import save_audio
    from .plotting import plot_mel, save_figure

    save_audio(args.out, wave.numpy(), svc.sample_rate)
    print(f"{title} -> {args.out} ({len(wave) / svc.sample_rate:.2f} s)")
    if args.mel_png:
        save_figure(plot_mel(mel.numpy(), svc.mel_config, title), args.mel_png, dpi=120)
        print(f"mel -> {args.mel_png}")


def _generate(args) -> None:
    svc = EmoDiff(args.checkpoints, pipeline=args.pipeline)
    reference = svc.load(args.reference) if args.reference else None
    out = svc.generate(args.emotion, reference, args.seconds, args.steps, args.guidance, args.seed, args.sampler)
    _write_result(out.mel, out.wave, svc, args, f"generated {args.emotion}")


def _enhance(args) -> None:
    svc = EmoDiff(args.checkpoints, classifiers=args.checkpoint, pipeline=args.pipeline)
    out = svc.enhance(svc.load(args.audio), args.emotion, args.strength, args.steps, args.guidance, args.seed,
                      args.sampler, args.keep_envelope)
    _write_result(out.mel, out.wave, svc, args,
                  f"{Path(args.audio).name} enhanced toward {out.target}")
    print(out.verdict().replace("**", ""))


def _make_study(args) -> None:
    from .data import EMOTIONS, index_corpora, speaker_fold
    from .make_study import make_study

    _, test = speaker_fold(index_corpora(args.data_root, EMOTIONS), args.fold)
    study = make_study(args.out, test, EmoDiff(args.checkpoints, pipeline=args.pipeline).pipeline, args.design,
                       n_per_source=args.n, strength=args.strength, steps=args.steps, guidance=args.guidance,
                       seed=args.seed or 0, target_lufs=args.lufs, anchors=args.anchors, repeats=args.repeats,
                       min_catch_pass=args.min_catch_pass)
    print(f"{args.design} study in {study.folder}: {len(study.items())} items, {len(study.clip_ids())} clips at "
          f"{args.lufs:g} LUFS; serve it with EMODIFF_STUDY_DIR={study.folder} python app.py")


def _analyse_study(args) -> None:
    from .plotting import plot_study, save_figure
    from .study import MIN_CATCH_PASS, Study
    from .study_analysis import analyse, read_export, summary_markdown

    if args.answers.is_dir():
        study = Study(args.answers)
        rows, design, rule, items = study.rows(), study.design, study.min_catch_pass, len(study.items())
    else:
        rows, items = read_export(args.answers), None
        if not rows:
            raise ValueError(f"{args.answers} holds no answers.")
        design = rows[0]["design"]
        rule = MIN_CATCH_PASS[design]
    summary = analyse(rows, design, rule if args.min_catch_pass is None else args.min_catch_pass, items)
    print(summary_markdown(summary))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=1))
    if args.plot:
        save_figure(plot_study(summary), args.plot)


def _timeline(args) -> None:
    from tqdm import tqdm

    svc = EmoDiff(args.checkpoints, classifiers=args.checkpoint)
    with tqdm(desc="listening for speech", unit="s", bar_format="{desc}: {n:.0f} s read [{elapsed}]",
              disable=args.json or args.csv) as bar:
        result = svc.timeline(args.audio, args.window, args.hop, args.smooth,
                              progress=lambda seconds: bar.update(seconds - bar.n))
    if args.json:
        print(result.to_json())
    elif args.csv:
        print(result.to_csv(), end="")
    else:
        print(f"{'start':>8} {'end':>8}  {'emotion':10} confidence")
        for s in result.segments:
            print(f"{s.start:8.2f} {s.end:8.2f}  {s.emotion:10} {s.confidences[s.emotion]:6.1%}")
        print(f"{len(result.segments)} segments in {result.seconds:.1f} s")


def _augment(args) -> None:
    from .augment_folder import augment_folder

    start = time.perf_counter()
    summary = augment_folder(args.in_dir, args.out, EmoDiff(args.checkpoints, pipeline=args.pipeline).pipeline_folder,
                             args.mode, args.per_clip, args.per_emotion, tuple(args.emotions), args.labels, args.judge,
                             args.filter_confidence, args.seed, args.workers, args.steps, args.guidance,
                             args.strength, args.sampler, args.max_seconds, args.save_mels)
    seconds = time.perf_counter() - start
    for name, reason in {**summary["skipped_inputs"], **summary["unreadable_inputs"]}.items():
        print(f"emodiff: skipped {name}: {reason}", file=sys.stderr)
    print(f"{summary['in_manifest']} of {summary['planned']} clips in {args.out}/manifest.csv "
          f"({summary['kept']} kept; {seconds:.0f} s this run)")
    if not summary["complete"]:
        raise AudioError("Some clips could not be made (see above); the others are written.")


def _deploy_space(args) -> None:
    from .space import deploy_space, space_files

    files = space_files()
    for name, size in files:
        print(f"{size / 1e6:9.2f} MB  {name}")
    print(f"{len(files)} files, {sum(size for _, size in files) / 1e6:.1f} MB")
    if not args.dry_run:
        print(f"-> {deploy_space(args.repo_id, private=args.private)}")


def _sampling_args(p, plot: bool = True, steps: int = 25) -> None:
    p.add_argument("--steps", type=int, default=steps, help="solver steps (default %(default)s)")
    p.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE,
                   help="classifier-free guidance scale (default %(default)s)")
    p.add_argument("--sampler", choices=("dpm", "ddim", "ddpm"), default="dpm")
    p.add_argument("--seed", type=int, default=None if plot else 0)
    p.add_argument("--pipeline", type=Path, help="a diffusion pipeline folder or Hub repo id (default: the release's)")
    if plot:
        p.add_argument("--mel-png", help="also plot the mel to this PNG")


def _data_commands(sub) -> None:
    """Commands on the corpora and on a clip's mel."""
    from .data import DEFAULT_CACHE, DEFAULT_DATA_ROOT

    p = sub.add_parser("index", help="count the clips per corpus and emotion")
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    p.add_argument("--all-emotions", action="store_true", help="include boredom, calm, surprised")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_index)

    p = sub.add_parser("cache", help="compute the log-mel of every clip once (feature cache)")
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(func=_cache)

    p = sub.add_parser("mel", help="plot a clip's log-mel to a PNG")
    p.add_argument("audio")
    p.add_argument("--png", default="mel.png")
    p.set_defaults(func=_mel)

    p = sub.add_parser("vocode", help="audio -> mel -> audio, to hear what the vocoder keeps")
    p.add_argument("audio")
    p.add_argument("--out", default="vocoded.wav")
    p.add_argument("--vocoder", choices=("hifigan", "griffin-lim"), default="hifigan")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="HiFi-GAN convolutions; auto = bf16 where the CPU has it natively")
    p.set_defaults(func=_vocode)


def _model_commands(sub) -> None:
    """What the app does, from the shell: recognise, generate, enhance."""
    from .data import EMOTIONS

    p = sub.add_parser("classify", help="emotion confidences for one clip, or several of one speaker")
    p.add_argument("audio", nargs="+")
    p.add_argument("--checkpoint", type=Path, nargs="+",
                   help="one classifier, or several (an ensemble: probabilities averaged); default: the "
                        "shipped ones as the app uses them")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_classify)

    p = sub.add_parser("generate", help="a new clip for an emotion (diffusion + HiFi-GAN)")
    p.add_argument("--emotion", required=True, choices=EMOTIONS)
    p.add_argument("--reference", help="clip whose voice/style to borrow")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--out", default="generated.wav")
    _sampling_args(p)
    p.set_defaults(func=_generate)

    p = sub.add_parser("enhance", help="push a clip toward an emotion, its words kept")
    p.add_argument("audio")
    p.add_argument("--emotion", choices=EMOTIONS, help="target (default: the predicted emotion, made clearer)")
    p.add_argument("--strength", type=float,
                   help="share of the sampling redrawn, 1 = from noise (default: 1 toward another emotion, "
                        "0.5 to make the clip's own clearer)")
    p.add_argument("--keep-envelope", action=argparse.BooleanOptionalAction, default=None,
                   help="hold the clip's spectral envelope, so its words stay (default: toward another emotion)")
    p.add_argument("--out", default="enhanced.wav")
    p.add_argument("--checkpoint", type=Path, nargs="+",
                   help="classifiers that predict the emotion to make clearer (default: the release's)")
    _sampling_args(p, steps=ENHANCE_STEPS)
    p.set_defaults(func=_enhance)


def _study_commands(sub) -> None:
    """Listening tests: prepare one, analyse its answers."""
    from .data import DEFAULT_DATA_ROOT
    from .study import DESIGNS

    p = sub.add_parser("make-study", help="prepare a blind listening test (label, A/B or MUSHRA)",
                       description="Prepare a blind listening test in OUT from the fold's speakers, every clip at "
                       "one loudness, under opaque names. label: N real, N enhanced toward another emotion, N "
                       "generated clips (lengths those of the real ones), plus catch trials. ab: N pairs real vs "
                       "enhanced ('which sounds more <target>?'), N pairs real vs generated ('which sounds more "
                       "natural?'), plus anchor pairs. mushra: N pages, each a real reference with its hidden copy, "
                       "a 3.5 kHz low-pass anchor, the vocoder alone, and the diffusion's clearer and converted "
                       "versions. Serve it with the app (EMODIFF_STUDY_DIR=OUT).")
    p.add_argument("--design", choices=DESIGNS, default="label", help="the kind of test (default: %(default)s)")
    p.add_argument("--out", type=Path, default=Path("study"), help="the study folder (default: %(default)s)")
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT, help="the corpora (default: %(default)s)")
    p.add_argument("--fold", type=int, default=0,
                   help="speaker fold whose clips are used: the shipped diffusion model never heard fold 0")
    p.add_argument("--n", type=int, default=12, help="clips, pairs or pages of each kind (default: %(default)s)")
    p.add_argument("--strength", type=float, default=0.5,
                   help="how much of each enhanced clip is noised and redrawn, 0-1 (default: %(default)s)")
    p.add_argument("--lufs", type=float, default=TARGET_LUFS,
                   help="the loudness every clip is set to, ITU-R BS.1770 LUFS (default: %(default)s)")
    p.add_argument("--anchors", type=int, default=2,
                   help="catch trials of an unmistakable emotion (label, ab; default: %(default)s)")
    p.add_argument("--repeats", type=int, default=2, help="catch trials: clips heard twice (label; default: "
                   "%(default)s); MUSHRA's catch trial is each page's hidden reference")
    p.add_argument("--min-catch-pass", type=float, help="the exclusion rule: annotators passing a smaller share "
                   "of their catch trials are left out (default: 0.75; MUSHRA 0.85, BS.1534-3)")
    _sampling_args(p, plot=False)
    p.set_defaults(func=_make_study)

    p = sub.add_parser("analyse-study", help="a listening test's statistics, from its folder or an exported CSV",
                       description="Print the summary tables of a study (folder) or of its CSV export: per annotator "
                       "(catch trials passed, agreement, excluded), then per source / comparison / condition "
                       "with 95 %% intervals over annotators, and Krippendorff's alpha.")
    p.add_argument("answers", type=Path, help="a study folder, or the CSV the admin view exports")
    p.add_argument("--out", type=Path, help="also write the summary as JSON")
    p.add_argument("--plot", type=Path, help="also plot the summary to a PNG")
    p.add_argument("--min-catch-pass", type=float, help="apply another exclusion rule than the study's")
    p.set_defaults(func=_analyse_study)


def _timeline_command(sub) -> None:
    p = sub.add_parser("timeline", help="emotion over time in a long recording: speech segments and their emotion")
    p.add_argument("audio", help="an audio file, up to an hour (read a block at a time)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="segments as JSON")
    out.add_argument("--csv", action="store_true", help="segments as CSV: start, end, emotion, each confidence")
    p.add_argument("--window", type=float, default=2.0, help="seconds the classifier hears at a time")
    p.add_argument("--hop", type=float, default=1.0, help="seconds between windows")
    p.add_argument("--smooth", type=int, default=3, help="windows averaged before labelling")
    p.add_argument("--checkpoint", type=Path, nargs="+", help="classifiers (default: the release's one-clip set)")
    p.set_defaults(func=_timeline)


def _augment_command(sub) -> None:
    from .data import EMOTIONS

    p = sub.add_parser("augment", help="a folder of labelled clips -> generated/enhanced clips + manifest.csv",
                       description="Augment a folder of labelled clips (labels from --labels or from EmoDB / "
                                   "RAVDESS file names): new clips of each clip's own emotion, styled on its own "
                                   "speaker, loudness-matched, listed in OUT/manifest.csv. Re-running resumes.")
    p.add_argument("in_dir", type=Path, help="folder of audio files (WAV, FLAC, OGG, MP3; searched recursively)")
    p.add_argument("--out", type=Path, required=True, help="output folder (wav/, manifest.csv, README.md)")
    count = p.add_mutually_exclusive_group()
    count.add_argument("--per-clip", type=int, default=1, help="new clips per input clip and mode (default 1)")
    count.add_argument("--per-emotion", type=int, help="new clips per emotion in all, the emotion's clips in turn")
    p.add_argument("--mode", choices=("generate", "enhance", "both"), default="generate",
                   help="generate: from noise, styled on the speaker; enhance: the clip itself made clearer")
    p.add_argument("--emotions", nargs="+", choices=EMOTIONS, default=list(EMOTIONS), help="only these emotions")
    p.add_argument("--labels", type=Path, help="CSV with columns path,emotion[,speaker]; paths relative to IN_DIR")
    p.add_argument("--filter-confidence", type=float,
                   help="keep only clips the judge gives at least this probability of their emotion")
    p.add_argument("--judge", type=Path, nargs="+", help="classifier folders of the judge (default: the release's)")
    p.add_argument("--strength", type=float, default=0.5, help="how far enhance noises a clip (0-1)")
    p.add_argument("--max-seconds", type=float, default=6.0, help="longest speech a clip contributes")
    p.add_argument("--save-mels", action="store_true", help="also write each clip's mel (mels/*.npy, fp16)")
    p.add_argument("--workers", type=int, default=1, help="processes (each loads the models)")
    _sampling_args(p, plot=False)
    p.set_defaults(func=_augment)


def _space_command(sub) -> None:
    p = sub.add_parser("deploy-space", help="publish the app as a Hugging Face Space (app, library, shipped weights)")
    p.add_argument("--repo-id", required=True, help="USER/NAME of the Space (created if missing)")
    p.add_argument("--private", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="list what would be uploaded, upload nothing")
    p.set_defaults(func=_deploy_space)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emodiff", description=__doc__)
    parser.add_argument("--checkpoints", type=Path, default=CHECKPOINTS,
                        help="the release's model folders (default: %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True)
    _model_commands(sub)
    _augment_command(sub)
    _timeline_command(sub)
    _study_commands(sub)
    _data_commands(sub)
    _space_command(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (AudioError, CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"emodiff: {e}", file=sys.stderr)
        return 2
    return 0
