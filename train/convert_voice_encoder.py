"""Convert resemblyzer's voice encoder (its pip package ships the weights) into
checkpoints/voice_encoder/, the safetensors folder emodiff.voice_encoder loads.

    pip install --no-deps resemblyzer==0.1.4 && python train/convert_voice_encoder.py

Only the LSTM is kept: its layers' statistics are the features; the projection to the speaker
embedding is not used.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from emodiff.voice_encoder import FOLDER, VoiceEncoder


def from_resemblyzer() -> VoiceEncoder:
    import resemblyzer

    state = torch.load(Path(resemblyzer.__file__).parent / "pretrained.pt", map_location="cpu",
                       weights_only=True)["model_state"]
    model = VoiceEncoder()
    model.load_state_dict({f"lstm.{i}.{name}_l0": state[f"lstm.{name}_l{i}"] for i in range(model.cfg.layers)
                           for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
    return model.eval()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=FOLDER)
    args = p.parse_args(argv)
    from_resemblyzer().save_pretrained(args.out, {"source": "resemblyzer 0.1.4 (PyPI), pretrained.pt, lstm.*",
                                                  "licence": "Apache-2.0, Resemble AI"})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
