"""Blind listening test: clips, annotators' answers in SQLite, and the statistics an admin reads.
Making a study's clips is `make_study.py`'s job; this module needs no model.

Every answer is committed the moment it is given (WAL mode, one transaction per answer), so a
reload, a crash or a killed server loses nothing that was acknowledged. Each annotator hears
the clips in their own random order, fixed by their ID, so they can leave and resume.
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
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .data import EMOTIONS
from .stats import clustered_mean, fleiss_kappa, krippendorff_alpha, wilson

SOURCES = ("real", "enhanced", "generated")
# ITU-T P.800's absolute category rating (label, score), best first: the naturalness question.
# A page offers them with none preselected, so an untouched control never passes for a rating.
ACR = [("5 Excellent", 5), ("4 Good", 4), ("3 Fair", 3), ("2 Poor", 2), ("1 Bad", 1)]
_ID = re.compile(r"^[A-Za-z0-9_.-]{2,40}$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS clips (
    id TEXT PRIMARY KEY, file TEXT NOT NULL, source TEXT NOT NULL, emotion TEXT NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS answers (
    annotator TEXT NOT NULL, clip TEXT NOT NULL REFERENCES clips(id), emotion TEXT NOT NULL,
    mos INTEGER NOT NULL CHECK (mos BETWEEN 1 AND 5), comment TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL, plays INTEGER, seconds REAL, PRIMARY KEY (annotator, clip));
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
    """An answer names one of the emotions and a naturalness score from 1 to 5."""
    if emotion not in EMOTIONS:
        raise StudyError(f"Please choose one of: {', '.join(EMOTIONS)}.")
    if mos is None or int(mos) != mos or not 1 <= int(mos) <= 5:
        raise StudyError("Please rate naturalness from 1 (bad) to 5 (excellent).")


class Study:
    """`folder` holds `study.sqlite` and the clips' audio files."""

    def __init__(self, folder):
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

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)  # autocommit
        db.execute("PRAGMA synchronous=FULL")  # per connection: an acknowledged answer survives power loss
        return db

    # ---- clips -------------------------------------------------------------------------
    def add_clip(self, clip_id: str, file: str, source: str, emotion: str, meta: dict | None = None) -> None:
        if source not in SOURCES:
            raise StudyError(f"Unknown source {source!r}.")
        if not (self.folder / file).resolve().is_relative_to(self.folder.resolve()):
            raise StudyError("Clip files must live inside the study folder.")
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO clips VALUES (?, ?, ?, ?, ?)",
                       (clip_id, file, source, emotion, json.dumps(meta or {})))

    def clip_ids(self) -> list[str]:
        with self._connect() as db:
            return [r[0] for r in db.execute("SELECT id FROM clips ORDER BY id")]

    def clip_path(self, clip_id: str) -> Path:
        with self._connect() as db:
            row = db.execute("SELECT file FROM clips WHERE id = ?", (clip_id,)).fetchone()
        if row is None:
            raise StudyError("Unknown clip.")
        return self.folder / row[0]

    # ---- annotators --------------------------------------------------------------------
    def order(self, annotator: str) -> list[str]:
        """This annotator's blinded clip order: a shuffle seeded by their ID."""
        ids = self.clip_ids()
        seed = int(hashlib.sha256(check_annotator(annotator).encode()).hexdigest()[:16], 16)
        random.Random(seed).shuffle(ids)
        return ids

    def answered(self, annotator: str) -> set[str]:
        with self._connect() as db:
            return {r[0] for r in db.execute("SELECT clip FROM answers WHERE annotator = ?",
                                             (check_annotator(annotator),))}

    def next_clip(self, annotator: str) -> tuple[str | None, int, int]:
        """(next unanswered clip id or None when done, answered so far, total)."""
        order, done = self.order(annotator), self.answered(annotator)
        remaining = [c for c in order if c not in done]
        return (remaining[0] if remaining else None), len(done), len(order)

    def answer(self, annotator: str, clip_id: str, emotion: str, mos: int, comment: str = "",
               plays: int | None = None, seconds: float | None = None) -> bool:
        """Record this annotator's answer for one clip; committed before returning. The first
        answer stands: a repeat (a retried request, a second tab) changes nothing, so no answer
        can be overwritten, by its author or by anyone using their ID. `plays` and `seconds`
        (how often the clip was played, time from serving it to the answer) are kept as the page
        reports them, so that a researcher can exclude answers given without listening.
        Returns True if stored."""
        annotator = check_annotator(annotator)
        check_answer(emotion, mos)
        comment = (comment or "")[:2000]
        with self._connect() as db:
            if db.execute("SELECT 1 FROM clips WHERE id = ?", (clip_id,)).fetchone() is None:
                raise StudyError("Unknown clip.")
            cur = db.execute("INSERT INTO answers (annotator, clip, emotion, mos, comment, created, plays, seconds) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(annotator, clip) DO NOTHING",
                             (annotator, clip_id, emotion, int(mos), comment, time.time(), plays, seconds))
            return cur.rowcount == 1

    # ---- admin -------------------------------------------------------------------------
    def rows(self) -> list[dict]:
        with self._connect() as db:
            cur = db.execute("SELECT a.annotator, a.clip, c.source, c.emotion, a.emotion, a.mos, a.comment, "
                             "a.created, a.plays, a.seconds, c.meta FROM answers a JOIN clips c ON c.id = a.clip "
                             "ORDER BY a.annotator, a.created")
            keys = ["annotator", "clip", "source", "intended_emotion", "answered_emotion", "mos",
                    "comment", "answered_at", "plays", "seconds", "clip_meta"]
            rows = [dict(zip(keys, r)) for r in cur]
        for r in rows:  # a time a person reads; the clip's making (strength, loudness, ...) as JSON
            r["answered_at"] = datetime.fromtimestamp(r["answered_at"], timezone.utc).isoformat(timespec="seconds")
        return rows

    def export_csv(self) -> str:
        out = io.StringIO()
        rows = self.rows()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["annotator"])
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()

    def summary(self) -> dict:
        """Progress per annotator; per source: recognition accuracy (Wilson 95% CI), MOS (mean,
        95% CI over annotators, `stats.clustered_mean`); Fleiss' kappa on emotion over clips
        rated by >= 2."""
        rows, total = self.rows(), len(self.clip_ids())
        progress = defaultdict(int)
        by_source = defaultdict(list)
        by_clip = defaultdict(list)
        for r in rows:
            progress[r["annotator"]] += 1
            by_source[r["source"]].append(r)
            by_clip[r["clip"]].append(r["answered_emotion"])
        multi = [v for v in by_clip.values() if len(v) >= 2]
        sources = {}
        for source, rs in by_source.items():
            hits = sum(r["answered_emotion"] == r["intended_emotion"] for r in rs)
            mos = clustered_mean([r["mos"] for r in rs], [r["annotator"] for r in rs])
            sources[source] = {"n": len(rs), "annotators": len({r["annotator"] for r in rs}), "accuracy": hits / len(rs),
                               "accuracy_ci95": wilson(hits, len(rs)), "mos": mos["mean"], "mos_ci95": mos["ci95"],
                               "mos_ci_resamples": "annotators" if mos["resamples"] == "groups" else mos["resamples"]}
        return {"clips": total, "answers": len(rows),
                "progress": {a: {"answered": n, "total": total} for a, n in sorted(progress.items())},
                "sources": sources, "krippendorff_alpha": self.agreement(rows),
                "fleiss_kappa": fleiss_kappa(multi), "fleiss_kappa_rests_on": f"{len(multi)} clips rated by two or more"}

    @staticmethod
    def agreement(rows: list[dict]) -> dict:
        """Krippendorff's alpha over the clips rated twice or more: on the emotion (nominal) and on
        naturalness (interval), each with its bootstrap interval over clips."""
        annotators = sorted({r["annotator"] for r in rows})
        clips = sorted({r["clip"] for r in rows})
        emotion, mos = (np.full((len(annotators), len(clips)), np.nan) for _ in range(2))
        for r in rows:
            i, j = annotators.index(r["annotator"]), clips.index(r["clip"])
            emotion[i, j], mos[i, j] = EMOTIONS.index(r["answered_emotion"]), r["mos"]
        return {"emotion": krippendorff_alpha(emotion, "nominal"), "mos": krippendorff_alpha(mos, "interval")}
