"""EmoDiff: speech-emotion recognition and emotion-conditioned mel diffusion."""
from .audio import Audio, AudioError, load_audio
from .data import EMOTIONS
from .mel import MelConfig, MelNormalizer, mel_spectrogram

__version__ = "0.1.0"
__all__ = ["Audio", "AudioError", "EMOTIONS", "MelConfig", "MelNormalizer", "load_audio",
           "mel_spectrogram"]
