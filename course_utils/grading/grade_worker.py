"""Grading through the queue on several machines: ``make enqueue``, ``make grade-worker``, ``make grade-status``.

:func:`enqueue` prepares the run once (gradebook backup, each assignment's source in the
gradebook, the learners registered: :func:`~.autograde.prepare_run`) and puts one job per
(learner, assignment) with its submission's hash into the queue (:mod:`.jobqueue`).
:func:`work` is one machine's worker: it takes jobs until none is left, grades each one
exactly as ``make autograde`` does (:func:`~.autograde._grade_one`: intake, staging,
integrity scan, the sandboxed nbgrader worker, the judge) while a heartbeat thread
extends its lease, and closes the job with its result in one transaction. A submission
whose hash no longer matches the job's is given back to the queue with the new hash
instead of being graded. A worker that finds nothing to take but jobs still running on
other machines waits: if one of those machines dies, its lease runs out and this worker
grades the job. The folders (``submitted/``, ``solutions/``) must be the same on every
machine (a shared or synced course folder); each machine keeps its ``autograded/``
copies and its local log.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable

from course_utils.grading.autograde import (
    GradeOptions,
    SubmissionResult,
    _abort_workers,
    _grade_one,
    _require_sandbox,
    _save_status,
    prepare_run,
    RELEASE_CHECK,
    STAGED,
)
from course_utils.grading.course import CourseDirs
from course_utils.grading.jobqueue import (
    DEFAULT_LEASE_S,
    Job,
    claim,
    enqueue_jobs,
    finish,
    heartbeat,
    pending,
    queue_summary,
    requeue,
    submission_digest,
)
from course_utils.build.notebooks import release
from course_utils.grading.records import machine_name, mark_in_formgrader
from course_utils.grading.submissions import Submission, find_submissions

__all__ = ["WorkerOptions", "enqueue", "work", "work_parallel", "format_status"]


@dataclass(frozen=True)
class WorkerOptions:
    """How one machine's worker takes jobs."""

    lease_s: float = DEFAULT_LEASE_S  # a job not extended for this long is taken by another machine
    poll_s: float = 5.0  # wait between looks at the queue while other machines still hold jobs
    machine: str = ""  # "" -> this host's name (add a suffix to run several workers on one host)

    def __post_init__(self) -> None:
        if self.lease_s < 3 or not 0 < self.poll_s <= self.lease_s:
            raise ValueError(f"need lease_s >= 3 and 0 < poll_s <= lease_s, got {self.lease_s}, {self.poll_s}")


def enqueue(
    dirs: CourseDirs, assignments: list[str], students: list[str] | None = None, regrade: bool = False
) -> dict[str, int]:
    """Queue every submission of ``assignments`` (optionally only ``students``); counts by outcome."""
    subs = [
        s for s in find_submissions(dirs.path("submitted"), assignments) if students is None or s.student in students
    ]
    prepare_run(dirs, [s.assignment for s in subs], [s.student for s in subs])
    return enqueue_jobs(
        dirs.db_url, [(s.student, s.assignment, submission_digest(s.folder)) for s in subs], regrade=regrade
    )


class _Heartbeat(threading.Thread):
    """Extends a job's lease every third of it until stopped; notes when the job was lost."""

    def __init__(self, db_url: str, job: Job, lease_s: float) -> None:
        super().__init__(daemon=True)
        self.db_url, self.job, self.lease_s = db_url, job, lease_s
        self.stop = threading.Event()
        self.lost = False

    def run(self) -> None:
        while not self.stop.wait(self.lease_s / 3):
            try:
                if not heartbeat(self.db_url, self.job, self.lease_s):
                    self.lost = True
                    return
            except Exception:  # a database hiccup: try again at the next beat
                continue


def _local_release(dirs: CourseDirs, assignment: str, done: set[str]) -> None:
    """This machine's copy of the released notebooks (intake and staging compare with it).

    ``enqueue`` made it on its own machine; elsewhere it is generated once, under a lock
    (several workers may share a machine), with a scratch gradebook: the shared one was
    updated once, by ``enqueue``. Regenerated when the source is newer than the copy.
    """
    import fcntl

    if assignment in done:
        return
    out = dirs.root / RELEASE_CHECK / assignment
    source = dirs.path("source") / assignment
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        newest = max((p.stat().st_mtime for p in source.glob("*.ipynb")), default=0.0)
        copies = list(out.glob("*.ipynb")) if out.is_dir() else []
        if not copies or min(p.stat().st_mtime for p in copies) < newest:
            scratch = dirs.root / "build" / "grading" / "release-scratch.db"
            release(
                CourseDirs(
                    root=dirs.root, source=dirs.source, release=RELEASE_CHECK, db_url=f"sqlite:///{scratch}?timeout=60"
                ),
                [assignment],
            )
    done.add(assignment)


def _reclaim_dead_jobs() -> None:
    """Take back the sandbox jobs of this machine whose worker was killed (their uid lock is free;
    a live job holds its lock, see :func:`~.sandbox_fs.reclaim`)."""
    from course_utils.grading.sandbox import SandboxConfig, reclaim

    reclaim(SandboxConfig().root, "*")


def _submission(dirs: CourseDirs, job: Job) -> Submission | None:
    folder = dirs.path("submitted") / job.student / job.assignment
    return Submission(job.student, job.assignment, folder) if folder.is_dir() else None


def work(
    dirs: CourseDirs,
    opts: GradeOptions = GradeOptions(),
    wopts: WorkerOptions = WorkerOptions(),
    on_result: Callable[[SubmissionResult, int], None] | None = None,
    max_jobs: int | None = None,
    preflight: bool = True,
) -> list[SubmissionResult]:
    """Take and grade jobs until the queue has none left, queued or running anywhere.

    ``on_result(result, n_done_here)`` is called after each job this worker recorded.
    Returns the results this worker recorded. ``preflight=False`` skips the sandbox check
    (done once by :func:`work_parallel` for all its workers).
    """
    if opts.sandbox and preflight:
        _require_sandbox(dirs, opts.readable_paths)
        _reclaim_dead_jobs()
    machine = wopts.machine or machine_name()
    released: set[str] = set()
    recorded: list[SubmissionResult] = []
    while max_jobs is None or len(recorded) < max_jobs:
        job = claim(dirs.db_url, machine, wopts.lease_s)
        if job is None:
            if pending(dirs.db_url) == 0:
                break
            time.sleep(wopts.poll_s)  # others still grade: one of them may die and leave its job
            continue
        if job.attempts > 1 and opts.sandbox:  # its worker died: if it was on this machine, take back its kernels
            _reclaim_dead_jobs()
        sub = _submission(dirs, job)
        if sub is not None:
            digest = submission_digest(sub.folder)
            if digest != job.submission_hash:  # changed since it was queued: never grade it stale
                requeue(dirs.db_url, job, digest)
                continue
        beat = _Heartbeat(dirs.db_url, job, wopts.lease_s)
        beat.start()
        try:
            if sub is None:
                res = SubmissionResult(
                    job.student, job.assignment, "failed", reason="the submission is no longer in submitted/"
                )
            else:
                _local_release(dirs, job.assignment, released)
                res = _grade_one(dirs, sub, opts)
        except BaseException:  # e.g. Ctrl-C: no kernel may outlive us, and the job goes back at once
            _abort_workers()
            requeue(dirs.db_url, job, job.submission_hash)
            raise
        finally:
            beat.stop.set()
            beat.join()
        if finish(dirs.db_url, job, res, machine):
            _save_status(dirs, [res])
            mark_in_formgrader(dirs.db_url, [res])
            recorded.append(res)
            if on_result is not None:
                on_result(res, len(recorded))
        shutil.rmtree(dirs.root / STAGED / job.student / job.assignment, ignore_errors=True)
    return recorded


def work_parallel(
    dirs: CourseDirs,
    opts: GradeOptions,
    wopts: WorkerOptions,
    jobs: int,
    on_result: Callable[[SubmissionResult, int], None] | None = None,
) -> list[SubmissionResult]:
    """``jobs`` workers in this process (one per core, say), named ``<machine>/<i>`` in the queue."""
    from concurrent.futures import ThreadPoolExecutor

    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    if jobs == 1:
        return work(dirs, opts, wopts, on_result)
    if opts.sandbox:
        _require_sandbox(dirs, opts.readable_paths)
        _reclaim_dead_jobs()
    lock, count = threading.Lock(), [0]

    def counted(res: SubmissionResult, _: int) -> None:
        with lock:
            count[0] += 1
            if on_result is not None:
                on_result(res, count[0])

    base = wopts.machine or machine_name()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [
            pool.submit(work, dirs, opts, replace(wopts, machine=f"{base}/{i + 1}"), counted, None, False)
            for i in range(jobs)
        ]
        try:
            return [r for f in futures for r in f.result()]
        except BaseException:  # e.g. Ctrl-C: no kernel may outlive the run (their jobs' leases run out)
            pool.shutdown(wait=False, cancel_futures=True)
            _abort_workers()
            raise


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def format_status(db_url: str, slowest: int = 5) -> str:
    """The queue for the instructor: counts, what runs where and for how long, the slowest jobs."""
    from course_utils.grading.escape import for_terminal

    s = queue_summary(db_url, slowest)
    c = s["counts"]
    lines = [f"queued {c['queued']}, running {c['running']}, done {c['done']}, failed {c['failed']}"]
    for r in s["running"]:
        lines.append(
            f"  running on {for_terminal(r['machine'])} for {_duration(r['running_s'])}: "
            f"{for_terminal(r['student'])} {for_terminal(r['assignment'])} (attempt {r['attempts']})"
            + (" - lease expired, another worker will take it" if r["lease_expired"] else "")
        )
    if s["slowest"]:
        lines.append(f"slowest {len(s['slowest'])} finished job(s):")
        lines += [
            f"  {r['seconds']:7.1f} s  {for_terminal(r['student'])} {for_terminal(r['assignment'])} "
            f"{r['status']} on {for_terminal(r['machine'])}"
            for r in s["slowest"]
        ]
    return "\n".join(lines)
