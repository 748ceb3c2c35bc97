"""Shared test material: real clips, synthetic signals, and tiny models as fixtures.

Tests marked `slow` take tens of seconds or more (training runs, servers, a browser, emulated
bf16); `pytest -m "not slow"` is the fast inner loop, plain `pytest` runs everything.
"""
import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from emodiff.data import DEFAULT_DATA_ROOT, EMOTIONS
from emodiff.mel import MelConfig, MelNormalizer

ROOT = Path(__file__).resolve().parents[1]
DATA = DEFAULT_DATA_ROOT
EMODB_CLIP = DATA / "emodb" / "wav" / "03a01Fa.flac"  # speaker 03, happy
RAVDESS_CLIP = DATA / "ravdess" / "Actor_01" / "03-01-05-02-01-01-01.flac"  # actor 01, angry, strong
SAMPLES = DATA / "samples"
MEL = MelConfig()  # the mel every shipped model reads; tiny test models read it too
SR = MEL.sample_rate


@pytest.fixture(scope="session")
def data_root():
    if not DATA.is_dir():
        pytest.skip(f"corpora not found at {DATA}")
    return DATA


def tone(seconds=1.0, rate=SR, freq=220.0, amp=0.5, channels=1):
    """A harmonic tone with a little noise: speech-like enough for the front end."""
    t = np.arange(int(seconds * rate)) / rate
    x = sum(amp / k * np.sin(2 * np.pi * freq * k * t) for k in range(1, 6)) / 2
    x = (x + 0.01 * np.random.default_rng(0).standard_normal(len(t))).astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def encode(samples, rate, fmt="WAV", subtype=None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def bad_and_odd_inputs() -> dict:
    """name -> (file bytes, suffix, phrase the user must see, or None when the clip is valid)."""
    truncated_flac = encode(tone(2.0, 16000), 16000, "FLAC")
    clipped = np.clip(tone(1.0) * 10, -1, 1)
    return {
        "empty": (b"", ".wav", "empty"),
        "one byte": (b"R", ".wav", "not audio"),
        "text renamed .wav": (b"just some notes\n" * 50, ".wav", "not audio"),
        "png": (b"\x89PNG\r\n\x1a\n" + bytes(500), ".png", "not audio"),
        "truncated wav": (encode(tone(1.0), SR, "WAV", "PCM_16")[:6000], ".wav", "truncated"),
        "truncated flac": (truncated_flac[: len(truncated_flac) // 2], ".flac", "truncated"),
        "0.05 s": (encode(tone(0.05), SR, "WAV", "PCM_16"), ".wav", "at least 0.25 s"),
        "all zeros": (encode(np.zeros(SR, np.float32), SR, "WAV", "PCM_16"), ".wav", "silent"),
        "nan samples": (encode(np.full(SR, np.nan, np.float32), SR, "WAV", "FLOAT"), ".wav", "NaN"),
        "10 minutes": (encode(tone(600.0, 8000), 8000, "WAV", "PCM_16"), ".wav", None),  # cropped to 30 s
        "8 kHz": (encode(tone(1.0, 8000), 8000, "WAV", "PCM_16"), ".wav", None),
        "44.1 kHz": (encode(tone(1.0, 44100), 44100, "WAV", "PCM_16"), ".wav", None),
        "48 kHz stereo": (encode(tone(1.0, 48000, channels=2), 48000, "WAV", "PCM_16"), ".wav", None),
        "24-bit": (encode(tone(1.0), SR, "WAV", "PCM_24"), ".wav", None),
        "float32": (encode(tone(1.0), SR, "WAV", "FLOAT"), ".wav", None),
        "mp3": (encode(tone(1.0, 44100), 44100, "MP3", "MPEG_LAYER_III"), ".mp3", None),
        "ogg": (encode(tone(1.0, 44100), 44100, "OGG", "VORBIS"), ".ogg", None),
        "full-scale clipping": (encode(clipped, SR, "WAV", "PCM_16"), ".wav", None),
    }


def planted(n_per_class=12, dim=40, speakers=("a", "b", "c"), seed=0):
    """Features where the emotion shifts a few dimensions and each speaker adds a large offset."""
    rng = np.random.default_rng(seed)
    x, labels, spk = [], [], []
    offsets = {s: rng.normal(0, 5, dim) for s in speakers}
    for s in speakers:
        for k, e in enumerate(EMOTIONS):
            for _ in range(n_per_class // len(speakers) or 1):
                v = rng.normal(0, 1, dim) + offsets[s]
                v[k] += 6.0
                x.append(v), labels.append(e), spk.append(s)
    return np.array(x, np.float32), labels, spk


def flat_normalizer(mean=-5.0, std=2.0) -> MelNormalizer:
    """A normaliser of the shipped mel with the same statistics in every band."""
    return MelNormalizer(np.full(MEL.n_mels, mean), np.full(MEL.n_mels, std), MEL)


# ---- tiny models -----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def tiny_classifier():
    """Factory: a narrow, untrained small ResNet (seeded) on the shipped mel."""
    from emodiff.classifier import ClassifierConfig, EmotionClassifier

    def make(seed=0, **cfg):
        torch.manual_seed(seed)
        cfg = ClassifierConfig.small(**{"width": 8, "crop_frames": 32, **cfg})
        n = cfg.mel.n_mels
        return EmotionClassifier(cfg, MelNormalizer(np.full(n, -5.0), np.full(n, 2.0), cfg.mel))
    return make


@pytest.fixture(scope="session")
def tiny_pipeline():
    """Factory: a two-level UNet pipeline (seeded, untrained) on the shipped mel."""
    from emodiff.diffusion import EmotionDiffusionPipeline, MelDenoiser, training_scheduler

    def make(vec_dim=8):
        torch.manual_seed(0)
        unet = MelDenoiser(MEL.n_mels, channels=(16, 32), blocks_per_level=1, emotion_vec_dim=vec_dim, style_dim=16,
                           cond_dim=32, emotions=EMOTIONS)
        pipe = EmotionDiffusionPipeline(unet, training_scheduler())
        pipe.normalizer = flat_normalizer()
        pipe.set_progress_bar_config(disable=True)
        return pipe
    return make


def wake(model) -> None:
    """Zero-initialised layers (residual outputs) hide the conditions at init; give them weights."""
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1 and (p == 0).all():
                torch.nn.init.normal_(p, std=0.05)


@pytest.fixture(scope="session")
def tiny_gan():
    """Factory: a small conditional DCGAN that says it trained on emodb_03."""
    from emodiff.gan import EmotionGAN, GANConfig

    def make():
        torch.manual_seed(0)
        return EmotionGAN(GANConfig(MEL.n_mels, channels=32, frames=32), flat_normalizer(),
                          metadata={"train_speakers": ["emodb_03"]})
    return make


@pytest.fixture(scope="session")
def tiny_release(tmp_path_factory, tiny_classifier, tiny_pipeline):
    """A release folder of tiny models (a classifier, a speaker-normalised functionals model on
    openSMILE's small set, and a pipeline): the app and the CLI run on it in seconds, without
    the shipped weights."""
    from emodiff.functionals import FunctionalsClassifier, FunctionalsConfig

    folder = tmp_path_factory.mktemp("release")
    tiny_classifier().save_pretrained(folder / "classifier")
    x, labels, speakers = planted(dim=88)
    FunctionalsClassifier.fit(FunctionalsConfig(feature_set="eGeMAPSv02", speaker_norm=True), x, labels,
                              speakers).save_pretrained(folder / "functionals_speaker")
    tiny_pipeline(vec_dim=0).save_pretrained(folder / "diffusion")
    return folder


@pytest.fixture
def small_root(data_root, tmp_path) -> Path:
    """A data root laid out like shared/data holding other speakers: a few clips of two EmoDB
    speakers and one RAVDESS actor."""
    root = tmp_path / "data"
    (root / "emodb" / "wav").mkdir(parents=True)
    for spk in ("03", "08"):
        for clip in sorted((data_root / "emodb" / "wav").glob(f"{spk}a01*"))[:4]:
            (root / "emodb" / "wav" / clip.name).symlink_to(clip)
    actor = root / "ravdess" / "Actor_01"
    actor.mkdir(parents=True)
    for clip in sorted((data_root / "ravdess" / "Actor_01").glob("03-01-0[1-5]-01-01-01-01.*")):
        (actor / clip.name).symlink_to(clip)
    return root


@pytest.fixture(scope="session")
def script():
    """Loader of a train/ or bench/ script as a module (`script("train/evaluate").main([...])`):
    scripts are not a package, and tests call their `main` in-process."""
    loaded = {}

    def load(name: str):
        if name not in loaded:
            spec = importlib.util.spec_from_file_location(Path(name).name, ROOT / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            loaded[name] = module
        return loaded[name]
    return load
