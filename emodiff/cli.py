"""`emodiff` command line: the library's actions for people and shell scripts."""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from .audio import AudioError


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
    cache = FeatureCache(args.cache_dir)
    start = time.perf_counter()
    cache.build([r.path for r in records], workers=args.workers, progress=True)
    print(f"{len(records)} mels in {cache.dir} ({time.perf_counter() - start:.1f} s)")


def _mel(args) -> None:
    from .audio import load_audio, mel_spectrogram
    from .plotting import plot_mel

    audio = load_audio(args.audio, crop=True)
    if audio.notice:
        print(audio.notice, file=sys.stderr)
    mel = mel_spectrogram(audio.samples)
    plot_mel(mel.numpy(), Path(args.audio).name).savefig(args.png, dpi=120)
    print(f"{tuple(mel.shape)} mel ({audio.seconds:.2f} s) -> {args.png}")


def _vocode(args) -> None:
    from .audio import load_audio, mel_spectrogram, save_audio
    from .vocoder import Vocoder

    audio = load_audio(args.audio, crop=True)
    vocoder = Vocoder(args.vocoder)
    save_audio(args.out, vocoder(mel_spectrogram(audio.samples)).numpy())
    print(f"{args.audio} -> mel -> {vocoder.method} -> {args.out}")


def build_parser() -> argparse.ArgumentParser:
    from .data import DEFAULT_CACHE, DEFAULT_DATA_ROOT

    parser = argparse.ArgumentParser(prog="emodiff", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

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
    p.set_defaults(func=_vocode)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (AudioError, FileNotFoundError) as e:
        print(f"emodiff: {e}", file=sys.stderr)
        return 2
    return 0
