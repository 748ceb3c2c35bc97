import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from emodiff.checkpoint import CheckpointError
from emodiff.data import EMOTIONS
from emodiff.diffusion import (EmotionDiffusionPipeline, MelStyleEncoder, drop_conditions, guided_prediction,
                               load_pipeline, mel_seed, read_metadata, training_scheduler)
from emodiff.diffusion.training import diffusion_loss, learning_rate
from emodiff.mel import MelConfig, MelNormalizer, mel_of
from emodiff.sampling import DEFAULT_GUIDANCE

from .conftest import EMODB_CLIP, MEL, ROOT, wake


def test_conditioning_shapes_and_effects(tiny_pipeline):
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


def test_seeded_sampling_repeats_and_guidance_matters(tiny_pipeline):
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


def test_style_vectors_stand_in_for_references(tiny_pipeline):
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


def test_enhance_keeps_length_and_strength_controls_change(data_root, tiny_pipeline):
    pipe = tiny_pipeline()
    wake(pipe.unet)
    mel = mel_of(EMODB_CLIP, pipe.mel_config)
    low = pipe.enhance(mel, "sad", strength=0.1, steps=10, generator=mel_seed(0), vocode=False)
    high = pipe.enhance(mel, "sad", strength=0.9, steps=10, generator=mel_seed(0), vocode=False)
    assert low.mel.shape == mel.shape == high.mel.shape
    dist = lambda m: float((m - mel).abs().mean())  # noqa: E731
    assert dist(low.mel) < dist(high.mel)
    with pytest.raises(ValueError, match="strength"):
        pipe.enhance(mel, "sad", strength=0.0)
    with pytest.raises(ValueError, match="classifier"):
        pipe.enhance(mel)


def test_save_load_round_trip(tmp_path, tiny_pipeline):
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


@pytest.mark.slow
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
    # A conversion network fine-tuned from it, on the same speakers (`--paired --init`).
    paired = base + ["--paired", "--init", str(tmp_path / "run" / "pipeline"), "--steps", "4",
                     "--out", str(tmp_path / "conversion")]
    subprocess.run(paired, check=True, capture_output=True)
    assert EmotionDiffusionPipeline.from_pretrained(tmp_path / "conversion" / "pipeline").unet.config.source_channels
    other_fold = subprocess.run(paired + ["--fold", "1"], capture_output=True, text=True)
    assert other_fold.returncode != 0 and "other speakers" in other_fold.stderr


def test_learning_rate_is_constant_then_decays_to_zero():
    assert [learning_rate(1e-3, 100, 20, s) for s in (0, 80, 90, 99)] == pytest.approx([1e-3, 1e-3, 5e-4, 5e-5])
    assert learning_rate(1e-3, 100, 0, 99) == 1e-3


def test_dropped_conditions_are_the_null_token_zero_vectors_and_null_style():
    """Classifier-free guidance's training half: about the asked share of rows loses each
    condition, independently, and the same generator state drops the same rows."""
    emotion, vectors = torch.randint(0, 6, (4000,)), torch.randn(4000, 8)
    e, v, drop_style = drop_conditions(emotion, vectors, 6, 0.15, 0.3, np.random.default_rng(0))
    dropped = e == 6
    assert abs(dropped.float().mean() - 0.15) < 0.02 and abs(drop_style.float().mean() - 0.3) < 0.02
    assert torch.equal(e[~dropped], emotion[~dropped]) and (v[dropped] == 0).all()
    assert torch.equal(v[~dropped], vectors[~dropped])
    assert abs((dropped & drop_style).float().mean() - 0.15 * 0.3) < 0.01  # independent draws
    again = drop_conditions(emotion, vectors, 6, 0.15, 0.3, np.random.default_rng(0))
    assert torch.equal(again[0], e) and torch.equal(again[2], drop_style)
    assert drop_conditions(emotion, None, 6, 0.15, 0.3, np.random.default_rng(0))[1] is None


def test_guidance_interpolates_between_the_unconditional_and_conditional_predictions(tiny_pipeline):
    """Scale 1 is the conditional model, 0 the emotion-free one, and scales in between lie on the line."""
    unet = tiny_pipeline().unet
    wake(unet)
    x, t, emotions, style = torch.randn(2, 80, 16), torch.tensor(500), torch.tensor([1, 3]), torch.randn(2, 16)
    with torch.no_grad():
        cond = unet(x, t, emotions, unet.emotion_centroids[emotions], style)
        uncond = unet(x, t, torch.full_like(emotions, unet.null_emotion), torch.zeros(2, 8), style)
        torch.testing.assert_close(guided_prediction(unet, x, t, emotions, style, 1.0), cond, atol=1e-5, rtol=0)
        torch.testing.assert_close(guided_prediction(unet, x, t, emotions, style, 0.0), uncond, atol=1e-5, rtol=0)
        half = guided_prediction(unet, x, t, emotions, style, 0.5)
        torch.testing.assert_close(half, (cond + uncond) / 2, atol=1e-5, rtol=0)
        assert not torch.allclose(cond, uncond)


def test_diffusion_loss_targets_velocity_and_falls_with_training(tiny_pipeline):
    """The loss is the MSE to v (not the noise) under a v-prediction schedule, and a few Adam
    steps on one batch lower it."""
    unet, scheduler = tiny_pipeline(vec_dim=0).unet, training_scheduler()
    x0, emotion = torch.randn(4, 80, 16), torch.tensor([0, 1, 2, 3])
    ref, mask, drop = torch.randn(4, 80, 16), torch.ones(4, 16, dtype=torch.bool), torch.zeros(4, dtype=torch.bool)

    def loss():
        return diffusion_loss(unet, scheduler, x0, emotion, None, ref, mask, drop, torch.Generator().manual_seed(0))

    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(x0.shape, generator=gen)
    t = torch.randint(0, 1000, (4,), generator=gen)
    with torch.no_grad():  # the network starts at zero output: the loss is the target's own power
        assert float(loss()) == pytest.approx(float(scheduler.get_velocity(x0, noise, t).square().mean()), rel=1e-5)
    opt = torch.optim.Adam(unet.parameters(), lr=3e-3)
    first = loss().item()
    for _ in range(20):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert loss().item() < 0.8 * first


def test_a_pipeline_whose_parts_disagree_on_the_mel_is_refused(tiny_pipeline, tmp_path):
    """The UNet, the normaliser and the vocoder must read one mel; metadata travels in the folder."""
    pipe = tiny_pipeline()
    pipe.metadata = {"train_speakers": ["emodb_03"], "steps": 7}
    pipe.save_pretrained(tmp_path / "ok")
    assert read_metadata(tmp_path / "ok") == pipe.metadata == load_pipeline(tmp_path / "ok").metadata
    assert load_pipeline(tmp_path / "ok").mel_config == MEL
    pipe.normalizer = MelNormalizer(np.zeros(40), np.ones(40), MelConfig(n_mels=40))
    pipe.save_pretrained(tmp_path / "bands")
    with pytest.raises(CheckpointError, match="reads 80 mel bands but its normaliser was fitted on 40"):
        load_pipeline(tmp_path / "bands")
    pipe.normalizer = MelNormalizer(np.zeros(80), np.ones(80), MelConfig(fmax=7600.0))
    pipe.save_pretrained(tmp_path / "fmax")
    with pytest.raises(CheckpointError, match="fmax 7600.0 .vocoder: 8000.0."):
        load_pipeline(tmp_path / "fmax")
