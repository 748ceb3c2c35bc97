"""Publishing the app as a Hugging Face Space.

A Space is the app, the library and the shipped weights, nothing else: no corpora, runs,
results, tests or caches. `deploy_space` uploads exactly `space_files` with
`huggingface_hub.upload_folder` (HTTP, no git history, large files go to Xet/LFS by
themselves); `emodiff deploy-space --dry-run` prints that list without touching the network.
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What a Space needs to run the app: everything else in the repository stays behind.
SPACE_FILES = ["app.py", "README.md", "LICENSE", "requirements.txt", "pre-requirements.txt", "pyproject.toml",
               "emodiff/*.py", "emodiff/**/*.py", "checkpoints/*", "examples/*.wav", "docs/*.png", "docs/about.md"]
NEVER = ["**/__pycache__/*", "*.pyc", "**/.ipynb_checkpoints/*"]


def space_files(root=ROOT) -> list[tuple[str, int]]:
    """(path relative to `root`, bytes) of every file `deploy_space` would upload, in the
    order and by the rules `upload_folder` applies."""
    from huggingface_hub.hf_api import DEFAULT_IGNORE_PATTERNS
    from huggingface_hub.utils import filter_repo_objects

    root = Path(root).resolve()
    files = {p.relative_to(root).as_posix(): p for p in sorted(root.glob("**/*")) if p.is_file()}
    kept = filter_repo_objects(files, allow_patterns=SPACE_FILES, ignore_patterns=NEVER + DEFAULT_IGNORE_PATTERNS)
    return [(name, files[name].stat().st_size) for name in kept]


def deploy_space(repo_id: str, root=ROOT, private: bool = False, token: str | None = None) -> str:
    """Create (or update) the Gradio Space `repo_id` with `space_files`; returns its URL.
    Needs a write token (`huggingface-cli login` or `token`)."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
    api.upload_folder(repo_id=repo_id, repo_type="space", folder_path=str(Path(root).resolve()),
                      allow_patterns=SPACE_FILES, ignore_patterns=NEVER,
                      commit_message="Deploy EmoDiff (emodiff deploy-space)")
    return f"https://huggingface.co/spaces/{repo_id}"
