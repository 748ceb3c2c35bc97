"""The listening test's page in the Gradio app, for the study's design (`study.DESIGNS`), and its
admin view. Submit stays locked until every clip of the item has been played; nothing is
preselected (no emotion, no naturalness, no A/B side, no MUSHRA slider counts until moved); a
refused answer is checked by an event with no outputs, so that no control is marked as failed;
the annotator ID is kept in the browser (localStorage), so that a reload continues.
"""
from __future__ import annotations

import hmac
import json
import os
import time

import gradio as gr
import soundfile as sf

from .data import EMOTIONS
from .study import ACR, MAX_STIMULI, Study, StudyError, check_answer, check_scores
from .study_analysis import summary_markdown

SLOTS = "ABCDEFGH"


def refuse(message: str) -> gr.Error:
    """A user's mistake: a message on the page, no traceback."""
    return gr.Error(message, print_exception=False)


def asked(fn, *args, **kwargs):
    """A listening-test call; a request the study refuses is a message for the annotator."""
    try:
        return fn(*args, **kwargs)
    except StudyError as e:
        raise refuse(str(e)) from e


def _clip(study: Study, clip_id: str):
    wave, rate = sf.read(study.clip_path(clip_id), dtype="int16")
    return rate, wave


class StudyPage:
    """The handlers (one `Study` call each) and the layout of one design's page."""

    def __init__(self, study: Study):
        self.study = study

    # ---- handlers ------------------------------------------------------------------------
    def next(self, annotator):
        """The annotator's next blinded item, or a thank-you: (item, *players, status[, question])."""
        item, done, total = asked(self.study.next_item, annotator)
        if total == 0:
            raise refuse("No listening test has been prepared on this server yet.")
        label = self.study.design == "label"
        if item is None:
            return "", *[None] * self.players(), f"All {total} {self.noun}s done. Thank you!", *([] if label else [""])
        status = f"{self.noun.capitalize()} {done + 1} of {total}"
        if label:
            return item, _clip(self.study, item), status
        trial = asked(self.study.trial, item, annotator)
        clips = ([trial["reference"]] if trial["reference"] else []) + trial["shown"]
        shown = [gr.update(value=_clip(self.study, c), visible=True) for c in clips]
        hidden = [gr.update(value=None, visible=False)] * (self.players() - len(shown))
        return item, *shown, *hidden, status, f"**{trial['question']}**"

    def submit(self, annotator, item, *answer, plays=0, served=0.0):
        """Record an answer (plays and time as the page counts them; an API client has none),
        then serve the next item. `answer`: emotion, mos, comment (label); choice, comment (A/B);
        one score per slot, comment (MUSHRA)."""
        if not item:
            raise refuse("Press 'Start / continue' first.")
        *answer, comment = answer
        listened = dict(plays=plays if served else None, seconds=round(time.time() - served, 1) if served else None)
        if self.study.design == "label":
            asked(self.study.answer, annotator, item, *answer, comment, **listened)
        else:
            shown = len(asked(self.study.trial, item, annotator)["shown"])
            scores = _choice(answer[0]) if self.study.design == "ab" else answer[:shown]
            asked(self.study.respond, annotator, item, scores, comment, **listened)
        return (*self.next(annotator), *self.cleared())

    def check(self, annotator, item, *answer, touched=()):
        """Refuse an incomplete answer before anything is recorded."""
        *answer, _ = answer
        if self.study.design == "label":
            return asked(check_answer, *answer)
        if self.study.design == "ab":
            return asked(check_scores, "ab", _choice(answer[0]), 2)
        if item:
            shown = len(asked(self.study.trial, item, annotator)["shown"])
            if not set(range(shown)) <= set(touched):
                raise refuse("Please rate every clip: move each slider (0 to 100), even to leave it where it was.")

    # ---- layout --------------------------------------------------------------------------
    @property
    def noun(self) -> str:
        return {"label": "clip", "ab": "pair", "mushra": "page"}[self.study.design]

    def players(self) -> int:
        return {"label": 1, "ab": 2, "mushra": 1 + MAX_STIMULI}[self.study.design]

    def answer_controls(self) -> list:
        """The label and A/B controls an answer is read from; none preselected."""
        if self.study.design == "label":
            return [gr.Radio(list(EMOTIONS), label="which emotion?"),
                    gr.Radio(ACR, label="how natural does it sound? (ITU-T P.800 opinion scale)")]
        return [gr.Radio(["A", "B"], label="your choice")]

    def cleared(self) -> list:
        """What the answer controls return to for the next item."""
        if self.study.design == "mushra":
            return [0] * MAX_STIMULI + [""]
        return [None] * (2 if self.study.design == "label" else 1) + [""]

    def build(self, demo: gr.Blocks) -> None:
        """The annotator's page: ID, players, question, answer controls, Submit."""
        gr.Markdown(INTRO[self.study.design] + " Your answers are saved at once; come back with the same ID to "
                    "continue.")
        annotator = gr.Textbox(label="annotator ID")
        start = gr.Button("Start / continue")
        item = gr.Textbox(visible=False)  # opaque ID: tells nothing about the source
        status, question = gr.Markdown(), gr.Markdown()
        names = {"label": ["clip"], "ab": ["A", "B"]}.get(self.study.design,
                                                          ["reference", *[f"clip {s}" for s in SLOTS[:MAX_STIMULI]]])
        players, sliders = [], []
        with gr.Row():  # MUSHRA: each clip's slider under its player, as on webMUSHRA's page
            for name in names:
                with gr.Column(min_width=120):
                    players.append(gr.Audio(label=name, interactive=False))
                    if self.study.design == "mushra" and name != "reference":
                        sliders.append(gr.Slider(0, 100, value=0, step=1, label=name))
        if sliders:
            gr.Markdown("0–20 bad · 20–40 poor · 40–60 fair · 60–80 good · 80–100 excellent (ITU-R BS.1534). "
                        "Move every slider, even to leave it where it is.")
        controls = (sliders or self.answer_controls()) + [gr.Textbox(label="comment (optional)")]
        submit = gr.Button("Submit answer (after listening)", variant="primary", interactive=False)
        self._wire(demo, annotator, start, item, status, question, players, controls, submit)

    def _wire(self, demo, annotator, start, item, status, question, players, controls, submit) -> None:
        # plays per player (None: a player this item does not use); touched: the MUSHRA sliders moved
        plays, served, touched = gr.State([]), gr.State(0.0), gr.State([])
        served_outputs = [item, *players, status] + ([] if self.study.design == "label" else [question])
        again = dict(fn=_fresh, inputs=players, outputs=[plays, served, submit, touched], api_visibility="private")
        start.click(self.next, annotator, served_outputs, api_name="study_next", concurrency_id="study",
                    concurrency_limit=8).success(**again)
        submit.click(lambda *a: self.check(*a[:-1], touched=a[-1]), [annotator, item, *controls, touched],
                     api_visibility="private").success(
            lambda *a: self.submit(*a[:-2], plays=sum(n for n in a[-2] if n), served=a[-1]),
            [annotator, item, *controls, plays, served], served_outputs + controls, api_name="study_submit",
            concurrency_id="study", concurrency_limit=8).success(**again)
        for i, player in enumerate(players):
            player.play(lambda n, i=i: _played(n, i), plays, [plays, submit], api_visibility="private",
                        concurrency_id="plays", concurrency_limit=1)  # one at a time: no count lost
        for i, slider in enumerate(controls[:-1] if self.study.design == "mushra" else []):
            slider.input(lambda t, i=i: sorted({*t, i}), touched, touched, api_visibility="private")
        start.click(None, annotator, js="(id) => { localStorage.setItem('emodiff_annotator', id); }")
        demo.load(None, annotator, annotator, js="(typed) => typed || localStorage.getItem('emodiff_annotator') || ''")

    def build_admin(self, download_path) -> None:
        """Token, the summary as tables (and JSON), the export: answers as CSV, summary as JSON."""
        token = gr.Textbox(label="admin token", type="password")
        with gr.Row():
            show, export_button = gr.Button("Show summary"), gr.Button("Export")
        tables = gr.Markdown()
        with gr.Accordion("the same summary as JSON", open=False):
            raw = gr.JSON()
        files = gr.File(label="answers (CSV) and summary (JSON)", file_count="multiple")

        def export(token):
            study = admin(self.study, token)
            answers, summary = download_path("listening_test.csv"), download_path("listening_test_summary.json")
            answers.write_text(study.export_csv())
            summary.write_text(json.dumps(study.summary(), indent=1))
            return [str(answers), str(summary)]
        # the token is checked by an event with no outputs first: a refusal leaves no stale "Error" on them
        show.click(lambda t: admin(self.study, t) and None, token, api_visibility="private").success(
            lambda t: admin_summary(self.study, t), token, [tables, raw], api_name="study_summary",
            concurrency_id="study")
        export_button.click(lambda t: admin(self.study, t) and None, token, api_visibility="private").success(
            export, token, files, api_name="study_export", concurrency_id="study")


def _choice(side) -> list[int]:
    """"A" or "B" as an A/B answer ([0] or [1]); nothing chosen: no answer."""
    return [("A", "B").index(side)] if side in ("A", "B") else []


def _fresh(*audio):
    """An item served: nothing played yet (players it does not use count as done), Submit locked,
    no slider moved, the time it was served."""
    return [0 if a is not None else None for a in audio], time.time(), gr.update(interactive=False), []


def _played(plays: list, i: int):
    """Player i played once more; Submit unlocks when every player in use has been played."""
    plays = [n + 1 if j == i else n for j, n in enumerate(plays)]
    return plays, gr.update(interactive=all(n is None or n > 0 for n in plays))


INTRO = {"label": "Listen, then say which emotion you hear and how natural it sounds.",
         "ab": "Listen to both clips, then answer the question: A or B.",
         "mushra": "Listen to the reference and to every clip (in any order, as often as you like), then rate how "
                   "close each clip sounds to the reference. One of them is the reference itself."}


def admin(study: Study, token) -> Study:
    """The study, for a request with the admin token; a message that tells "off" from "wrong"."""
    expected = os.environ.get("EMODIFF_ADMIN_TOKEN")
    if not expected:
        raise refuse("The admin view is off on this server (EMODIFF_ADMIN_TOKEN is not set).")
    if not hmac.compare_digest(str(token or ""), expected):
        raise refuse("Wrong admin token (or none given).")
    return study


def admin_summary(study: Study, token) -> tuple[str, dict]:
    """The summary as tables, and as JSON (what `emodiff analyse-study` writes for an export)."""
    summary = admin(study, token).summary()
    return summary_markdown(summary), summary
