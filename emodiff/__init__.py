"""EmoDiff: speech-emotion recognition and emotion-conditioned mel diffusion."""
from .audio import Audio, AudioError, MelConfig, MelNormalizer, load_audio, mel_spectrogram
from .data import EMOTIONS

__version__ = "0.1.0"
__all__ = ["Audio", "AudioError", "EMOTIONS", "MelConfig", "MelNormalizer", "load_audio",
           "mel_spectrogram"]
