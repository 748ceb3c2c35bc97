import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from emodiff.augment_sets import LeakError, check_unheard, generate_gan_set, round_robin
from emodiff.checkpoint import CheckpointError
from emodiff.data import EMOTIONS, index_corpora
from emodiff.gan import Discriminator, EmotionGAN, GANConfig, discriminator_loss
from emodiff.mel import MelConfig, MelNormalizer

from .conftest import ROOT, flat_normalizer


def test_generator_follows_its_conditions_in_the_datas_units(tiny_gan):
    gan = tiny_gan()
    same_noise = [gan.generate([e] * 2, ["emodb", "ravdess"], torch.Generator().manual_seed(0)) for e in EMOTIONS[:2]]
    assert same_noise[0].shape == (2, 80, 32)
    assert not torch.allclose(same_noise[0], same_noise[1])  # emotion changes the output
    assert not torch.allclose(same_noise[0][0], same_noise[0][1])  # so does corpus (and noise)
    # Denormalised: a generator that outputs zeros would give the normaliser's mean.
    torch.nn.init.zeros_(gan.generator.out.weight), torch.nn.init.zeros_(gan.generator.out.bias)
    assert torch.allclose(gan.generate(["sad"], ["emodb"]), torch.full((1, 80, 32), -5.0))


def test_discriminator_scores_and_hinge_loss():
    cfg = GANConfig(80, channels=32, frames=32)
    scores = Discriminator(cfg)(torch.randn(4, 80, 32), torch.tensor([0, 1, 2, 5]), torch.tensor([0, 1, 0, 1]))
    assert scores.shape == (4,)
    # Confident and right: no loss; a fake scored as real costs its margin.
    assert discriminator_loss(torch.tensor([1.5, 2.0]), torch.tensor([-1.0, -3.0])) == 0
    assert discriminator_loss(torch.tensor([1.0]), torch.tensor([1.0])) == pytest.approx(2.0)


def test_frames_must_survive_the_upsamplings_and_bands_match_the_normaliser():
    with pytest.raises(ValueError, match="multiple of 16"):
        GANConfig(80, frames=100)
    with pytest.raises(ValueError, match="makes 40 mel bands, its normaliser has 80"):
        EmotionGAN(GANConfig(40, channels=32, frames=32), flat_normalizer())
    assert EmotionGAN(GANConfig(40, channels=32, frames=32), MelNormalizer(
        np.zeros(40), np.ones(40), MelConfig(n_mels=40))).generate(["sad"], ["emodb"]).shape == (1, 40, 32)


def test_save_load_round_trip_and_corrupt_weights(tmp_path, tiny_gan):
    gan = tiny_gan()
    gan.save_pretrained(tmp_path / "gan")
    back = EmotionGAN.from_pretrained(tmp_path / "gan")
    assert back.cfg == gan.cfg and back.metadata == gan.metadata
    a = gan.generate(["angry"], ["ravdess"], torch.Generator().manual_seed(1))
    b = back.generate(["angry"], ["ravdess"], torch.Generator().manual_seed(1))
    assert torch.allclose(a, b, atol=0.05)  # fp16 weights
    (tmp_path / "gan" / "generator.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="corrupt"):
        EmotionGAN.from_pretrained(tmp_path / "gan")
    with pytest.raises(CheckpointError, match="config.json is missing"):
        EmotionGAN.from_pretrained(tmp_path / "nothing")


def test_gan_set_follows_training_clips_and_refuses_test_speakers(data_root, tmp_path, tiny_gan):
    records = index_corpora(data_root)
    train = [r for r in records if r.speaker in ("emodb_03", "ravdess_01")][:40]
    path = tmp_path / "gan.npz"
    generate_gan_set(tiny_gan(), train, 9, path, batch=4, source="g")
    data = np.load(path)
    assert data["mels"].shape == (9, 80, 32) and data["mels"].dtype == np.float16
    expected = round_robin(train, 9)
    assert list(data["emotions"]) == [r.emotion for r in expected]
    assert list(data["corpora"]) == [r.corpus for r in expected] and str(data["source"]) == "g"
    test = [r for r in records if r.speaker == "emodb_03"]
    with pytest.raises(LeakError, match="GAN was trained on test speakers"):
        check_unheard(tiny_gan().metadata["train_speakers"], test, "GAN")
    with pytest.raises(LeakError, match="does not record its training speakers"):
        check_unheard([], test, "GAN")  # unknown is not unheard


@pytest.mark.slow
def test_tiny_training_resumes_exactly(data_root, tmp_path):
    def run(out, *extra):
        return subprocess.run([sys.executable, str(ROOT / "train" / "train_gan.py"), "--corpora", "emodb",
                               "--channels", "32", "--crop-frames", "32", "--batch-size", "8", "--steps", "8",
                               "--checkpoint-every", "4", "--sample-every", "1000", "--cpu",
                               "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / out), *extra],
                              check=True, capture_output=True, text=True)

    run("whole")
    run("split", "--max-steps", "4")
    assert "resumed at step 4" in run("split").stdout
    whole, split = (load_file(str(tmp_path / d / "gan" / "generator.safetensors")) for d in ("whole", "split"))
    assert all(torch.equal(whole[k], split[k]) for k in whole)
    progress = json.loads((tmp_path / "split" / "state" / "progress.json").read_text())
    assert len(progress["d_losses"]) == 8 and np.isfinite(progress["g_losses"]).all()
    metrics = json.loads((tmp_path / "split" / "metrics.json").read_text())
    assert metrics["test_speakers"] and not set(metrics["test_speakers"]) & set(metrics["train_speakers"])
    assert (tmp_path / "split" / "samples_000008.png").exists() and (tmp_path / "split" / "loss.png").exists()
