"""The course's grading record, kept in the gradebook database beside nbgrader's own tables.

nbgrader's gradebook (https://nbgrader.readthedocs.io, "The gradebook"; an SQLAlchemy
database: SQLite by default, PostgreSQL when several machines share it) holds scores;
it has no place for the course's status of a submission (``graded`` / ``flagged`` /
``failed``), its reason, the integrity findings, notes and timings. They go into one
more table here, ``course_grading_status`` (one row per learner and assignment), so that
``make report`` / ``make export`` / ``nbgrader export`` on any machine see the whole
class; ``build/grading/status.json`` stays only as the machine's local log.

The status is also shown where formgrader can show it: a ``flagged`` or ``failed``
submission's notebooks get nbgrader's own *flag*, and the first commentable cell a
automatic comment a line that starts with :data:`COMMENT_PREFIX` (an instructor's manual
comment is never touched, and shows first in formgrader).
"""

from __future__ import annotations

import json
import socket
import threading
from datetime import datetime, timezone
from typing import Any, Iterable

from sqlalchemy import Column, Float, MetaData, String, Table, Text, create_engine, select
from sqlalchemy.engine import Engine

__all__ = ["STATUS_TABLE", "COMMENT_PREFIX", "engine_for", "save_results", "load_results", "machine_name"]

METADATA = MetaData()
STATUS_TABLE = Table(
    "course_grading_status",
    METADATA,
    Column("student", String(128), primary_key=True),
    Column("assignment", String(128), primary_key=True),
    Column("status", String(16), nullable=False),  # graded | flagged | failed
    Column("reason", Text, nullable=False, default=""),
    Column("score", Float, nullable=True),
    Column("max_score", Float, nullable=True),
    Column("cells", Text, nullable=False, default="{}"),  # JSON: grade id -> [score, max]
    Column("findings", Text, nullable=False, default="[]"),  # JSON list of strings
    Column("notes", Text, nullable=False, default="[]"),  # JSON list of strings
    Column("seconds", Float, nullable=False, default=0.0),
    Column("submission_hash", String(64), nullable=False, default=""),
    Column("machine", String(255), nullable=False, default=""),
    Column("graded_at", String(40), nullable=False, default=""),  # ISO 8601, UTC
)
COMMENT_PREFIX = "[course status] "
_ENGINES: dict[str, Engine] = {}
_GRADEBOOK_LOCK = threading.RLock()


def machine_name() -> str:
    """This machine's host name, as recorded with each result and queue job."""
    return socket.gethostname()


def engine_for(db_url: str) -> Engine:
    """One SQLAlchemy engine per gradebook URL, with the course's tables created when missing."""
    if "://" not in db_url:
        raise ValueError(f"db_url must be an SQLAlchemy URL such as 'sqlite:///gradebook.db', got {db_url!r}")
    with _GRADEBOOK_LOCK:  # several workers of one process: the tables are created once
        engine = _ENGINES.get(db_url)
        if engine is None:
            engine = create_engine(db_url, pool_pre_ping=True)
            from course_utils.grading import jobqueue  # noqa: F401  (its table lives in the same METADATA)

            METADATA.create_all(engine)
            _ENGINES[db_url] = engine
    return engine


def _row(result: Any, submission_hash: str, machine: str) -> dict:
    return {
        "student": result.student,
        "assignment": result.assignment,
        "status": result.status,
        "reason": result.reason or "",
        "score": result.score,
        "max_score": result.max_score,
        "cells": json.dumps(result.cells, sort_keys=True),
        "findings": json.dumps(result.findings),
        "notes": json.dumps(result.notes),
        "seconds": float(result.seconds),
        "submission_hash": submission_hash,
        "machine": machine,
        "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def upsert_rows(conn: Any, rows: list[dict]) -> None:
    """Replace the records of these (learner, assignment) pairs inside the caller's transaction."""
    for row in rows:
        conn.execute(
            STATUS_TABLE.delete().where(
                STATUS_TABLE.c.student == row["student"], STATUS_TABLE.c.assignment == row["assignment"]
            )
        )
        conn.execute(STATUS_TABLE.insert().values(**row))


def result_rows(
    results: Iterable[Any], hashes: dict[tuple[str, str], str] | None = None, machine: str | None = None
) -> list[dict]:
    """Table rows for :class:`~.autograde.SubmissionResult` objects (``hashes`` by (learner, assignment))."""
    machine = machine or machine_name()
    return [_row(r, (hashes or {}).get((r.student, r.assignment), ""), machine) for r in results]


def save_results(
    db_url: str, results: Iterable[Any], hashes: dict[tuple[str, str], str] | None = None, machine: str | None = None
) -> None:
    """Record results (one transaction), then show their statuses in formgrader (flag, comment)."""
    results = list(results)
    rows = result_rows(results, hashes, machine)
    with engine_for(db_url).begin() as conn:
        upsert_rows(conn, rows)
    mark_in_formgrader(db_url, results)


def load_results(db_url: str) -> list[dict]:
    """Every recorded result, sorted by learner then assignment, lists and dicts decoded."""
    with engine_for(db_url).connect() as conn:
        rows = (
            conn.execute(select(STATUS_TABLE).order_by(STATUS_TABLE.c.student, STATUS_TABLE.c.assignment))
            .mappings()
            .all()
        )
    out = []
    for r in rows:
        d = dict(r)
        for key in ("cells", "findings", "notes"):
            d[key] = json.loads(d[key] or ("{}" if key == "cells" else "[]"))
        out.append(d)
    return out


def _status_comment(result: Any) -> str:
    detail = result.reason or "; ".join(list(result.findings) + list(result.notes))
    return f"{COMMENT_PREFIX}{result.status}" + (f": {detail[:1500]}" if detail else "")


def mark_in_formgrader(db_url: str, results: Iterable[Any]) -> None:
    """nbgrader's flag on every notebook of a flagged or failed submission (cleared otherwise),
    and the status with its reason as a comment formgrader shows with the first cell."""
    from nbgrader.api import Gradebook, MissingEntry

    with _GRADEBOOK_LOCK, Gradebook(db_url) as gb:  # workers of one process: one session at a time
        for r in results:
            try:
                sub = gb.find_submission(r.assignment, r.student)
            except MissingEntry:  # e.g. refused at intake: nbgrader never saw it
                continue
            for nb in sub.notebooks:
                nb.flagged = r.status in {"flagged", "failed"}
                comments = sorted(nb.comments, key=lambda c: c.id)
                if comments:  # nbgrader's automatic comment (an instructor's manual one wins in formgrader)
                    kept = [
                        ln for ln in (comments[0].auto_comment or "").splitlines() if not ln.startswith(COMMENT_PREFIX)
                    ]
                    if r.status != "graded":
                        kept.insert(0, _status_comment(r).replace("\n", " "))
                    comments[0].auto_comment = "\n".join(kept) or None
            gb.db.commit()
