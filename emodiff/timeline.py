"""Emotion over time in a long recording: where is speech, and which emotion does each stretch
carry?

1. Voice activity: Silero VAD (its model ships inside the `silero-vad` PyPI package) scores
   every 32 ms of the recording, read a block at a time at 16 kHz, and its own post-processing
   turns the scores into speech segments (short pauses bridged, long segments cut at 30 s).
2. Emotion: inside each segment, windows of `window` seconds every `hop` seconds are scored
   by the classifier (its CNN members, on the mel each reads); the windows' confidences are
   smoothed over `smooth` neighbours, and each segment is split where the smoothed top emotion
   changes.

Memory stays bounded: the recording is never held whole, only one block (30 s) while it is
scored for speech and one speech segment (30 s at most) while its emotion is.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .audio import AudioError, audio_info, read_span, stream_audio
from .mel import mel_spectrogram

VAD_RATE = 16000
VAD_CHUNK = 512  # samples Silero VAD scores at a time at 16 kHz (32 ms)
MAX_SEGMENT = 30.0  # seconds: longer speech is cut (at a pause where there is one)


@dataclass
class Segment:
    start: float  # seconds
    end: float
    emotion: str  # the top of `confidences`
    confidences: dict  # {emotion: mean smoothed probability over the segment's windows}


@dataclass
class Timeline:
    seconds: float  # the recording's length
    segments: list = field(default_factory=list)  # Segment, in time order
    windows: list = field(default_factory=list)  # (start, end, {emotion: probability}) before smoothing
    envelope: list = field(default_factory=list)  # peak |sample| per 32 ms (VAD_CHUNK at 16 kHz), for plots

    def rows(self) -> list[dict]:
        """One dict per segment: start, end, emotion and each emotion's confidence."""
        return [{"start": round(s.start, 2), "end": round(s.end, 2), "emotion": s.emotion,
                 **{e: round(p, 4) for e, p in s.confidences.items()}} for s in self.segments]

    def to_csv(self) -> str:
        out = io.StringIO()
        rows = self.rows()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["start", "end", "emotion"])
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()

    def to_json(self) -> str:
        return json.dumps({"seconds": round(self.seconds, 2), "segments": [asdict(s) for s in self.segments]},
                          indent=1)


def _silero():
    """Silero's TorchScript model. Importing the package sets torch to one thread for the whole
    process; that is undone here, so the classifiers keep theirs."""
    threads = torch.get_num_threads()
    from silero_vad import load_silero_vad

    torch.set_num_threads(threads)
    return load_silero_vad()


@torch.inference_mode()
def speech_probabilities(path, block_seconds: float = 30.0, progress=None) -> tuple[np.ndarray, int, np.ndarray]:
    """Silero's speech probability for every 32 ms of `path`, read a block at a time (the model
    is recurrent: one 32 ms step after another; scoring several blocks side by side as a batch
    measured no faster on this CPU). Returns (probabilities, samples at 16 kHz, envelope: the
    peak of each 32 ms). `progress`: called with the seconds read so far."""
    model, probs, envelope, n, carry = _silero(), [], [], 0, np.zeros(0, np.float32)
    model.reset_states()
    for block in stream_audio(path, VAD_RATE, block_seconds):
        n += len(block)
        block = np.concatenate([carry, block])
        whole = len(block) // VAD_CHUNK * VAD_CHUNK
        chunks = torch.from_numpy(block[:whole]).reshape(-1, VAD_CHUNK)
        probs += [float(model(chunk, VAD_RATE)) for chunk in chunks]
        envelope.append(chunks.abs().amax(1).numpy())
        carry = block[whole:]
        if progress:
            progress(n / VAD_RATE)
    return np.array(probs, np.float32), n, np.concatenate(envelope) if envelope else np.zeros(0)


def speech_segments(probs: np.ndarray, n_samples: int, min_speech: float = 0.25, min_silence: float = 0.3,
                    pad: float = 0.1) -> list[tuple[float, float]]:
    """(start, end) seconds of speech from the frame probabilities (Silero's own rules:
    hysteresis around 0.5, pauses shorter than `min_silence` bridged, `pad` added each side,
    segments over MAX_SEGMENT cut)."""
    from silero_vad import get_speech_timestamps_from_probs

    spans = get_speech_timestamps_from_probs(
        list(map(float, probs)), VAD_RATE, min_speech_duration_ms=int(min_speech * 1000),
        min_silence_duration_ms=int(min_silence * 1000), speech_pad_ms=int(pad * 1000),
        max_speech_duration_s=MAX_SEGMENT, audio_length_samples=n_samples)
    return [(s["start"] / VAD_RATE, s["end"] / VAD_RATE) for s in spans]


def window_confidences(path, spans, classifier, window: float = 2.0, hop: float = 1.0) -> list[list[tuple]]:
    """Per speech span, its windows (start, end, {emotion: probability}): the whole span if it
    is shorter than `window`, else `window`-long windows every `hop`, the last one ending with
    the span. `classifier`: an `Ensemble` (its CNN members vote) or an `EmotionClassifier`; a
    span's windows are scored in one batch."""
    from .evaluation import clip_probabilities

    members = getattr(classifier, "networks", [classifier])
    cfg = members[0].mel_config
    out = []
    for start, end in spans:
        samples = read_span(path, start, end, cfg.sample_rate)
        starts = [0.0] if end - start <= window else [*np.arange(0.0, end - start - window, hop), end - start - window]
        pieces = [(s, samples[int(s * cfg.sample_rate):int((s + window) * cfg.sample_rate)]) for s in starts]
        pieces = [(s, x) for s, x in pieces if len(x) >= cfg.n_fft]  # a speck of speech is too short to analyse
        if not pieces:
            out.append([])
            continue
        mels = [mel_spectrogram(x, cfg) for _, x in pieces]
        probs = np.mean([clip_probabilities(m, mels) for m in members], axis=0)
        out.append([(start + s, min(start + s + window, end), dict(zip(classifier.emotions, map(float, p))))
                    for (s, _), p in zip(pieces, probs)])
    return out


def split_by_emotion(windows: list[tuple], span: tuple, smooth: int = 3) -> list[Segment]:
    """A span's windows smoothed (a moving average over `smooth` windows) and labelled; the span
    is cut where the label changes, at the middle between the two windows' centres."""
    if not windows:
        return []
    emotions = list(windows[0][2])
    p = np.array([[w[2][e] for e in emotions] for w in windows])
    k = max(1, min(smooth, len(p)))
    padded = np.concatenate([p[:1].repeat(k // 2, 0), p, p[-1:].repeat((k - 1) // 2, 0)])
    p = np.stack([padded[i:i + k].mean(0) for i in range(len(windows))])
    top = p.argmax(1)
    centres = [(w[0] + w[1]) / 2 for w in windows]
    segments, first = [], 0
    for i in range(1, len(windows) + 1):
        if i == len(windows) or top[i] != top[first]:
            start = span[0] if first == 0 else (centres[first - 1] + centres[first]) / 2
            end = span[1] if i == len(windows) else (centres[i - 1] + centres[i]) / 2
            mean = p[first:i].mean(0)
            segments.append(Segment(start, end, emotions[int(mean.argmax())], dict(zip(emotions, map(float, mean)))))
            first = i
    return segments


def timeline(path, classifier, window: float = 2.0, hop: float = 1.0, smooth: int = 3,
             max_seconds: float = 3600.0, progress=None) -> Timeline:
    """The emotion timeline of an audio file (see the module's docstring). Raises `AudioError`
    for unreadable audio, a recording longer than `max_seconds`, or one with no speech."""
    rate, frames = audio_info(path)
    seconds = frames / rate
    if seconds > max_seconds:
        raise AudioError(f"The recording is {_duration(seconds)} long; the limit is {_duration(max_seconds)}.")
    probs, n, envelope = speech_probabilities(path, progress=progress)
    spans = speech_segments(probs, n)
    if not spans:
        raise AudioError(f"No speech found in the recording ({seconds:.1f} s): nothing to recognise.")
    per_span = window_confidences(path, spans, classifier, window, hop)
    segments = [s for span, windows in zip(spans, per_span) for s in split_by_emotion(windows, span, smooth)]
    return Timeline(seconds, segments, [w for ws in per_span for w in ws], envelope.tolist())


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


# ---- measuring it: recordings of known layout --------------------------------------------

def build_recording(records, n_clips: int, rate: int, seed: int = 0, pauses=(0.2, 3.0)) -> tuple[np.ndarray, list]:
    """Clips of `records` (drawn with `seed`, emotions in a random order) joined by pauses of
    near-silence (a faint noise floor, as a room has) of random lengths in `pauses` seconds:
    a long recording whose truth is known. Returns (samples at `rate`, layout: one dict per
    clip with the start and end of its speech (its own leading and trailing silence, a second
    in RAVDESS, is pause, not speech: 40 dB below the clip's peak), emotion, clip, speaker)."""
    import librosa

    from .audio import load_audio

    rng = np.random.default_rng(seed)
    chosen = [records[i] for i in rng.choice(len(records), min(n_clips, len(records)), replace=False)]
    pieces, layout, t = [], [], 0.0
    for r in chosen:
        gap = rng.uniform(*pauses)
        pieces.append((1e-4 * rng.standard_normal(int(gap * rate))).astype(np.float32))
        t += gap
        clip = load_audio(r.path, sample_rate=rate).samples
        pieces.append(clip)
        first, last = librosa.effects.trim(clip, top_db=40)[1]
        layout.append({"start": t + first / rate, "end": t + last / rate, "emotion": r.emotion, "clip": r.name,
                       "speaker": r.speaker})
        t += len(clip) / rate
    pieces.append((1e-4 * rng.standard_normal(int(pauses[0] * rate))).astype(np.float32))
    return np.concatenate(pieces), layout


def score(result: Timeline, layout: list, emotions) -> dict:
    """How a timeline matches a known layout: each clip's predicted emotion is the one the
    timeline gives most of its duration (none if no segment overlaps it); UA over the clips;
    boundary error: for each clip's start and end, the distance to the nearest segment edge."""
    from .metrics import classification_report

    predicted, errors = [], []
    edges = np.array([x for s in result.segments for x in (s.start, s.end)])
    for clip in layout:
        overlap = {}
        for s in result.segments:
            shared = min(s.end, clip["end"]) - max(s.start, clip["start"])
            if shared > 0:
                overlap[s.emotion] = overlap.get(s.emotion, 0.0) + shared
        predicted.append(max(overlap, key=overlap.get) if overlap else None)
        errors += [float(np.min(np.abs(edges - clip[k]))) if len(edges) else float("inf") for k in ("start", "end")]
    found = [i for i, p in enumerate(predicted) if p is not None]
    report = classification_report([emotions.index(layout[i]["emotion"]) for i in found],
                                   [emotions.index(predicted[i]) for i in found], list(emotions))
    return {"clips": len(layout), "clips_found": len(found), "ua": report["ua"], "wa": report["wa"],
            "confusion_matrix": report["confusion_matrix"], "boundary_error_median": float(np.median(errors)),
            "boundary_error_mean": float(np.mean(errors)), "boundary_error_p90": float(np.percentile(errors, 90)),
            "predicted": predicted, "boundary_errors": errors}
