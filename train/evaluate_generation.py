"""Judge generated and enhanced mels on speakers the diffusion model never heard.

    python train/evaluate_generation.py --pipeline checkpoints/diffusion \
        --judge runs/cv_small/speaker_s1_f0/best --fold 0 --out results/generation.json

The judge is a classifier that was *not* the conditioning one (another seed) and never heard
the test speakers. Reported:
- per emotion: share of generated clips the judge recognises as the target emotion;
- Frechet distance between judge embeddings (PCA to 32 dims fitted on real mels) of
  generated mels and of real unseen-speaker mels, beside the same distance for real
  training-speaker mels (the floor a perfect generator would reach);
- diversity: mean pairwise embedding distance within each emotion, generated vs real;
- enhancement: judge probability of the target emotion before and after, and mel L1 to
  the source, for strengths 0.1 ... 0.9 (plot beside the JSON);
- the same recognition, distance and diversity for augmentation sets that
  train/augment_study.py wrote (`--sets`), beside real training-speaker crops of their length,
  and for each how far its voices lie from the training speakers' (`voice_distance`), beside
  real crops of the training and of the unseen speakers.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import linalg
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from emodiff.classifier import EmotionClassifier, clip_probabilities  # noqa: E402
from emodiff.data import (DEFAULT_CACHE, DEFAULT_DATA_ROOT, EMOTIONS, index_corpora,  # noqa: E402
                          random_crop, speaker_fold, speech_mels)
from emodiff.diffusion import load_pipeline, mel_seed  # noqa: E402
from emodiff.metrics import mel_l1  # noqa: E402
from emodiff.training import save_json  # noqa: E402


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to rows of a and b (as FID, Heusel 2017)."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def pairwise(x: np.ndarray) -> float:
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    return float(d[np.triu_indices(len(x), 1)].mean())


def voice_distance(pipe, centroids: torch.Tensor, mels) -> float:
    """Mean distance of each mel's style vector (the generator's own style encoder) to the
    nearest training speaker's mean style vector: how far from every voice the generator was
    trained on a clip lies, as the generator sees voices. Unseen speakers' clips set the scale."""
    return float(torch.cdist(pipe.styles_of(mels), centroids).min(1).values.mean())


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pipeline", type=Path, required=True)
    p.add_argument("--judge", type=Path, required=True)
    p.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--n-folds", type=int, default=5)
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--n", type=int, default=20, help="generated clips per emotion (DPM-Solver++; 0: skip)")
    p.add_argument("--steps", type=int, nargs="+", default=[25, 10, 50], help="DPM-Solver++ steps")
    p.add_argument("--ddpm-n", type=int, default=3, help="clips per emotion with ancestral DDPM (0: skip)")
    p.add_argument("--ddpm-steps", type=int, nargs="+", default=[1000],
                   help="DDPM steps; under 1000 strided, as the augmentation study's DDPM pools")
    p.add_argument("--guidance", type=float, default=2.0)
    p.add_argument("--seconds", type=float, default=2.5)
    p.add_argument("--n-enhance", type=int, default=24, help="unseen-speaker clips to enhance (0: skip)")
    p.add_argument("--strengths", type=float, nargs="+", default=[0.1, 0.3, 0.5, 0.7, 0.9])
    p.add_argument("--sets", type=Path, nargs="*", default=[], help="augmentation sets (npz) to judge too")
    p.add_argument("--set-n", type=int, default=150, help="clips per emotion taken from each set's start")
    p.add_argument("--out", type=Path, default=Path("results/generation.json"))
    args = p.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)

    pipe = load_pipeline(args.pipeline)
    judge = EmotionClassifier.from_pretrained(args.judge)
    records = index_corpora(args.data_root, EMOTIONS)
    train_recs, test_recs = speaker_fold(records, args.fold, args.n_folds)
    mels = speech_mels(records, args.cache_dir)
    test_mels, train_mels = [mels[r.path] for r in test_recs], [mels[r.path] for r in train_recs]
    judge_seen = set(judge.metadata.get("train_speakers", []))
    leak = sorted(judge_seen & {r.speaker for r in test_recs})

    def embed(ms):
        return np.stack([judge.mel_embedding(torch.as_tensor(m)).numpy() for m in ms])

    real_test = embed(test_mels)
    rng = np.random.default_rng(0)
    real_train = embed([train_mels[i] for i in rng.choice(len(train_mels), len(test_mels), replace=False)])
    mean = real_test.mean(0)
    _, _, vt = np.linalg.svd(np.concatenate([real_test, real_train]) - mean, full_matrices=False)
    pca = lambda x: (x - mean) @ vt[:32].T  # noqa: E731

    results = {"judge": str(args.judge), "pipeline": str(args.pipeline), "fold": args.fold,
               "test_speakers": sorted({r.speaker for r in test_recs}), "judge_saw_test_speakers": leak,
               "guidance": args.guidance, "seconds": args.seconds, "n_per_emotion": args.n,
               "real_train_vs_real_test_fd": frechet(pca(real_train), pca(real_test)),
               "real_test_judge_ua": None, "generation": {}}
    probs = clip_probabilities(judge, test_mels)
    y = np.array([EMOTIONS.index(r.emotion) for r in test_recs])
    results["real_test_judge_ua"] = float(np.mean([np.mean(probs[y == k].argmax(1) == k) for k in range(6)]))

    def judged(fake, target) -> dict:
        """What the judge makes of mels `fake` made for emotions `target` (indices)."""
        pred = clip_probabilities(judge, list(fake)).argmax(1)
        per_emotion = {e: float(np.mean(pred[target == k] == k)) for k, e in enumerate(EMOTIONS)}
        emb, fewest = embed(list(fake)), np.bincount(target, minlength=6).min()
        return {"target_recognised": per_emotion, "target_recognised_mean": float(np.mean(list(per_emotion.values()))),
                "fd_generated_vs_real_test": frechet(pca(emb), pca(real_test)) if fewest >= 10 else None,
                "diversity_generated": float(np.mean([pairwise(pca(emb[target == k])) for k in range(6)]))
                if fewest >= 2 else None,
                "diversity_real_test": float(np.mean([pairwise(pca(real_test[y == k])) for k in range(6)]))}

    frames = int(round(args.seconds * judge.cfg.mel.frames_per_second))
    runs = [("dpm", steps, args.n) for steps in args.steps] if args.n else []
    if args.ddpm_n:
        runs += [("ddpm", steps, args.ddpm_n) for steps in args.ddpm_steps]
    for sampler, steps, n in runs:
        start = time.perf_counter()
        emotions = [e for e in EMOTIONS for _ in range(n)]
        fake = np.concatenate([pipe.generate_batch(emotions[b:b + 60], frames, steps, args.guidance,
                                                   mel_seed(b), sampler=sampler).numpy()
                               for b in tqdm(range(0, len(emotions), 60), desc=f"{sampler} {steps} steps")])
        seconds_per_clip = (time.perf_counter() - start) / len(emotions)
        results["generation"][f"{sampler}-{steps}"] = {
            "sampler": sampler, "steps": steps, "n_per_emotion": n, **judged(fake, np.repeat(np.arange(6), n)),
            "seconds_per_clip_batched_no_vocoder": seconds_per_clip}
        print(sampler, steps, "steps:", {k: round(v, 3) if isinstance(v, float) else v for k, v in
                                         results["generation"][f"{sampler}-{steps}"].items() if k != "target_recognised"})
        if sampler == "dpm" and steps == args.steps[0]:
            plot_grid(fake, n, test_mels, test_recs, args.out.with_name(args.out.stem + "_grid.png"))

    if args.sets:
        results["sets"] = judge_sets(args, judged, pipe, train_recs, train_mels, test_mels)
    if args.n_enhance:
        results["enhancement"] = enhancement(pipe, judge, test_mels, test_recs, args)
        plot_enhancement(results["enhancement"], args.out.with_name(args.out.stem + "_enhance.png"))
    save_json(results, args.out)
    return results


def judge_sets(args, judged, pipe, train_recs, train_mels, test_mels) -> dict:
    """`judged` and `voice_distance` on the first --set-n clips per emotion of each augmentation
    set, and on as many random crops of real training-speaker clips of the sets' length: the
    floor for sets whose clips are shorter than whole utterances; the voice distance of as many
    crops of real unseen-speaker clips too (new voices)."""
    out, rng = {}, np.random.default_rng(0)
    speakers = np.array([r.speaker for r in train_recs])
    train_styles = pipe.styles_of(train_mels)
    centroids = torch.stack([train_styles[torch.from_numpy(speakers == k)].mean(0) for k in np.unique(speakers)])
    for path in args.sets:
        with np.load(path) as data:
            mels, source = data["mels"], str(data.get("source"))  # each access reads the file again
            target = np.array([EMOTIONS.index(str(e)) for e in data["emotions"]])
        take = np.concatenate([np.flatnonzero(target == k)[:args.set_n] for k in range(6)])
        out[str(path)] = {"source": source, "n_per_emotion": args.set_n, "frames": int(mels.shape[-1]),
                          **judged(mels[take].astype(np.float32), target[take]),
                          "voice_distance": voice_distance(pipe, centroids, mels[take])}
    lengths = {v["frames"] for v in out.values()}
    if len(lengths) == 1:
        frames = lengths.pop()
        target = np.array([EMOTIONS.index(r.emotion) for r in train_recs])
        take = np.concatenate([rng.permutation(np.flatnonzero(target == k))[:args.set_n] for k in range(6)])
        crops = np.stack([random_crop(train_mels[i], frames, rng)[0] for i in take])
        out["real training crops"] = {"n_per_emotion": args.set_n, "frames": frames, **judged(crops, target[take]),
                                      "voice_distance": voice_distance(pipe, centroids, crops)}
        unseen = [random_crop(m, frames, rng)[0] for m in test_mels]
        out["real unseen-speaker crops"] = {"n": len(unseen), "frames": frames,
                                            "voice_distance": voice_distance(pipe, centroids, unseen)}
    for name, entry in out.items():
        print(name, {k: round(v, 3) for k, v in entry.items() if isinstance(v, float)})
    return out


def enhancement(pipe, judge, test_mels, test_recs, args) -> dict:
    """Each clip is pushed toward an emotion other than its own (cycled), at every strength."""
    rng = np.random.default_rng(1)
    chosen = rng.choice(len(test_mels), min(args.n_enhance, len(test_mels)), replace=False)
    out = {str(s): {"p_target_before": [], "p_target_after": [], "mel_l1": []} for s in args.strengths}
    for j, i in enumerate(tqdm(chosen, desc="enhance")):
        own = EMOTIONS.index(test_recs[i].emotion)
        target = (own + 1 + j % 5) % 6
        mel = torch.as_tensor(test_mels[i])
        before = float(judge.mel_probabilities(mel)[target])
        for s in args.strengths:
            res = pipe.enhance(mel, EMOTIONS[target], strength=s, steps=25, guidance=args.guidance,
                               generator=mel_seed(j), vocode=False)
            out[str(s)]["p_target_before"].append(before)
            out[str(s)]["p_target_after"].append(float(judge.mel_probabilities(res.mel)[target]))
            out[str(s)]["mel_l1"].append(mel_l1(res.mel, mel))
    return {s: {k: float(np.mean(v)) for k, v in d.items()} for s, d in out.items()}


def plot_grid(fake, n: int, test_mels, test_recs, path: Path) -> None:
    """Real unseen-speaker mels (top) and generated ones (bottom), one column per emotion."""
    from emodiff.plotting import plot_mel_grid, save_figure

    real = [next(m for m, r in zip(test_mels, test_recs) if r.emotion == e)[:, :fake.shape[-1]] for e in EMOTIONS]
    save_figure(plot_mel_grid([real, [fake[k * n] for k in range(6)]], ["real (unseen speaker)", "generated"],
                              list(EMOTIONS)), path, dpi=100)


def plot_enhancement(enh: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    from emodiff.plotting import save_figure

    s = [float(k) for k in enh]
    fig, ax = plt.subplots(figsize=(6, 3.5), constrained_layout=True)
    ax.plot(s, [enh[k]["p_target_after"] for k in enh], "o-", label="P(target) after")
    ax.plot(s, [enh[k]["p_target_before"] for k in enh], "--", label="P(target) before")
    ax2 = ax.twinx()
    ax2.plot(s, [enh[k]["mel_l1"] for k in enh], "s-", color="gray", label="mel L1 to source")
    ax.set_xlabel("strength")
    ax.set_ylabel("judge probability of target")
    ax2.set_ylabel("mel L1 (nats)")
    fig.legend(loc="upper left")
    save_figure(fig, path)


if __name__ == "__main__":
    main()
