"""EmoDiff web demo (Gradio). Run: `python app.py`, then open http://127.0.0.1:7860.

A thin UI over `emodiff`: for now, upload or record speech and see its log-mel, the exact
representation the classifier and the diffusion model work on.
"""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no telemetry calls

import gradio as gr  # noqa: E402

from emodiff import AudioError, load_audio, mel_spectrogram  # noqa: E402
from emodiff.plotting import plot_mel  # noqa: E402

MAX_UPLOAD = "20mb"


def show_mel(path: str | None):
    """Uploaded file path -> (mel figure, summary line)."""
    if not path:
        raise gr.Error("Please upload or record a clip first.")
    try:
        audio = load_audio(path, crop=True)
    except AudioError as e:
        raise gr.Error(str(e)) from e
    if audio.notice:
        gr.Warning(audio.notice)
    mel = mel_spectrogram(audio.samples)
    summary = (f"{audio.seconds:.2f} s, {audio.source_rate} Hz, {audio.channels} channel(s) -> "
               f"{mel.shape[0]} mel bands x {mel.shape[1]} frames at 22,050 Hz")
    return plot_mel(mel.numpy(), "log-mel spectrogram"), summary


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="EmoDiff") as demo:
        gr.Markdown("# EmoDiff\nSpeech-emotion recognition and emotion-conditioned mel "
                    "diffusion. Upload or record speech (WAV, FLAC, OGG or MP3, up to 30 s).")
        audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="speech")
        button = gr.Button("Show mel", variant="primary")
        plot = gr.Plot(label="log-mel")
        info = gr.Textbox(label="clip", interactive=False)
        button.click(show_mel, audio, [plot, info], api_name="mel")
        gr.Markdown("Data: EmoDB (Burkhardt et al., 2005) and RAVDESS (Livingstone & Russo, "
                    "2018, CC BY-NC-SA 4.0). Vocoder: HiFi-GAN universal (Kong et al., 2020).")
    return demo


if __name__ == "__main__":
    build_demo().queue(default_concurrency_limit=2).launch(max_file_size=MAX_UPLOAD)
