"""EmoDiff web demo (Gradio). Run: `python app.py` (or `gradio app.py`); open http://127.0.0.1:7860.

A thin UI over `emodiff.service.EmoDiff`: each click calls one of its methods; the models warm up
in the background. Environment (README, "The app"): EMODIFF_CHECKPOINTS, EMODIFF_STUDY_DIR, EMODIFF_ADMIN_TOKEN.
"""
from __future__ import annotations

import functools
import logging
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no telemetry calls
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

from emodiff import EMOTIONS, AudioError  # noqa: E402
from emodiff.audio import audio_info, load_clips, read_span, save_audio  # noqa: E402
from emodiff.checkpoint import CheckpointError  # noqa: E402
from emodiff.plotting import plot_mels, plot_timeline  # noqa: E402
from emodiff.sampling import DEFAULT_GUIDANCE, DEFAULT_INTENSITY, ENHANCE_STEPS, INTENSITY  # noqa: E402
from emodiff.service import CHECKPOINTS, EmoDiff  # noqa: E402
from emodiff.study import Study, study_folder  # noqa: E402
from emodiff.study_page import StudyPage, refuse  # noqa: E402

ROOT = Path(__file__).resolve().parent
EXAMPLES = ROOT / "examples"
MAX_UPLOAD = "120mb"  # ten minutes of 44.1 kHz stereo WAV for the timeline; other tabs crop at 30 s
MAX_SPEAKER_CLIPS = 60
LONG = 8.0  # seconds: a recording longer than this likely holds more than one emotion
log = logging.getLogger("emodiff.app")


@functools.cache
def models() -> EmoDiff:
    return EmoDiff(os.environ.get("EMODIFF_CHECKPOINTS", CHECKPOINTS))


@functools.cache
def study() -> Study:
    return Study(study_folder(ROOT / "study")[0])


def _refuse(message: str) -> gr.Error:
    """A user's mistake: one line in the log, a message on the page, no traceback."""
    log.info("refused: %s", message)
    return refuse(message)


def _model(action, *args, **kwargs):
    """`action(*args)`, a missing or broken model reported as a message."""
    try:
        return action(*args, **kwargs)
    except (CheckpointError, FileNotFoundError) as e:
        raise gr.Error(f"The model is not available on this server: {e}") from e


def _audio(path):
    if not path:
        raise _refuse("Please upload or record a clip first.")
    try:
        audio = _model(models().load, path)
    except AudioError as e:
        raise _refuse(str(e)) from e
    if audio.notice:
        gr.Warning(audio.notice)
    return audio


_DOWNLOADS = Path(tempfile.mkdtemp(prefix="emodiff_"))


def _download_path(name: str) -> Path:
    """A fresh file for a download; files older than an hour are removed (disk stays bounded)."""
    for old in _DOWNLOADS.glob("*"):
        if time.time() - old.stat().st_mtime > 3600:
            old.unlink(missing_ok=True)
    return _DOWNLOADS / f"{uuid.uuid4().hex[:8]}_{name}"


def _pcm(samples):
    """float waveform -> 16-bit PCM at the models' rate, for the browser (what gr.Audio would
    convert to anyway)."""
    return models().sample_rate, (np.clip(samples, -1, 1) * 32767).astype(np.int16)


def _loading(*names):
    """Say so when a request has to wait for models still loading (just after a start)."""
    if not set(names) <= set(models().loaded()):
        gr.Info("Loading the models: the first request after the server starts takes up to half a minute.")


def _seed(seed):
    return None if seed is None or seed < 0 else int(seed)


def _mels(mels, titles):
    return plot_mels([m.numpy() for m in mels], titles, models().mel_config)


# ---- handlers: one library call each ---------------------------------------------------

def classify(path):
    """Recognise: clip -> confidences and its mel."""
    audio = _audio(path)
    if (audio.cropped_from or audio.seconds) > LONG:
        gr.Info(f"{audio.cropped_from or audio.seconds:.0f} s is long for one label: the Timeline tab shows where "
                "the emotion changes.")
    _loading("classifier")
    probs = _model(models().recognise, audio)
    rate = models().sample_rate
    return probs, _mels([models().mel(audio)], [f"{audio.seconds:.1f} s (analysed at {rate:,} Hz)"])


def classify_speaker(paths):
    """Recognise, several clips of one speaker: one row per clip. Unreadable clips are named and
    skipped; the speaker-normalised model takes the speaker's average spectrum from the rest."""
    paths = [p for p in (paths or []) if p]
    if len(paths) < 2:
        raise _refuse("Upload at least two clips of the same speaker (ideally several emotions).")
    if len(paths) > MAX_SPEAKER_CLIPS:
        raise _refuse(f"{len(paths)} clips: at most {MAX_SPEAKER_CLIPS} at a time, please.")
    clips, failed = _model(load_clips, paths, sample_rate=models().sample_rate, crop=True)
    if failed:
        gr.Warning("Skipped " + "; ".join(f"{Path(p).name}: {reason}" for p, reason in failed.items()))
    if len(clips) < 2:
        raise _refuse("Fewer than two of the clips could be read; see the warnings.")
    _loading("speaker_classifier")
    rows = []
    for name, probs in zip([Path(p).name for p in clips], _model(models().recognise_speaker, clips.values())):
        (first, p1), (second, p2) = sorted(probs.items(), key=lambda kv: -kv[1])[:2]
        rows.append([name, first, round(p1, 3), second, round(p2, 3)])
    return rows


CLEARER = "make its emotion clearer"
ACTIONS = [CLEARER, *(f"change it to {e}" for e in EMOTIONS)]


def enhance(path, action, intensity, steps, seed, progress=gr.Progress(track_tqdm=True)):
    """Enhance: clip -> original vs enhanced mels (one colour scale), both audios, both
    confidences, and in words whether the target was reached."""
    audio = _audio(path)
    if action not in ACTIONS or intensity not in INTENSITY:
        raise _refuse(f"Choose what to do ({', '.join(ACTIONS)}) and an intensity ({', '.join(INTENSITY)}).")
    _loading("classifier", "pipeline")
    target = None if action == CLEARER else action.rsplit(" ", 1)[-1]
    out = _model(models().enhance, audio, target, None, int(steps), INTENSITY[intensity], _seed(seed))
    fig = _mels([out.source_mel, out.mel], ["original", f"enhanced toward {out.target}"])
    return fig, _pcm(audio.samples), _pcm(out.wave.numpy()), out.before, out.after, out.verdict()


def generate(emotion, reference, seconds, steps, guidance, seed, progress=gr.Progress(track_tqdm=True)):
    """Generate: emotion (+ optional style reference) -> mel, audio, downloadable WAV."""
    ref = _audio(reference) if reference else None
    _loading("pipeline")
    out = _model(models().generate, emotion, ref, seconds, int(steps), guidance, _seed(seed))
    wav = _download_path(f"emodiff_{emotion}.wav")
    save_audio(wav, out.wave.numpy(), models().sample_rate)
    return _mels([out.mel], [f"generated: {emotion}"]), _pcm(out.wave.numpy()), str(wav)


def generate_example(emotion):
    """Generate with every default (no reference, 3 s, seed 0): what the cached examples show."""
    return generate(emotion, None, 3.0, 25, DEFAULT_GUIDANCE, 0)


def analyse_timeline(path, window, progress=gr.Progress()):
    """Timeline: a long recording -> the emotion-over-time plot, a table of segments, a CSV."""
    if not path:
        raise _refuse("Please upload a recording first.")
    _loading("classifier")
    try:
        rate, frames = audio_info(path)
        result = _model(models().timeline, path, window=float(window), hop=float(window) / 2,
                        progress=lambda read: progress(min(read * rate / frames, 1.0), desc="listening for speech"))
    except AudioError as e:
        raise _refuse(str(e)) from e
    table = _download_path("timeline.csv")
    table.write_text(result.to_csv())
    rows = [[r["start"], r["end"], r["emotion"], r[r["emotion"]]] for r in result.rows()]
    return plot_timeline(result, Path(path).name), rows, str(table)


def play_segment(path, rows, evt: gr.SelectData):
    """Timeline: the segment of the clicked row, to hear."""
    if not path or rows is None or not len(rows):
        raise _refuse("Analyse a recording first.")
    row = rows.iloc[evt.index[0]]  # the table arrives as a pandas DataFrame
    return _pcm(read_span(path, float(row.iloc[0]), float(row.iloc[1]), models().sample_rate))



# ---- layout ------------------------------------------------------------------------------

def _recognise_tab():
    with gr.Row():
        with gr.Column():
            rec_in = gr.Audio(sources=["upload", "microphone"], type="filepath", label="speech")
            rec_button = gr.Button("Recognise", variant="primary")
        with gr.Column():
            rec_label = gr.Label(num_top_classes=6, label="emotion confidences")
            gr.Markdown("Calibrated on voices the models never heard: of clips shown at about 70 %, about 70 % "
                        "were right (see About).")
    rec_plot = gr.Plot(label="log-mel")
    rec_button.click(classify, rec_in, [rec_label, rec_plot], api_name="classify", concurrency_id="recognise")
    examples = sorted(str(p) for p in EXAMPLES.glob("*.wav"))
    if examples:
        gr.Examples(examples, rec_in, [rec_label, rec_plot], fn=classify, cache_examples=True, cache_mode="lazy")
    with gr.Accordion("Several clips of one speaker (more accurate)", open=False):
        gr.Markdown("Upload 2–60 clips of **one** speaker, ideally a dozen or more in several emotions. Two more "
                    "models then judge each clip against that speaker's own voice and vote with the one-clip "
                    "models, which is more accurate on a new voice than one clip alone (see the About tab).")
        spk_in = gr.File(file_count="multiple", file_types=["audio"], type="filepath", label="clips of one speaker")
        spk_button = gr.Button("Recognise all")
        spk_table = gr.Dataframe(headers=["clip", "emotion", "confidence", "runner-up", "runner-up confidence"],
                                 label="per clip", interactive=False)
        spk_button.click(classify_speaker, spk_in, spk_table, api_name="classify_speaker", concurrency_id="recognise")


def _enhance_tab(sampling: dict):
    with gr.Row():
        enh_in = gr.Audio(sources=["upload", "microphone"], type="filepath", label="speech")
        with gr.Column():
            action = gr.Dropdown(ACTIONS, value=CLEARER, label="what to do")
            intensity = gr.Radio(list(INTENSITY), value=DEFAULT_INTENSITY, label="intensity",
                                 info="how hard the emotion is pushed")
            with gr.Accordion("sampling", open=False):
                steps = gr.Slider(**sampling)
                seed = gr.Number(value=0, precision=0, label="seed (-1: random)")
            button = gr.Button("Enhance", variant="primary")
    verdict = gr.Markdown()
    plot = gr.Plot(label="original vs enhanced")
    with gr.Row():
        original = gr.Audio(label="original", interactive=False)
        enhanced = gr.Audio(label="enhanced", interactive=False)
    with gr.Row():
        before = gr.Label(num_top_classes=6, label="confidences before")
        after = gr.Label(num_top_classes=6, label="confidences after")
    gr.Markdown("These confidences are the two CNNs', which read the mel the generator makes; the Recognise tab "
                "also asks the two statistics models (openSMILE's, the voice encoder's), so its numbers for the "
                "same clip differ. Judged by models that had no part in this app, a change reaches its target "
                "about one time in three; the speakers' own recordings of that emotion, half to two thirds of the "
                "time (see the About tab).")
    button.click(enhance, [enh_in, action, intensity, steps, seed], [plot, original, enhanced, before, after, verdict],
                 api_name="enhance", concurrency_id="diffusion", concurrency_limit=1)


def _generate_tab(sampling: dict, guidance: dict):
    with gr.Row():
        with gr.Column():
            emotion = gr.Dropdown(list(EMOTIONS), value="happy", label="emotion")
            reference = gr.Audio(sources=["upload", "microphone"], type="filepath", label="style reference (optional)")
            seconds = gr.Slider(1.0, 6.0, value=3.0, step=0.5, label="length (s)")
            with gr.Accordion("sampling", open=False):
                steps, scale = gr.Slider(**sampling), gr.Slider(**guidance)
                seed = gr.Number(value=0, precision=0, label="seed (-1: random)")
            button = gr.Button("Generate", variant="primary")
        with gr.Column():
            plot = gr.Plot(label="generated mel")
            audio = gr.Audio(label="generated audio", interactive=False)
            wav = gr.File(label="download WAV")
    inputs, outputs = [emotion, reference, seconds, steps, scale, seed], [plot, audio, wav]
    button.click(generate, inputs, outputs, api_name="generate", concurrency_id="diffusion", concurrency_limit=1)
    gr.Examples([[e] for e in EMOTIONS], [emotion], outputs, fn=generate_example, cache_examples=True,
                cache_mode="lazy", label="examples (3 s, defaults; computed once, then served from the cache)")


def _timeline_tab():
    gr.Markdown("A long recording (an interview, a call; up to an hour): where there is speech, and which "
                "emotion each stretch carries. Click a segment to hear it.")
    with gr.Row():
        with gr.Column():
            upload = gr.File(file_types=["audio"], type="filepath", label="recording")
            window = gr.Slider(1.0, 4.0, value=2.0, step=0.5, label="window (s): what the classifier hears at a time")
            button = gr.Button("Analyse", variant="primary")
        csv_file = gr.File(label="segments (CSV)")
    plot = gr.Plot(label="emotion over time")
    table = gr.Dataframe(headers=["start (s)", "end (s)", "emotion", "confidence"], label="segments",
                         interactive=False)
    segment = gr.Audio(label="segment", interactive=False)
    button.click(analyse_timeline, [upload, window], [plot, table, csv_file], api_name="timeline",
                 concurrency_id="recognise")
    table.select(play_segment, [upload, table], segment)


def _listening_tab(demo: gr.Blocks):
    folder, lasting = study_folder(ROOT / "study")
    page = StudyPage(study())
    page.build(demo)
    with gr.Accordion("Admin", open=False):
        gr.Markdown(f"Answers are kept in `{folder}`" + ("." if lasting else ", a disk a Hugging Face Space wipes on "
                    "restart: give the Space persistent storage (`/data`) or export often."))
        page.build_admin(_download_path)


def build_demo() -> gr.Blocks:
    """The page. Each tab's events have their own queue (recognition, diffusion one at a
    time, the listening test), so a long diffusion job never holds up the others."""
    os.environ["GRADIO_EXAMPLES_CACHE"] = str(_DOWNLOADS / "examples")  # this process's models only
    sampling = dict(minimum=5, maximum=50, step=1, value=25, label="solver steps")
    guidance = dict(minimum=1.0, maximum=5.0, value=DEFAULT_GUIDANCE, step=0.5, label="guidance")
    # delete_cache: Gradio's copies of uploads and outputs go after an hour.
    with gr.Blocks(title="EmoDiff", delete_cache=(3600, 3600)) as demo:
        gr.Markdown("# EmoDiff\nSpeech-emotion recognition and emotion-conditioned mel diffusion "
                    "(EmoDB + RAVDESS; six emotions). Audio up to 30 s; longer clips are cropped.")
        with gr.Tab("Recognise"):
            _recognise_tab()
        with gr.Tab("Enhance"):
            _enhance_tab(dict(sampling, value=ENHANCE_STEPS))
        with gr.Tab("Generate"):
            _generate_tab(sampling, guidance)
        with gr.Tab("Timeline"):
            _timeline_tab()
        with gr.Tab("Listening test"):
            _listening_tab(demo)
        with gr.Tab("About"):
            gr.Markdown(about())
    return demo.queue(default_concurrency_limit=2, max_size=32)


def about() -> str:
    """What the models can and cannot do in plain words, the credits, then the model cards."""
    return "\n\n".join([(ROOT / "docs" / "about.md").read_text(), *models().cards()])


demo = build_demo()  # module level, so that `gradio app.py` finds it

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    threading.Thread(target=models().warm_up, name="warm-up", daemon=True).start()
    demo.launch(max_file_size=MAX_UPLOAD, server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
