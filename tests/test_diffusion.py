import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from emodiff.audio import MelNormalizer
from emodiff.data import EMOTIONS
from emodiff.diffusion import (EmotionDiffusionPipeline, MelDenoiser, MelStyleEncoder, mel_seed,
                               training_scheduler)
from emodiff.sampling import DEFAULT_GUIDANCE

from .conftest import EMODB_CLIP

ROOT = Path(__file__).resolve().parents[1]


def wake(model) -> None:
    """Zero-initialised layers (residual outputs) hide the conditions at init; give them weights."""
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1 and (p == 0).all():
                torch.nn.init.normal_(p, std=0.05)


def tiny_pipeline(vec_dim=8) -> EmotionDiffusionPipeline:
    torch.manual_seed(0)
    unet = MelDenoiser(channels=(16, 32), blocks_per_level=1, emotion_vec_dim=vec_dim, style_dim=16,
                       cond_dim=32, emotions=EMOTIONS)
    pipe = EmotionDiffusionPipeline(unet, training_scheduler())
    pipe.normalizer = MelNormalizer(np.full(80, -5.0), np.full(80, 2.0))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_conditioning_shapes_and_effects():
    unet = tiny_pipeline().unet
    x = torch.randn(3, 80, 32)
    t = torch.tensor([1, 500, 999])
    emotion = torch.tensor([0, 3, unet.null_emotion])
    ref = torch.randn(3, 80, 20)
    wake(unet)
    with torch.no_grad():
        out = unet(x, t, emotion, torch.randn(3, 8), reference=ref)
        assert out.shape == x.shape
        # Every condition changes the prediction.
        base = unet(x, t, emotion)
        assert not torch.allclose(base, unet(x, t, torch.tensor([1, 2, 4])))
        assert not torch.allclose(base, unet(x, t, emotion, style=torch.randn(3, 16)))
        assert not torch.allclose(base, unet(x, t, emotion, emotion_vec=torch.randn(3, 8)))
        dropped = unet(x, t, emotion, reference=ref, drop_style=torch.tensor([True, True, True]))
        torch.testing.assert_close(dropped, base)  # dropped style == the learned null style


def test_style_encoder_pools_to_one_vector_and_ignores_padding():
    enc = MelStyleEncoder(80, 24).eval()
    mel = torch.randn(2, 80, 40)
    mask = torch.ones(2, 40, dtype=torch.bool)
    mask[:, 30:] = False
    padded = mel.clone()
    padded[:, :, 30:] = 5.0
    with torch.no_grad():
        assert enc(mel).shape == (2, 24)
        torch.testing.assert_close(enc(mel, mask), enc(padded, mask))  # padding content is ignored
        assert not torch.allclose(enc(mel), enc(padded))


def test_seeded_sampling_repeats_and_guidance_matters():
    pipe = tiny_pipeline()
    wake(pipe.unet)
    a = pipe.generate("angry", seconds=0.5, steps=4, generator=mel_seed(3), vocode=False)
    b = pipe.generate("angry", seconds=0.5, steps=4, generator=mel_seed(3), vocode=False)
    c = pipe.generate("angry", seconds=0.5, steps=4, generator=mel_seed(4), vocode=False)
    torch.testing.assert_close(a.mel, b.mel, atol=0, rtol=0)
    assert not torch.allclose(a.mel, c.mel)
    assert a.mel.shape[0] == 80 and a.mel.shape[1] >= 0.5 * 86
    g = pipe.generate("angry", seconds=0.5, steps=4, generator=mel_seed(3), guidance=5.0, vocode=False)
    assert not torch.allclose(a.mel, g.mel)
    default = pipe.generate("angry", seconds=0.5, steps=4, generator=mel_seed(3), guidance=DEFAULT_GUIDANCE,
                            vocode=False)
    torch.testing.assert_close(a.mel, default.mel, atol=0, rtol=0)  # no guidance given: the default
    d = pipe.generate("angry", seconds=0.5, steps=4, generator=mel_seed(3), sampler="ddim", vocode=False)
    assert d.mel.shape == a.mel.shape
    with pytest.raises(ValueError, match="Unknown emotion"):
        pipe.generate("bored")


def test_style_vectors_stand_in_for_references():
    pipe = tiny_pipeline()
    wake(pipe.unet)
    refs = [torch.randn(80, 30) * 2 - 5, torch.randn(80, 50) * 2 - 5]
    style = torch.cat([pipe.style_of(r) for r in refs])
    by_ref = pipe.generate_batch(["sad", "fear"], 32, 3, generator=mel_seed(0), references=refs)
    by_vec = pipe.generate_batch(["sad", "fear"], 32, 3, generator=mel_seed(0), style=style)
    torch.testing.assert_close(by_ref, by_vec)
    # A vector no reference gives (a blend beyond the two) makes another mel.
    blend = style + 1.5 * (style.flip(0) - style)
    beyond = pipe.generate_batch(["sad", "fear"], 32, 3, generator=mel_seed(0), style=blend)
    assert not torch.allclose(by_ref, beyond)
    with pytest.raises(ValueError, match="not both"):
        pipe.generate_batch(["sad", "fear"], 32, 3, references=refs, style=style)


def test_enhance_keeps_length_and_strength_controls_change(data_root):
    pipe = tiny_pipeline()
    wake(pipe.unet)
    from emodiff.audio import load_audio, mel_spectrogram

    mel = mel_spectrogram(load_audio(EMODB_CLIP).samples)
    low = pipe.enhance(mel, "sad", strength=0.1, steps=10, generator=mel_seed(0), vocode=False)
    high = pipe.enhance(mel, "sad", strength=0.9, steps=10, generator=mel_seed(0), vocode=False)
    assert low.mel.shape == mel.shape == high.mel.shape
    dist = lambda m: float((m - mel).abs().mean())  # noqa: E731
    assert dist(low.mel) < dist(high.mel)
    with pytest.raises(ValueError, match="strength"):
        pipe.enhance(mel, "sad", strength=0.0)
    with pytest.raises(ValueError, match="classifier"):
        pipe.enhance(mel)


def test_save_load_round_trip(tmp_path):
    pipe = tiny_pipeline()
    pipe.save_pretrained(tmp_path / "p")
    assert pipe.unet.dtype == torch.float32  # saving in fp16 leaves the live model (in training) as it was
    assert (tmp_path / "p" / "normalizer.json").exists()
    loaded = EmotionDiffusionPipeline.from_pretrained(tmp_path / "p")
    loaded.set_progress_bar_config(disable=True)
    assert loaded.unet.dtype == torch.float32 and loaded.emotions == EMOTIONS
    weights = next((tmp_path / "p" / "unet").glob("*.safetensors"))
    from safetensors.torch import load_file

    assert all(v.dtype == torch.float16 for v in load_file(str(weights)).values())
    a = pipe.generate("sad", seconds=0.3, steps=3, generator=mel_seed(1), vocode=False).mel
    b = loaded.generate("sad", seconds=0.3, steps=3, generator=mel_seed(1), vocode=False).mel
    torch.testing.assert_close(a, b, atol=5e-2, rtol=0)  # fp16 weights


def test_tiny_training_loss_falls_and_resumes(data_root, tmp_path):
    base = [sys.executable, str(ROOT / "train" / "train_diffusion.py"), "--corpora", "emodb",
            "--channels", "16", "32", "--blocks-per-level", "1", "--crop-frames", "32",
            "--batch-size", "8", "--lr", "2e-3", "--steps", "60", "--decay-steps", "20", "--sample-every", "1000",
            "--checkpoint-every", "20", "--cache-dir", str(tmp_path / "cache"),
            "--out", str(tmp_path / "run"), "--cpu"]
    subprocess.run(base + ["--max-steps", "30"], check=True, capture_output=True)
    run = subprocess.run(base, check=True, capture_output=True, text=True)
    assert "resumed at step 30" in run.stdout
    losses = json.loads((tmp_path / "run" / "state" / "progress.json").read_text())["losses"]
    assert len(losses) == 60 and np.mean(losses[-15:]) < np.mean(losses[:15])
    assert (tmp_path / "run" / "pipeline" / "model_index.json").exists()
    assert (tmp_path / "run" / "samples_000060.png").exists()
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["test_speakers"]


def test_learning_rate_is_constant_then_decays_to_zero():
    from types import SimpleNamespace

    sys.path.insert(0, str(ROOT / "train"))
    from train_diffusion import learning_rate

    args = SimpleNamespace(lr=1e-3, steps=100, decay_steps=20)
    assert [learning_rate(args, s) for s in (0, 80, 90, 99)] == pytest.approx([1e-3, 1e-3, 5e-4, 5e-5])
    assert learning_rate(SimpleNamespace(lr=1e-3, steps=100, decay_steps=0), 99) == 1e-3
