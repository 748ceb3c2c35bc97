"""Hugging Face deployment: what a Space upload holds, and models loaded by Hub repo id from a
pre-populated cache with the network off."""
import shutil

import pytest

from emodiff.checkpoint import CheckpointError
from emodiff.classifier import EmotionClassifier
from emodiff.cli import main
from emodiff.diffusion import load_pipeline
from emodiff.service import SHIPPED, EmoDiff
from emodiff.space import space_files

from .conftest import ROOT, SR, tone


def test_a_space_upload_is_the_app_the_library_and_the_weights_only(capsys):
    files = dict(space_files(ROOT))
    for needed in ("app.py", "README.md", "LICENSE", "requirements.txt", "pre-requirements.txt",
                   "emodiff/service.py", "emodiff/diffusion/pipeline.py", "examples/ravdess_angry_actor12.wav",
                   "checkpoints/diffusion/unet/diffusion_pytorch_model.safetensors",
                   "checkpoints/classifier/model.safetensors", "checkpoints/functionals/config.json"):
        assert needed in files, needed
    for name in files:
        assert not name.startswith(("tests/", "train/", "bench/", "results/", "runs/", ".venv/", ".git/", "study/"))
        assert "__pycache__" not in name and not name.endswith((".pyc", ".sqlite", ".npz"))
    assert sum(files.values()) < 50e6  # 43 MB today: the weights, the docs' screenshots, three clips
    assert main(["deploy-space", "--repo-id", "someone/emodiff", "--dry-run"]) == 0  # no network needed
    out = capsys.readouterr().out
    assert f"{len(files)} files" in out and "checkpoints/classifier/model.safetensors" in out


@pytest.fixture
def hub_cache(tiny_release, tmp_path, monkeypatch):
    """A huggingface_hub cache holding the tiny release as the model repo someone/emodiff, as a
    download would have left it; the network is off (HF_HUB_OFFLINE)."""
    from huggingface_hub import constants

    repo = tmp_path / "hub" / "models--someone--emodiff"
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(tiny_release, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return repo / "snapshots" / commit


def test_models_load_by_repo_id_from_the_cache_offline(hub_cache):
    svc = EmoDiff("someone/emodiff")
    assert svc.folder == hub_cache
    probs = svc.recognise(svc.load((SR, tone(1.0))))
    assert sum(probs.values()) == pytest.approx(1, abs=1e-5)
    assert svc.generate("sad", seconds=0.5, steps=2).mel.shape[0] == 80
    one = EmotionClassifier.from_pretrained("someone/emodiff/classifier")  # one folder of the repo
    assert one.cfg == EmotionClassifier.from_pretrained(hub_cache / "classifier").cfg
    assert load_pipeline("someone/emodiff/diffusion").emotions == svc.pipeline.emotions
    assert set(SHIPPED) >= {p.name for p in hub_cache.iterdir()}


def test_a_repo_that_is_not_cached_is_a_clear_error_offline(hub_cache):
    with pytest.raises(CheckpointError, match="neither a folder here nor a Hugging Face Hub repo"):
        EmoDiff("someone/elsewhere")
    with pytest.raises(CheckpointError, match="config.json is missing"):
        EmotionClassifier.from_pretrained(hub_cache / "nothing")  # a missing local folder stays local
