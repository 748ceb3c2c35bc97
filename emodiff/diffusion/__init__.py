"""Emotion-conditioned mel diffusion: network (`unet`, `style`), pipeline loop (`pipeline`);
noise schedules come from diffusers."""
from .pipeline import EmotionDiffusionPipeline, MelOutput, load_pipeline, mel_seed, training_scheduler
from .style import MelStyleEncoder
from .unet import MelDenoiser

__all__ = ["EmotionDiffusionPipeline", "MelDenoiser", "MelOutput", "MelStyleEncoder", "load_pipeline",
           "mel_seed", "training_scheduler"]
