"""The shipped models as one object: what the app and the CLI call, one method per action.

`EmoDiff(folder)` knows which model folders make up the release (a local folder, or a Hub
repo id holding the same folders), loads each on first use, and refuses a set whose parts
disagree on the mel. Audio handed in is decoded once, at the rate the models read (their
saved `MelConfig`), so nothing here spells a sample rate.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .audio import Audio, load_audio
from .checkpoint import CheckpointError, model_folder, read_config
from .classifier import ClassifierConfig
from .loudness import TARGET_LUFS, loudness, set_loudness
from .mel import MelConfig, mel_of
from .sampling import CLARIFY_STRENGTH, CONVERT_STRENGTH, DEFAULT_GUIDANCE, ENHANCE_STEPS

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"
# The release: the one-clip classifiers vote (two CNN seeds, the functionals model and the
# voice-encoder statistics model); for several clips of one speaker the two statistics models
# normalised by speaker vote with them (README, "Recognition on unseen speakers").
# Only `classifier/` is required: a server may ship fewer.
REQUIRED = "classifier"
ONE_CLIP = ("classifier", "classifier_seed1", "functionals", "voice_statistics")
SEVERAL_CLIPS = ("functionals_speaker", "voice_statistics_speaker", *ONE_CLIP)
MEL = ("classifier", "classifier_seed1")  # the one-clip set's CNNs: what judges a mel (Enhance)
DIFFUSION = "diffusion"
SHIPPED = (*dict.fromkeys(ONE_CLIP + SEVERAL_CLIPS), DIFFUSION)
# Each set's own temperature, fitted on held-out speakers (train/ensemble_cv.py --calibrate --ship).
ENSEMBLES = "ensembles.json"
log = logging.getLogger(__name__)


def _once(load):
    """A model loaded on first use, and once only, even when requests (or the warm-up) ask
    for it at the same time."""
    name = load.__name__

    @functools.wraps(load)
    def get(self):
        if name not in self._models:
            with self._locks.setdefault(name, threading.Lock()):  # one lock per model: loading one
                if name not in self._models:                     # never holds up another
                    self._models[name] = load(self)
        return self._models[name]
    return property(get)


@dataclass
class Enhanced:
    source_mel: torch.Tensor  # (n_mels, T) raw log-mel of the clip as given
    mel: torch.Tensor  # (n_mels, T) after enhancement
    wave: torch.Tensor  # vocoded `mel`
    target: str
    before: dict  # {emotion: probability} of the source, CNN members of the one-clip ensemble
    after: dict  # the same of the enhanced mel

    def verdict(self) -> str:
        """In words, whether the recogniser now hears the target (or, made clearer, hears it more
        surely). It is this app's own model, so this is a hint, not proof: results/enhancement*.json
        measure it independently."""
        heard, was = max(self.after, key=self.after.get), max(self.before, key=self.before.get)
        moved = f"**{self.target}** {self.before[self.target]:.0%} → {self.after[self.target]:.0%}"
        if self.target == was:  # made clearer
            if heard == self.target and self.after[self.target] > self.before[self.target]:
                return f"Clearer: the recogniser hears {moved}."
            return f"Not clearer: the recogniser hears {moved}" + (f", now mostly **{heard}**." if heard != was
                                                                   else ".")
        if heard == self.target:
            return f"Reached: the recogniser now hears **{self.target}** ({moved})."
        return (f"Not reached: the recogniser still hears **{heard}** ({self.after[heard]:.0%}); {moved}. "
                "A stronger intensity pushes it harder.")


class EmoDiff:
    """The models in `folder` (default: the repository's checkpoints/). `classifiers` or
    `pipeline` name other folders instead (an ensemble of any saved classifiers; any pipeline)."""

    def __init__(self, folder=CHECKPOINTS, classifiers=None, pipeline=None, device: str = "cpu"):
        self.folder = model_folder(folder, allow=[f"{name}/*" for name in SHIPPED] + [ENSEMBLES])  # or a Hub repo id
        self.device = device
        self._classifiers = [model_folder(p) for p in classifiers] if classifiers else None
        self.pipeline_folder = model_folder(pipeline) if pipeline else self.folder / DIFFUSION
        self._models, self._locks = {}, {}

    def loaded(self) -> list[str]:
        """The models loaded so far."""
        return list(self._models)

    def present(self, names) -> list[Path]:
        """Folders of `names` this release has (the required one always, so its absence is reported)."""
        return [self.folder / n for n in names if n == REQUIRED or (self.folder / n).is_dir()]

    # ---- models, loaded on first use ---------------------------------------------------
    @_once
    def classifier(self):
        """One clip at a time: the plain classifiers voting."""
        from .evaluation import Ensemble

        return Ensemble.from_pretrained(self._classifiers or self.present(ONE_CLIP), self.device,
                                        self.temperature("one_clip", ONE_CLIP), self.temperature("mel", MEL))

    @_once
    def speaker_classifier(self):
        """Several clips of one speaker: the speaker-normalised classifiers vote with the plain
        ones (more accurate across speakers than either); the plain ones alone where a server
        does not ship them."""
        from .evaluation import Ensemble

        return Ensemble.from_pretrained(self._classifiers or self.present(SEVERAL_CLIPS), self.device,
                                        self.temperature("several_clips", SEVERAL_CLIPS))

    def temperature(self, name: str, members) -> float:
        """Set `name`'s ensemble temperature from ensembles.json: fitted for exactly these
        members, so 1 (none) when the release lacks one of them or other classifiers were asked for."""
        path = self.folder / ENSEMBLES
        if self._classifiers or not path.is_file() or len(self.present(members)) != len(members):
            return 1.0
        return float(json.loads(path.read_text()).get(name, {}).get("temperature", 1.0))

    @_once
    def pipeline(self):
        from .diffusion import load_pipeline

        pipe = load_pipeline(self.pipeline_folder, self.device)
        if pipe.mel_config != self.mel_config:
            raise CheckpointError(f"The diffusion pipeline at {self.pipeline_folder} makes another mel than the "
                                  "classifiers read.")
        return pipe

    @functools.cached_property
    def prosody(self):
        """The prosody step's statistics (`prosody.ProsodyStats`, measured on the generator's
        training speakers) if the pipeline folder has them: changing a clip's emotion then first
        moves its pitch and rate from the emotion heard toward the target's."""
        from .prosody import PROSODY_FILE, ProsodyStats

        path = Path(self.pipeline_folder) / PROSODY_FILE
        return ProsodyStats.load(path) if path.is_file() else None

    @functools.cached_property
    def mel_config(self) -> MelConfig:
        """The mel every model of the release reads: the classifier's, from its saved config
        (read without loading the weights, so the app can decode before any model loads)."""
        if "classifier" in self._models and self.classifier.mel_config is not None:
            return self.classifier.mel_config
        first = (self._classifiers or self.present(ONE_CLIP))[0]
        return ClassifierConfig.from_dict(read_config(first, "classifier")[0]).mel

    @property
    def sample_rate(self) -> int:
        return self.mel_config.sample_rate

    # ---- actions -----------------------------------------------------------------------
    def load(self, source) -> Audio:
        """Anything `load_audio` takes, decoded at the models' rate; long input is cropped."""
        return load_audio(source, sample_rate=self.sample_rate, crop=True)

    def mel(self, audio) -> torch.Tensor:
        """The raw log-mel (n_mels, T) the models read, of a source or a loaded `Audio`."""
        return mel_of(audio, self.mel_config)

    def recognise(self, audio) -> dict[str, float]:
        """One clip -> {emotion: probability}, every one-clip model voting."""
        return self.classifier.predict(audio)

    def ensemble_for(self, n_clips: int):
        """The ensemble that judges `n_clips` clips of one speaker: the speaker one for two or more."""
        return self.speaker_classifier if n_clips > 1 else self.classifier

    def recognise_speaker(self, audios) -> list[dict[str, float]]:
        """Clips of one speaker -> each clip's {emotion: probability}; speaker-normalised
        members take the speaker's average spectrum from all of them."""
        audios = list(audios)
        return self.ensemble_for(len(audios)).predict_speaker(audios)

    def enhance(self, audio, target: str | None = None, strength: float | None = None, steps: int = ENHANCE_STEPS,
                guidance: float = DEFAULT_GUIDANCE, seed: int | None = 0, sampler: str = "dpm",
                keep_envelope: bool | None = None) -> Enhanced:
        """The clip pushed toward `target` (None: its own predicted emotion, made clearer),
        with the CNN members' confidences before and after (the enhanced clip exists as a mel);
        its audio as loud as the source's. Toward another emotion than the one heard, the
        prosody step (`prosody`) runs first where the release has it, and by default the clip
        is redrawn from noise with its envelope held (`diffusion.envelope`: the words stay);
        made clearer, it is partly noised (`sampling.CLARIFY_STRENGTH`). `strength` and
        `keep_envelope` override either."""
        from .diffusion import mel_seed

        source = audio if isinstance(audio, torch.Tensor) else self.mel(audio)  # analysed once
        before = self.classifier.confidences(source)
        heard = max(before, key=before.get)
        target = target or heard
        convert = target != heard
        start = source
        if self.prosody is not None and convert and not isinstance(audio, torch.Tensor):
            start = self.mel(dataclasses.replace(audio, samples=self.prosody.move(audio.samples, audio.sample_rate,
                                                                                  heard, target)))
        if strength is None:
            strength = CONVERT_STRENGTH if convert else CLARIFY_STRENGTH
        out = self.pipeline.enhance(start, target, strength=strength,
                                    steps=steps, guidance=guidance, generator=mel_seed(seed), sampler=sampler,
                                    keep_envelope=convert if keep_envelope is None else keep_envelope)
        level = TARGET_LUFS if isinstance(audio, torch.Tensor) else loudness(audio.samples, audio.sample_rate)
        return Enhanced(source, out.mel, self._at(out.wave, level), target, before,
                        self.classifier.confidences(out.mel))

    def generate(self, emotion: str, reference=None, seconds: float = 3.0, steps: int = 25,
                 guidance: float = DEFAULT_GUIDANCE, seed: int | None = 0, sampler: str = "dpm"):
        """A new clip of `emotion` (in the voice of `reference`, if given) -> `MelOutput`, its
        audio at the standard loudness (`loudness.TARGET_LUFS`)."""
        from .diffusion import mel_seed

        out = self.pipeline.generate(emotion, reference=reference, seconds=seconds, steps=steps,
                                     guidance=guidance, generator=mel_seed(seed), sampler=sampler)
        return dataclasses.replace(out, wave=self._at(out.wave, TARGET_LUFS))

    def _at(self, wave: torch.Tensor, lufs: float) -> torch.Tensor:
        """`wave` set to `lufs` (as far as its peak allows): an enhanced clip as loud as its
        source, a generated one at the standard level. The model's own level swings by tens of
        dB with the emotion (a generated sad clip came out near -58 dBFS, nearly inaudible)."""
        return torch.from_numpy(set_loudness(wave.numpy(), self.sample_rate, lufs)[0])

    def timeline(self, path, window: float = 2.0, hop: float = 1.0, smooth: int = 3, progress=None):
        """A long recording's emotion over time (`timeline.timeline`), by the one-clip models."""
        from .timeline import timeline

        return timeline(path, self.classifier, window, hop, smooth, progress=progress)

    def cards(self) -> list[str]:
        """The model cards (README.md) of the release's folders, in `SHIPPED` order, without
        their Hub metadata (the YAML block a card opens with)."""
        cards = [(self.folder / n / "README.md").read_text() for n in SHIPPED
                 if (self.folder / n / "README.md").is_file()]
        return [c.split("---\n", 2)[2].lstrip() if c.startswith("---\n") else c for c in cards]

    def warm_up(self) -> None:
        """Load every model and run each once on a second of a tone, so that the first request
        is as fast as the rest (the app calls this in the background at start). A part the
        release lacks (or cannot load) is logged and skipped: requests then report it."""
        t = np.arange(self.sample_rate) / self.sample_rate
        tone = (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
        audio = Audio(tone, self.sample_rate, self.sample_rate, 1)
        for name, run in (("one-clip classifiers", lambda: self.recognise(audio)),
                          ("speaker classifiers", lambda: self.recognise_speaker([audio, audio])),
                          ("diffusion + vocoder", lambda: self.generate("neutral", seconds=0.5, steps=2))):
            try:
                run()
            except (CheckpointError, FileNotFoundError, ValueError) as e:
                log.warning("warm-up: %s not available: %s", name, e)
        log.info("warm-up done: %s", ", ".join(self.loaded()))
