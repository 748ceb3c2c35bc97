"""Blind listening test: clips, annotators' answers in SQLite, and what an admin exports.
Making a study's clips is `make_study.py`'s job, its statistics `study_analysis.py`'s; this
module needs no model.

A study has one design (`DESIGNS`): *label* (one clip: which emotion, how natural), *ab* (two
clips: which is more <emotion> / more natural) or *mushra* (a reference and several versions of
it, each rated 0-100 against it, ITU-R BS.1534). What an annotator answers in turn is an
*item*: a clip in a labelling test, a trial (several clips) otherwise.

Every answer is committed the moment it is given (WAL mode, one transaction per answer), so a
reload, a crash or a killed server loses nothing that was acknowledged. Each annotator hears
the items in their own random order, fixed by their ID, so they can leave and resume; within a
trial the clips' order is shuffled per annotator too, so that neither side nor slot favours one.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import re
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path

from .data import EMOTIONS

DESIGNS = ("label", "ab", "mushra")
# real clips; the diffusion's outputs (enhanced: toward another emotion, clearer: toward its own,
# generated: from noise); and MUSHRA's controls (reference: the hidden copy of the reference,
# vocoded: its mel through the vocoder alone, anchor: it low-passed at 3.5 kHz)
SOURCES = ("real", "enhanced", "clearer", "generated", "reference", "vocoded", "anchor")
# ITU-T P.800's absolute category rating (label, score), best first: the naturalness question.
# A page offers them with none preselected, so an untouched control never passes for a rating.
ACR = [("5 Excellent", 5), ("4 Good", 4), ("3 Fair", 3), ("2 Poor", 2), ("1 Bad", 1)]
MAX_STIMULI = 5  # clips rated on one MUSHRA page besides the reference (the page has this many players)
# The exclusion rule's default: an annotator is left out of the statistics when they pass fewer than
# this share of their catch trials. MUSHRA's is BS.1534-3's post-screening: the hidden reference
# rated below 90 on more than 15 % of pages.
MIN_CATCH_PASS = {"label": 0.75, "ab": 0.75, "mushra": 0.85}
_ID = re.compile(r"^[A-Za-z0-9_.-]{2,40}$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS clips (
    id TEXT PRIMARY KEY, file TEXT NOT NULL, source TEXT NOT NULL, emotion TEXT NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS answers (
    annotator TEXT NOT NULL, clip TEXT NOT NULL REFERENCES clips(id), emotion TEXT NOT NULL,
    mos INTEGER NOT NULL CHECK (mos BETWEEN 1 AND 5), comment TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL, plays INTEGER, seconds REAL, PRIMARY KEY (annotator, clip));
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    id TEXT PRIMARY KEY, reference TEXT, stimuli TEXT NOT NULL, question TEXT NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS responses (
    annotator TEXT NOT NULL, trial TEXT NOT NULL REFERENCES trials(id), response TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '', created REAL NOT NULL, plays INTEGER, seconds REAL,
    PRIMARY KEY (annotator, trial));
"""
# Columns added after the first studies were run: an older study.sqlite gains them on opening.
ADDED = {"plays": "INTEGER", "seconds": "REAL"}


def study_folder(fallback: Path) -> tuple[Path, bool]:
    """Where answers are kept, and whether that survives a restart: EMODIFF_STUDY_DIR if set,
    else a Space's persistent storage (/data) if it has one, else `fallback`."""
    if os.environ.get("EMODIFF_STUDY_DIR"):
        return Path(os.environ["EMODIFF_STUDY_DIR"]), True
    if Path("/data").is_dir() and os.access("/data", os.W_OK):
        return Path("/data/emodiff-study"), True
    return fallback, not os.environ.get("SPACE_ID")  # a Space's own disk is wiped on restart


class StudyError(ValueError):
    """A request the study cannot accept; `str(err)` is for the user."""


def check_annotator(annotator: str) -> str:
    annotator = (annotator or "").strip()
    if not _ID.match(annotator):
        raise StudyError("Please enter an annotator ID of 2-40 letters, digits, '.', '_' or '-'.")
    return annotator


def check_answer(emotion: str, mos) -> None:
    """A labelling answer names one of the emotions and a naturalness score from 1 to 5."""
    if emotion not in EMOTIONS:
        raise StudyError(f"Please choose one of: {', '.join(EMOTIONS)}.")
    if mos is None or int(mos) != mos or not 1 <= int(mos) <= 5:
        raise StudyError("Please rate naturalness from 1 (bad) to 5 (excellent).")


def check_scores(design: str, scores: list, n_shown: int) -> None:
    """An A/B answer is the index of one of the two clips; a MUSHRA answer one 0-100 score per clip."""
    if design == "ab" and (len(scores) != 1 or scores[0] not in (0, 1)):
        raise StudyError("Please choose A or B.")
    if design == "mushra" and (len(scores) != n_shown or any(s is None or not 0 <= s <= 100 for s in scores)):
        raise StudyError("Please rate every clip from 0 to 100.")


def _shuffled(items: list, *key: str) -> list:
    """`items` in an order fixed by `key` (an annotator, a trial): the same on every reload."""
    seed = int(hashlib.sha256("/".join(key).encode()).hexdigest()[:16], 16)
    items = list(items)
    random.Random(seed).shuffle(items)
    return items


class Study:
    """`folder` holds `study.sqlite` and the clips' audio files. `design` is fixed when the study
    is made; opening it again without one reads it back."""

    def __init__(self, folder, design: str | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.db_path = self.folder / "study.sqlite"
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")  # stored in the file: set once, not per connection
            db.executescript(SCHEMA)
            have = {r[1] for r in db.execute("PRAGMA table_info(answers)")}
            for column, kind in ADDED.items():
                if column not in have:
                    db.execute(f"ALTER TABLE answers ADD COLUMN {column} {kind}")
        if design is not None:
            if design not in DESIGNS:
                raise StudyError(f"Unknown design {design!r}; choose from {', '.join(DESIGNS)}.")
            if design != self.design and self.items():
                raise StudyError(f"{self.folder} already holds a {self.design} study.")
            self._set("design", design)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)  # autocommit
        db.execute("PRAGMA synchronous=FULL")  # per connection: an acknowledged answer survives power loss
        return db

    def _set(self, key: str, value) -> None:
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", (key, json.dumps(value)))

    def _get(self, key: str, default=None):
        with self._connect() as db:
            row = db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    @property
    def design(self) -> str:
        return self._get("design", "label")

    @property
    def min_catch_pass(self) -> float:
        """The exclusion rule (`MIN_CATCH_PASS`), as the study's maker set it."""
        return self._get("min_catch_pass", MIN_CATCH_PASS[self.design])

    @min_catch_pass.setter
    def min_catch_pass(self, value: float) -> None:
        if not 0 <= value <= 1:
            raise StudyError("The share of catch trials to pass must be between 0 and 1.")
        self._set("min_catch_pass", value)

    # ---- clips and trials --------------------------------------------------------------
    def add_clip(self, clip_id: str, file: str, source: str, emotion: str, meta: dict | None = None) -> None:
        """A clip; `meta` says how it was made, and `{"catch": "anchor"}` or `{"catch": "repeat",
        "of": clip}` marks an attention check (`study_analysis`)."""
        if source not in SOURCES:
            raise StudyError(f"Unknown source {source!r}.")
        if not (self.folder / file).resolve().is_relative_to(self.folder.resolve()):
            raise StudyError("Clip files must live inside the study folder.")
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO clips VALUES (?, ?, ?, ?, ?)",
                       (clip_id, file, source, emotion, json.dumps(meta or {})))

    def add_trial(self, trial_id: str, stimuli: list[str], question: str, reference: str | None = None,
                  meta: dict | None = None) -> None:
        """An A/B (two `stimuli`) or MUSHRA (`reference` and up to MAX_STIMULI) trial of added clips."""
        wanted = (2, 2) if self.design == "ab" else (2, MAX_STIMULI) if self.design == "mushra" else None
        if wanted is None or not wanted[0] <= len(stimuli) <= wanted[1] or (self.design == "mushra") != bool(reference):
            raise StudyError(f"A {self.design} study takes no trial of {len(stimuli)} clips"
                             f"{' and a reference' if reference else ''}.")
        known = set(self.clip_ids())
        if not {*stimuli, *([reference] if reference else [])} <= known:
            raise StudyError("A trial's clips must be added first.")
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO trials VALUES (?, ?, ?, ?, ?)",
                       (trial_id, reference, json.dumps(stimuli), question, json.dumps(meta or {})))

    def clip_ids(self) -> list[str]:
        with self._connect() as db:
            return [r[0] for r in db.execute("SELECT id FROM clips ORDER BY id")]

    def clips(self) -> dict[str, dict]:
        with self._connect() as db:
            return {r[0]: {"file": r[1], "source": r[2], "emotion": r[3], "meta": json.loads(r[4])}
                    for r in db.execute("SELECT * FROM clips")}

    def items(self) -> list[str]:
        """What annotators answer in turn: clips in a labelling test, trials otherwise."""
        if self.design == "label":
            return self.clip_ids()
        with self._connect() as db:
            return [r[0] for r in db.execute("SELECT id FROM trials ORDER BY id")]

    def clip_path(self, clip_id: str) -> Path:
        with self._connect() as db:
            row = db.execute("SELECT file FROM clips WHERE id = ?", (clip_id,)).fetchone()
        if row is None:
            raise StudyError("Unknown clip.")
        return self.folder / row[0]

    def trial(self, trial_id: str, annotator: str) -> dict:
        """A trial as this annotator sees it: question, reference, stimuli in their own order."""
        with self._connect() as db:
            row = db.execute("SELECT reference, stimuli, question, meta FROM trials WHERE id = ?",
                             (trial_id,)).fetchone()
        if row is None:
            raise StudyError("Unknown trial.")
        return {"id": trial_id, "reference": row[0], "question": row[2], "meta": json.loads(row[3]),
                "shown": _shuffled(json.loads(row[1]), check_annotator(annotator), trial_id)}

    # ---- annotators --------------------------------------------------------------------
    def order(self, annotator: str) -> list[str]:
        """This annotator's blinded order of the items: a shuffle seeded by their ID."""
        return _shuffled(self.items(), check_annotator(annotator))

    def answered(self, annotator: str) -> set[str]:
        table, column = ("answers", "clip") if self.design == "label" else ("responses", "trial")
        with self._connect() as db:
            return {r[0] for r in db.execute(f"SELECT {column} FROM {table} WHERE annotator = ?",
                                             (check_annotator(annotator),))}

    def next_item(self, annotator: str) -> tuple[str | None, int, int]:
        """(next unanswered item or None when done, answered so far, total)."""
        order, done = self.order(annotator), self.answered(annotator)
        remaining = [c for c in order if c not in done]
        return (remaining[0] if remaining else None), len(done), len(order)

    def answer(self, annotator: str, clip_id: str, emotion: str, mos: int, comment: str = "",
               plays: int | None = None, seconds: float | None = None) -> bool:
        """Record this annotator's answer for one clip of a labelling test; committed before
        returning. The first answer stands: a repeat (a retried request, a second tab) changes
        nothing, so no answer can be overwritten, by its author or by anyone using their ID.
        `plays` and `seconds` (how often the clip was played, time from serving it to the
        answer) are kept as the page reports them, so that a researcher can exclude answers
        given without listening. Returns True if stored."""
        annotator = check_annotator(annotator)
        check_answer(emotion, mos)
        with self._connect() as db:
            if db.execute("SELECT 1 FROM clips WHERE id = ?", (clip_id,)).fetchone() is None:
                raise StudyError("Unknown clip.")
            cur = db.execute("INSERT INTO answers (annotator, clip, emotion, mos, comment, created, plays, seconds) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(annotator, clip) DO NOTHING",
                             (annotator, clip_id, emotion, int(mos), (comment or "")[:2000], time.time(), plays,
                              seconds))
            return cur.rowcount == 1

    def respond(self, annotator: str, trial_id: str, scores: list, comment: str = "", plays: int | None = None,
                seconds: float | None = None) -> bool:
        """Record an A/B or MUSHRA answer, `scores` in the order this annotator was shown the
        clips ([0] or [1] for A or B; one 0-100 score per clip); first answer stands, as `answer`."""
        trial = self.trial(trial_id, annotator)
        check_scores(self.design, scores, len(trial["shown"]))
        if self.design == "ab":
            response = {"shown": trial["shown"], "choice": trial["shown"][int(scores[0])]}
        else:
            response = {"shown": trial["shown"], "scores": dict(zip(trial["shown"], map(float, scores)))}
        with self._connect() as db:
            cur = db.execute("INSERT INTO responses VALUES (?, ?, ?, ?, ?, ?, ?) "
                             "ON CONFLICT(annotator, trial) DO NOTHING",
                             (check_annotator(annotator), trial_id, json.dumps(response),
                              (comment or "")[:2000], time.time(), plays, seconds))
            return cur.rowcount == 1

    # ---- export ------------------------------------------------------------------------
    def rows(self) -> list[dict]:
        """One row per judgement, as the CSV export has them (`study_analysis` reads either)."""
        rows = self._label_rows() if self.design == "label" else self._trial_rows()
        for r in rows:  # a time a person reads
            r["answered_at"] = datetime.fromtimestamp(r["answered_at"], timezone.utc).isoformat(timespec="seconds")
        return rows

    def _label_rows(self) -> list[dict]:
        with self._connect() as db:
            cur = db.execute("SELECT a.annotator, a.clip, c.source, c.emotion, a.emotion, a.mos, a.comment, "
                             "a.created, a.plays, a.seconds, c.meta FROM answers a JOIN clips c ON c.id = a.clip "
                             "ORDER BY a.annotator, a.created")
            keys = ["annotator", "clip", "source", "intended_emotion", "answered_emotion", "mos",
                    "comment", "answered_at", "plays", "seconds", "clip_meta"]
            rows = [dict(zip(keys, r)) for r in cur]
        for r in rows:
            meta = json.loads(r["clip_meta"])
            r.update(design="label", catch=meta.get("catch", ""), repeat_of=meta.get("of", ""))
        return rows

    def _trial_rows(self) -> list[dict]:
        """A/B: one row per answer (both clips, the one chosen). MUSHRA: one row per clip rated."""
        clips = self.clips()
        with self._connect() as db:
            answers = db.execute("SELECT r.annotator, r.trial, r.response, r.comment, r.created, r.plays, r.seconds, "
                                 "t.reference, t.question, t.meta FROM responses r JOIN trials t ON t.id = r.trial "
                                 "ORDER BY r.annotator, r.created").fetchall()
        rows = []
        for annotator, trial, response, comment, created, plays, seconds, reference, question, meta in answers:
            response, meta = json.loads(response), json.loads(meta)
            common = dict(design=self.design, annotator=annotator, trial=trial, question=question,
                          comparison=meta.get("comparison", ""), comment=comment, answered_at=created, plays=plays,
                          seconds=seconds)
            if self.design == "ab":
                (a, b), choice = response["shown"], response["choice"]
                rows.append({**common, "clip_a": a, "source_a": clips[a]["source"], "clip_b": b,
                             "source_b": clips[b]["source"], "chosen": "A" if choice == a else "B",
                             "chosen_clip": choice, "chosen_source": clips[choice]["source"],
                             "catch": meta.get("catch", ""), "expected_clip": meta.get("expect", "")})
            else:
                rows += [{**common, "reference": reference, "slot": slot, "clip": clip,
                          "source": clips[clip]["source"], "score": response["scores"][clip],
                          "catch": "hidden_reference" if clips[clip]["source"] == "reference" else ""}
                         for slot, clip in enumerate(response["shown"])]
        return rows

    def export_csv(self) -> str:
        out = io.StringIO()
        rows = self.rows()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["design", "annotator"])
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()

    def summary(self) -> dict:
        """The statistics an admin reads (`study_analysis.analyse`)."""
        from .study_analysis import analyse

        return analyse(self.rows(), self.design, self.min_catch_pass, items=len(self.items()))
