"""The grading queue: one job per (learner, assignment) in the gradebook database.

``make enqueue`` puts jobs in; ``make grade-worker`` on any number of machines takes
them out (:mod:`.grade_worker`); ``make grade-status`` reads them. The queue is one
table, ``course_grading_queue``, beside nbgrader's gradebook and the course's record
(:mod:`.records`), taken with PostgreSQL's ``SELECT ... FOR UPDATE SKIP LOCKED``
(PostgreSQL docs, "SELECT", "The Locking Clause") through SQLAlchemy's
``with_for_update(skip_locked=True)``: two machines never take the same job, and a
machine never waits for another's lock. Chosen over procrastinate and pgqueuer (both
installable here): they bring psycopg 3, an asyncio worker model and their own schema
migrations, yet the course needs a few things they do not model directly: one job per
(learner, assignment) keyed by the submission's hash (re-queued when the file changes,
idempotent otherwise), the job's row as the progress record (`grade-status`), and the
grade written in the same transaction that closes the job.

Leases: a taken job carries ``lease_until``; the worker extends it while it grades
(:func:`heartbeat`). A machine that dies stops extending it, and once it has run out
any worker takes the job again. Every change a worker makes is conditioned on its
``token`` (drawn when it took the job): a worker that lost its job (lease expired and
re-taken, or re-queued because the file changed) can no longer close it, so each job
is recorded once. Times are the machines' clocks (seconds since the epoch): keep them
in sync (NTP); leases are minutes long, so seconds of skew do not matter. With SQLite
the same code runs (the lock clause is ignored there and the conditional update alone
keeps a job to one worker).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Float, Integer, String, Table, UniqueConstraint, and_, func, or_, select, update

from course_utils.grading.records import METADATA, engine_for, upsert_rows

__all__ = [
    "QUEUE_TABLE",
    "Job",
    "submission_digest",
    "enqueue_jobs",
    "claim",
    "heartbeat",
    "requeue",
    "finish",
    "pending",
    "queue_summary",
    "DEFAULT_LEASE_S",
]

DEFAULT_LEASE_S = 300.0
QUEUE_TABLE = Table(
    "course_grading_queue",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("student", String(128), nullable=False),
    Column("assignment", String(128), nullable=False),
    Column("submission_hash", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # queued | running | done | failed
    Column("machine", String(255), nullable=False, default=""),
    Column("token", String(32), nullable=False, default=""),
    Column("enqueued_at", Float, nullable=False),
    Column("claimed_at", Float, nullable=True),
    Column("lease_until", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("seconds", Float, nullable=True),  # grading time of the last finished attempt
    Column("status", String(16), nullable=False, default=""),  # the result's graded/flagged/failed
    UniqueConstraint("student", "assignment", name="course_grading_queue_one_job"),
)
Q = QUEUE_TABLE.c


@dataclass(frozen=True)
class Job:
    """A job as one worker took it (its ``token`` proves it still holds it)."""

    id: int
    student: str
    assignment: str
    submission_hash: str
    token: str
    attempts: int


def submission_digest(folder: Path) -> str:
    """sha256 over every file of a submission folder (names and contents)."""
    from course_utils.grading.submissions import file_hashes

    return hashlib.sha256(json.dumps(file_hashes(folder), sort_keys=True).encode()).hexdigest()


def enqueue_jobs(db_url: str, jobs: list[tuple[str, str, str]], regrade: bool = False) -> dict[str, int]:
    """Queue (learner, assignment, hash) jobs. A job already done with the same hash stays done
    (grading is idempotent) unless ``regrade``; a changed hash re-queues it, also when a worker
    holds it (that worker's result is then refused). Returns counts: queued, requeued, unchanged."""
    counts = {"queued": 0, "requeued": 0, "unchanged": 0}
    now = time.time()
    with engine_for(db_url).begin() as conn:
        for student, assignment, digest in jobs:
            row = (
                conn.execute(
                    select(QUEUE_TABLE).where(Q.student == student, Q.assignment == assignment).with_for_update()
                )
                .mappings()
                .first()
            )
            if row is None:
                conn.execute(
                    QUEUE_TABLE.insert().values(
                        student=student,
                        assignment=assignment,
                        submission_hash=digest,
                        state="queued",
                        enqueued_at=now,
                        attempts=0,
                    )
                )
                counts["queued"] += 1
            elif row["submission_hash"] != digest or (regrade and row["state"] in {"done", "failed"}):
                conn.execute(
                    update(QUEUE_TABLE)
                    .where(Q.id == row["id"])
                    .values(
                        submission_hash=digest, state="queued", token="", machine="", lease_until=None, enqueued_at=now
                    )
                )
                counts["requeued"] += 1
            else:
                counts["unchanged"] += 1
    return counts


def claim(db_url: str, machine: str, lease_s: float = DEFAULT_LEASE_S) -> Job | None:
    """Take the oldest queued job, or a running one whose lease ran out; None when there is none."""
    engine = engine_for(db_url)
    for _ in range(20):  # SQLite: another worker may win the conditional update; try the next
        now = time.time()
        with engine.begin() as conn:
            row = (
                conn.execute(
                    select(QUEUE_TABLE)
                    .where(or_(Q.state == "queued", and_(Q.state == "running", Q.lease_until < now)))
                    .order_by(Q.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            token = secrets.token_hex(8)
            taken = conn.execute(
                update(QUEUE_TABLE)
                .where(Q.id == row["id"], Q.token == row["token"], Q.state == row["state"])
                .values(
                    state="running",
                    machine=machine,
                    token=token,
                    claimed_at=now,
                    lease_until=now + lease_s,
                    attempts=row["attempts"] + 1,
                )
            ).rowcount
            if taken == 1:
                return Job(
                    row["id"], row["student"], row["assignment"], row["submission_hash"], token, row["attempts"] + 1
                )
    return None


def heartbeat(db_url: str, job: Job, lease_s: float = DEFAULT_LEASE_S) -> bool:
    """Extend the lease; False when the job is no longer this worker's."""
    with engine_for(db_url).begin() as conn:
        return (
            conn.execute(
                update(QUEUE_TABLE)
                .where(Q.id == job.id, Q.token == job.token, Q.state == "running")
                .values(lease_until=time.time() + lease_s)
            ).rowcount
            == 1
        )


def requeue(db_url: str, job: Job, new_hash: str) -> bool:
    """Give a taken job back with the submission's new hash (its file changed since it was queued)."""
    with engine_for(db_url).begin() as conn:
        return (
            conn.execute(
                update(QUEUE_TABLE)
                .where(Q.id == job.id, Q.token == job.token)
                .values(
                    state="queued",
                    submission_hash=new_hash,
                    token="",
                    machine="",
                    lease_until=None,
                    enqueued_at=time.time(),
                )
            ).rowcount
            == 1
        )


def finish(db_url: str, job: Job, result: Any, machine: str) -> bool:
    """Close the job and record its result in one transaction; False (nothing written) when the job
    is no longer this worker's: then whoever holds it now records it, once."""
    from course_utils.grading.records import result_rows

    rows = result_rows([result], {(job.student, job.assignment): job.submission_hash}, machine)
    with engine_for(db_url).begin() as conn:
        closed = conn.execute(
            update(QUEUE_TABLE)
            .where(Q.id == job.id, Q.token == job.token, Q.state == "running")
            .values(
                state="failed" if result.status == "failed" else "done",
                finished_at=time.time(),
                seconds=float(result.seconds),
                status=result.status,
                lease_until=None,
            )
        ).rowcount
        if closed != 1:
            conn.rollback()
            return False
        upsert_rows(conn, rows)
    return True


def pending(db_url: str) -> int:
    """Jobs not finished yet (queued, or running on some machine)."""
    with engine_for(db_url).connect() as conn:
        return conn.execute(
            select(func.count()).select_from(QUEUE_TABLE).where(Q.state.in_(["queued", "running"]))
        ).scalar_one()


def queue_summary(db_url: str, slowest: int = 5) -> dict:
    """Counts by state, the running jobs (machine, seconds so far), and the slowest finished jobs."""
    now = time.time()
    with engine_for(db_url).connect() as conn:
        counts = dict(conn.execute(select(Q.state, func.count()).group_by(Q.state)).all())
        running = (
            conn.execute(
                select(Q.student, Q.assignment, Q.machine, Q.claimed_at, Q.lease_until, Q.attempts)
                .where(Q.state == "running")
                .order_by(Q.claimed_at)
            )
            .mappings()
            .all()
        )
        slow = (
            conn.execute(
                select(Q.student, Q.assignment, Q.machine, Q.seconds, Q.status)
                .where(Q.state.in_(["done", "failed"]), Q.seconds.is_not(None))
                .order_by(Q.seconds.desc())
                .limit(slowest)
            )
            .mappings()
            .all()
        )
    return {
        "counts": {k: int(counts.get(k, 0)) for k in ("queued", "running", "done", "failed")},
        "running": [
            {**dict(r), "running_s": now - (r["claimed_at"] or now), "lease_expired": (r["lease_until"] or 0) < now}
            for r in running
        ],
        "slowest": [dict(r) for r in slow],
    }
