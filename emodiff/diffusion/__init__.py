"""Emotion-conditioned mel diffusion: network (`unet`, `style`), classifier-free guidance
(`guidance`), pipeline loop (`pipeline`), training pieces (`training`); noise schedules come
from diffusers."""
from .guidance import drop_conditions, guided_prediction
from .pipeline import (EmotionDiffusionPipeline, MelOutput, load_pipeline, mel_seed, read_metadata,
                       training_scheduler, training_speakers)
from .style import MelStyleEncoder
from .unet import MelDenoiser

__all__ = ["EmotionDiffusionPipeline", "MelDenoiser", "MelOutput", "MelStyleEncoder", "drop_conditions",
           "guided_prediction", "load_pipeline", "mel_seed", "read_metadata", "training_scheduler",
           "training_speakers"]
