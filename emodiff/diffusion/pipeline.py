"""EmotionDiffusionPipeline: generate a mel for an emotion, or enhance a clip toward one.

Trained with a DDPM noise schedule; sampled with a few-step solver from diffusers
(DPM-Solver++ by default, DDIM on request) under classifier-free guidance on the emotion.
Mels are generated in the normaliser's z-scored space and returned as raw log-mels, the
HiFi-GAN universal vocoder's input, together with the waveform. The normaliser's `mel_config`
is the pipeline's mel: audio handed in is analysed with it, and loading refuses a UNet or a
vocoder that reads another.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import DDIMScheduler, DDPMScheduler, DiffusionPipeline, DPMSolverMultistepScheduler

from ..checkpoint import CheckpointError, model_folder
from ..mel import MelConfig, MelNormalizer, mel_of
from ..sampling import DEFAULT_GUIDANCE
from .envelope import EnvelopeLock
from .guidance import guided_prediction
from .steering import STEERING_FILE, EmotionStatistics
from .unet import MelDenoiser

METADATA = "metadata.json"  # what the pipeline was trained on (speakers, arguments), beside its weights

SAMPLERS = {"dpm": DPMSolverMultistepScheduler, "ddim": DDIMScheduler, "ddpm": DDPMScheduler}


@dataclass
class MelOutput:
    mel: torch.Tensor  # (n_mels, T) raw log-mel
    wave: torch.Tensor | None  # (T * hop,) at 22,050 Hz, or None when not vocoded
    emotion: str
    strength: float | None = None


def training_scheduler() -> DDPMScheduler:
    """1000-step DDPM with the cosine schedule (better than linear for small, normalised
    data), v-prediction so few-step solvers stay stable at high noise. Timestep spacing is
    set explicitly ("trailing": few-step solvers start at t = T - 1, from pure noise): a
    value left at its default would differ between this object and the same config read
    back from disk, since diffusers swaps in each solver's own default only for the former."""
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2",
                         prediction_type="v_prediction", clip_sample=False, timestep_spacing="trailing")


class EmotionDiffusionPipeline(DiffusionPipeline):
    """`generate(emotion, ...)` and `enhance(audio, ...)`; see each for arguments.

    Saved as a folder: model_index.json, unet/ (config + fp16 safetensors), scheduler/,
    normalizer.json, metadata.json (training speakers and arguments).
    """

    def __init__(self, unet: MelDenoiser, scheduler: DDPMScheduler):
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler)
        self.normalizer: MelNormalizer | None = None
        self.metadata: dict = {}
        self.steering: EmotionStatistics | None = None  # `steering.py`; enhance's `steer` needs it
        self._vocoder = None

    # ---- persistence -------------------------------------------------------------------
    def save_pretrained(self, path, fp16: bool = True, **kwargs):
        restore = fp16 and self.unet.dtype == torch.float32
        if fp16:
            self.unet.half()
        super().save_pretrained(path, safe_serialization=True, **kwargs)
        if restore:  # back to fp32 for training; the model's `to(dtype)` would warn
            self.unet.float()
        self.normalizer.save(Path(path) / "normalizer.json")
        (Path(path) / METADATA).write_text(json.dumps(self.metadata, indent=1))

    @classmethod
    def from_pretrained(cls, path, **kwargs) -> "EmotionDiffusionPipeline":
        pipe = super().from_pretrained(path, **kwargs)
        # Weights ship in fp16; CPUs want fp32. Cast here: the loader's dtype keyword changed name
        # across diffusers versions (torch_dtype is deprecated in 0.42), and the model's `to` warns.
        pipe.unet.float()
        pipe.normalizer = MelNormalizer.load(Path(path) / "normalizer.json")
        pipe.metadata = read_metadata(path)
        if (Path(path) / STEERING_FILE).is_file():
            pipe.steering = EmotionStatistics.load(Path(path) / STEERING_FILE)
        pipe.check_mels()
        return pipe

    def check_mels(self) -> None:
        """Refuse a UNet, normaliser and vocoder that disagree on the mel (a folder assembled
        from parts): each would run, and make noise."""
        n_unet, n_norm = self.unet.config.n_mels, self.mel_config.n_mels
        if n_unet != n_norm:
            raise CheckpointError(f"This pipeline's UNet reads {n_unet} mel bands but its normaliser "
                                  f"was fitted on {n_norm}.")
        from ..vocoder import check_mel, hifigan_config

        try:
            vocoder_mel = hifigan_config().mel
        except FileNotFoundError:  # no HiFi-GAN installed: Griffin-Lim inverts any mel
            return
        check_mel(vocoder_mel, self.mel_config)

    @property
    def mel_config(self) -> MelConfig:
        return self.normalizer.mel_config

    @property
    def emotions(self) -> tuple:
        return tuple(self.unet.config.emotions)

    @property
    def vocoder(self):
        if self._vocoder is None:
            from ..vocoder import Vocoder

            self._vocoder = Vocoder(self.mel_config)
        return self._vocoder

    # ---- helpers -----------------------------------------------------------------------
    def _emotion_index(self, emotion: str) -> int:
        if emotion not in self.emotions:
            raise ValueError(f"Unknown emotion {emotion!r}; choose from {', '.join(self.emotions)}.")
        return self.emotions.index(emotion)

    def _as_mel(self, source) -> torch.Tensor:
        """Audio (anything `load_audio` takes, or an `Audio`) or a raw log-mel tensor -> (n_mels, T)."""
        if isinstance(source, torch.Tensor) and source.dim() == 2:
            return source.float()
        return mel_of(source, self.mel_config)

    def _frames(self, frames: int) -> int:
        """Round up to what the UNet's down/up-sampling needs."""
        m = 2 ** (len(self.unet.config.channels) - 1)
        return -(-frames // m) * m

    def _sampler(self, name: str, steps: int):
        if name not in SAMPLERS:
            raise ValueError(f"Unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}.")
        extra = {"algorithm_type": "dpmsolver++"} if name == "dpm" else {}
        config = {k: v for k, v in self.scheduler.config.items() if k != "_use_default_values"}
        sampler = SAMPLERS[name].from_config(config, **extra)
        sampler.set_timesteps(steps)
        return sampler

    @torch.inference_mode()
    def style_of(self, mel: torch.Tensor) -> torch.Tensor:
        """(n_mels, T) raw log-mel -> (1, style_dim) style vector."""
        z = self.normalizer.normalize(mel)[None].to(self.device, self.unet.dtype)
        return self.unet.style_encoder(z)

    def styles_of(self, mels) -> torch.Tensor:
        """Raw log-mels of any lengths (tensors or arrays) -> (B, style_dim), one at a time so
        that no clip is padded to another's length."""
        return torch.cat([self.style_of(torch.as_tensor(m, dtype=torch.float32)) for m in mels])

    @torch.inference_mode()
    def _denoise(self, x, timesteps, sampler, emotions, style, guidance: float, generator,
                 steer: float = 0.0, frames: int | None = None, source: torch.Tensor | None = None,
                 lock: EnvelopeLock | None = None):
        """The reverse process from x (B, n_mels, T) at timesteps[0] down to 0, under
        classifier-free guidance on the emotion (`guided_prediction`). Each step's clean
        estimate may be edited: with `steer` > 0, moved `steer` (unit-RMS steps, in normalised
        units; its first `frames` frames judged) up the `steering` model's log-probability of
        the emotion; with `lock`, given the source's envelope (`envelope.EnvelopeLock`).
        `source`: a conversion network's normalised source mels, x's shape."""
        emotions = torch.as_tensor(emotions, device=self.device).reshape(x.shape[0])
        if steer > 0:
            names = [self.emotions[i] for i in emotions.tolist()]
            to_raw = lambda z: self.normalizer.denormalize(z.float().cpu())[..., :frames]  # noqa: E731
        for t in self.progress_bar(timesteps):
            pred = guided_prediction(self.unet, sampler.scale_model_input(x, t), t.to(self.device), emotions,
                                     style, guidance, source)
            # v-prediction: x0 = a x - s v, so moving x0 by d moves v by -d / s
            a, s = sampler.alphas_cumprod[t].sqrt(), (1 - sampler.alphas_cumprod[t]).sqrt()
            if steer > 0:
                pred = pred - steer * self.steering.direction(a * x - s * pred, names, to_raw).to(x) / s
            if lock is not None:
                x0 = a * x - s * pred
                held = self.normalizer.normalize(lock(self.normalizer.denormalize(x0.float().cpu())))
                pred = pred - (held.to(x) - x0) / s
            x = sampler.step(pred, t, x, generator=generator).prev_sample
        return x

    def generate_batch(self, emotions, frames: int = 128, steps: int = 25, guidance: float = DEFAULT_GUIDANCE,
                       generator: torch.Generator | None = None, references=None,
                       sampler: str = "dpm", style: torch.Tensor | None = None) -> torch.Tensor:
        """Many mels at once (data augmentation): `emotions` list of names, optional
        `references` list of raw log-mels (one per emotion) or `style` vectors (B, style_dim),
        e.g. blends of `style_of` vectors, voices no reference has -> (B, n_mels, frames') raw
        log-mels, frames' = `frames` rounded up to what the UNet needs."""
        idx = [self._emotion_index(e) for e in emotions]
        frames = self._frames(max(frames, 8))
        if references is not None:
            if style is not None:
                raise ValueError("Give references or style vectors, not both.")
            style = self.styles_of(references)
        if style is not None:
            style = style.to(self.device, self.unet.dtype)
        solver = self._sampler(sampler, steps)
        x = torch.randn((len(idx), self.unet.config.n_mels, frames), generator=generator,
                        dtype=self.unet.dtype).to(self.device) * solver.init_noise_sigma
        z = self._denoise(x, solver.timesteps, solver, idx, style, guidance, generator)
        return self.normalizer.denormalize(z.float().cpu())

    def enhance_batch(self, mels: torch.Tensor, emotions, strength: float = 0.5, steps: int = 25,
                      guidance: float = DEFAULT_GUIDANCE, generator: torch.Generator | None = None,
                      sampler: str = "dpm", steer: float = 0.0, keep_envelope: bool = False) -> torch.Tensor:
        """SDEdit on many raw log-mels of one length at once (B, n_mels, T) -> (B, n_mels, T),
        each toward its emotion in `emotions` (names) and styled on itself; `steer` > 0 adds
        statistics steering, `keep_envelope` holds each source's envelope (`_denoise`)."""
        if not 0.0 < strength <= 1.0:
            raise ValueError("strength must be in (0, 1].")
        if steer > 0 and self.steering is None:
            raise ValueError(f"Steering needs {STEERING_FILE} in the pipeline folder (train/fit_steering.py).")
        if (steer > 0 or keep_envelope) and self.scheduler.config.prediction_type != "v_prediction":
            raise ValueError("Steering and the envelope lock are written for v-prediction models.")
        idx = [self._emotion_index(e) for e in emotions]
        mels, T = mels.float(), mels.shape[-1]
        frames = self._frames(T)
        padded = torch.nn.functional.pad(mels, (0, frames - T), value=self.mel_config.silence)
        z0 = self.normalizer.normalize(padded).to(self.device, self.unet.dtype)
        solver = self._sampler(sampler, steps)
        # Start part-way: the last `strength` share of the solver's steps.
        n_run = max(1, round(strength * steps))
        timesteps = solver.timesteps[steps - n_run:]
        if sampler == "dpm":
            solver.set_begin_index(steps - n_run)
        noise = torch.randn(z0.shape, generator=generator, dtype=z0.dtype).to(self.device)
        x = solver.add_noise(z0, noise, timesteps[:1])
        style = self.styles_of(mels)
        source = z0 if self.unet.config.source_channels else None
        lock = EnvelopeLock(padded) if keep_envelope else None
        z = self._denoise(x, timesteps, solver, idx, style, guidance, generator, steer, T, source, lock)
        return self.normalizer.denormalize(z[..., :T].float().cpu())

    # ---- the two modes -----------------------------------------------------------------
    def generate(self, emotion: str, reference=None, seconds: float = 3.0, steps: int = 25,
                 guidance: float = DEFAULT_GUIDANCE, generator: torch.Generator | None = None,
                 sampler: str = "dpm", vocode: bool = True) -> MelOutput:
        """A new mel for `emotion`, in the voice/style of `reference` (audio or raw log-mel)
        if given. `generator` makes it repeatable."""
        references = None if reference is None else [self._as_mel(reference)]
        frames = int(round(seconds * self.mel_config.frames_per_second))
        mel = self.generate_batch([emotion], frames, steps, guidance, generator, references, sampler)[0]
        return MelOutput(mel, self.vocoder(mel) if vocode else None, emotion)

    def enhance(self, source, target_emotion: str | None = None, strength: float = 0.5,
                steps: int = 25, guidance: float = DEFAULT_GUIDANCE, generator: torch.Generator | None = None,
                sampler: str = "dpm", classifier=None, vocode: bool = True, steer: float = 0.0,
                keep_envelope: bool = False) -> MelOutput:
        """Noise `source` to t = strength * T and denoise it under `target_emotion` (SDEdit,
        Meng et al. 2022). Without a target, the emotion `classifier` predicts for the clip
        is made clearer. The clip itself is the style reference, so the voice stays. `steer`:
        statistics steering toward the emotion (`steering.py`; 0: none). `keep_envelope`: the
        source's spectral envelope held at every step (`envelope.py`), so the words stay at any
        strength, 1 included."""
        mel = self._as_mel(source)
        if target_emotion is None:
            if classifier is None:
                raise ValueError("Give a target emotion, or a classifier to predict one.")
            if classifier.mel_config != self.mel_config:
                raise ValueError("The classifier reads another mel than this pipeline makes.")
            probs = classifier.mel_probabilities(mel)
            target_emotion = classifier.emotions[int(probs.argmax())]
        mel = self.enhance_batch(mel[None], [target_emotion], strength, steps, guidance, generator, sampler,
                                 steer=steer, keep_envelope=keep_envelope)[0]
        return MelOutput(mel, self.vocoder(mel) if vocode else None, target_emotion, strength)

    __call__ = generate


def read_metadata(path) -> dict:
    """A saved pipeline's training metadata (speakers, arguments, steps), without loading it."""
    file = Path(path) / METADATA
    return json.loads(file.read_text()) if file.is_file() else {}


def training_speakers(path) -> set[str]:
    """The speakers a saved pipeline was trained on, from its metadata: statistics measured for
    it (prosody, steering) come from these. Refuses a pipeline that does not say."""
    speakers = set(read_metadata(path).get("train_speakers", []))
    if not speakers:
        raise CheckpointError(f"{path} does not say which speakers it was trained on.")
    return speakers


def load_pipeline(path, device: str = "cpu") -> EmotionDiffusionPipeline:
    """A saved pipeline (a folder, or a Hub repo id: `checkpoint.model_folder`), ready to
    sample, without progress bars. diffusers itself never touches the network here."""
    path = model_folder(path)
    if not (Path(path) / "model_index.json").is_file():
        raise CheckpointError(f"No diffusion pipeline found at {path} (model_index.json is missing).")
    pipe = EmotionDiffusionPipeline.from_pretrained(path, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def mel_seed(seed: int | None) -> torch.Generator | None:
    return None if seed is None else torch.Generator().manual_seed(int(seed))
