"""Autograde every submission, safely and in parallel, and record a status for each.

The statuses are stored in the gradebook database (:mod:`.records`);
``build/grading/status.json`` is only this machine's log. Several machines share the
work through a queue instead (:mod:`.jobqueue`, :mod:`.grade_worker`), with the same
:func:`_grade_one` per submission.

For each ``submitted/<learner>/<assignment>``: hash the files, stage a normalised
copy (:mod:`.submissions`), scan it (:mod:`.integrity`), autograde it in a worker
process with a wall-clock limit (:mod:`.worker`; every graded cell is decided by its
judgement outside the kernel, :mod:`.preprocessors`), read the scores back from the
gradebook and check that the submitted files were not modified. The gradebook is
backed up before each run; re-running gives the same grades (nbgrader's
``--force`` re-grades from scratch). Statuses: ``graded``, ``flagged`` (graded, and
the integrity scan or the kernel's guard found something to review; the score is
the judge's either way) and ``failed`` (with the reason, e.g. a limit, a kernel that
died or a judgement that crashed); a failed submission is never reported as a plain zero. What is handed in is
checked first (:mod:`.intake`); each kernel runs with limits (:mod:`.limits`), and
whatever a submission's kernels leave (processes, scratch folders) is taken back on
every path, the grader's own interruption included (:func:`.sandbox.reclaim`).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import nbformat

from course_utils.grading.course import REPO_ROOT, CourseDirs
from course_utils.grading.intake import IntakeRefused, check_intake
from course_utils.grading.integrity import course_code, locked_grade_ids, scan_notebook
from course_utils.grading.limits import Limits
from course_utils.build.notebooks import release
from course_utils.grading.submissions import Submission, UnreadableSubmission, file_hashes, find_submissions, stage

__all__ = [
    "GradeOptions",
    "SubmissionResult",
    "GradebookError",
    "autograde",
    "read_scores",
    "prepare_run",
    "progress_line",
    "STATUS_FILE",
]

STATUS_FILE = "build/grading/status.json"
# CPython 3.11 can corrupt ast's recursion bookkeeping when threads parse at once
# (python/cpython#106905): the integrity scan runs one submission at a time.
_SCAN_LOCK = threading.Lock()
STAGED = "build/grading/staged"
RELEASE_CHECK = "build/grading/release"


class GradebookError(RuntimeError):
    """The gradebook cannot be backed up or reached; nothing was graded."""


@dataclass(frozen=True)
class GradeOptions:
    """How a grading run behaves."""

    jobs: int = 1  # submissions graded at once (one worker process each)
    sandbox: bool = True  # run learner code as an unprivileged identity (see .sandbox)
    cell_timeout_s: int = 120
    submission_timeout_s: int = 900  # wall clock for one whole submission
    readable_paths: tuple[str, ...] = ()  # extra data the sandboxed kernel may read
    limits: Limits = Limits()  # per kernel: memory, CPU time, file size, processes, open files

    def __post_init__(self) -> None:
        if self.jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {self.jobs}")
        if self.cell_timeout_s < 1 or self.submission_timeout_s < self.cell_timeout_s:
            raise ValueError("need 1 <= cell_timeout_s <= submission_timeout_s")
        if not isinstance(self.limits, Limits):
            raise ValueError(f"limits must be a course_utils.grading.limits.Limits, got {self.limits!r}")


@dataclass
class SubmissionResult:
    student: str
    assignment: str
    status: str  # graded | flagged | failed
    reason: str = ""
    score: float | None = None
    max_score: float | None = None
    cells: dict = field(default_factory=dict)  # grade id -> [score, max]
    findings: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    seconds: float = 0.0
    unmodified: bool = True


def read_scores(dirs: CourseDirs, assignment: str, student: str) -> tuple[float, float, dict]:
    """Total score, max score and per-cell scores of one submission from the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(dirs.db_url) as gb:
        sub = gb.find_submission(assignment, student)
        cells = {}
        for nb in sub.notebooks:
            for grade in nb.grades:
                cells[grade.name] = [float(grade.score), float(grade.max_score)]
        return float(sub.score), float(sub.max_score), cells


def sandbox_available(dirs: CourseDirs, readable_paths: tuple[str, ...] = ()) -> tuple[bool, str]:
    """Seal the course's secrets, then probe the sandbox as its own uid: (usable, why not)."""
    from course_utils.grading.sandbox import SandboxUnavailable, require_sandbox

    try:
        require_sandbox(dirs, [str(REPO_ROOT / "data"), *readable_paths])
    except SandboxUnavailable as exc:
        return False, str(exc)
    return True, ""


def _require_sandbox(dirs: CourseDirs, readable_paths: tuple[str, ...]) -> None:
    from course_utils.grading.sandbox import OPT_OUT_HINT, SandboxUnavailable

    if dirs.db_kind != "sqlite" and not _network_isolation_works():
        raise SandboxUnavailable(
            "cannot grade safely: the gradebook is a database server, and learner kernels cannot "
            "be cut off from the network here (`bwrap --unshare-net` fails), so learner code could "
            "connect to it. Grade where bubblewrap can make namespaces (root), or keep the "
            f"gradebook in SQLite on this machine.\n{OPT_OUT_HINT}"
        )
    ok, why = sandbox_available(dirs, readable_paths)
    if not ok:
        raise SandboxUnavailable(f"cannot grade safely: {why}\n{OPT_OUT_HINT}")


def _network_isolation_works() -> bool:
    from course_utils.grading import sandbox

    return sandbox._bwrap_works()


def _register_students(dirs: CourseDirs, students: list[str]) -> None:
    """Create every learner's gradebook row before the workers start.

    Each worker's nbgrader run creates its learner when missing; two workers grading
    the same learner's two assignments at once would both insert the row, and one
    would fail on the unique key. Created here, one at a time, they only find it.
    """
    from nbgrader.api import Gradebook

    with Gradebook(dirs.db_url) as gb:
        for student in students:
            gb.update_or_create_student(student)


def _backup_gradebook(dirs: CourseDirs) -> Path | None:
    """Copy the gradebook to ``backups/`` before a run: SQLite's online backup, or pg_dump."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    backups = dirs.root / "backups"
    if dirs.db_kind == "postgresql":
        backups.mkdir(exist_ok=True)
        return _pg_dump(dirs.db_url, backups / f"gradebook-{stamp}.sql")
    db = dirs.sqlite_file
    if db is None or not db.exists():
        return None
    backups.mkdir(exist_ok=True)
    dst = backups / f"gradebook-{stamp}.db"
    import sqlite3

    with sqlite3.connect(db) as src, sqlite3.connect(dst) as out:
        src.backup(out)  # consistent copy even while another process reads
    return dst


def _pg_dump(db_url: str, dst: Path) -> Path:
    """Dump a PostgreSQL gradebook to ``dst`` (plain SQL); the password goes by environment."""
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise GradebookError(
            "cannot back up the PostgreSQL gradebook: pg_dump is not installed. "
            "Install PostgreSQL's client programs (Debian: postgresql-client) "
            "and grade again; nothing was graded."
        )
    env = dict(os.environ, PGPASSWORD=url.password or os.environ.get("PGPASSWORD", ""))
    target = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    proc = subprocess.run(
        [pg_dump, "--no-owner", "--file", str(dst), "--dbname", target],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if proc.returncode != 0:
        raise GradebookError(
            f"cannot back up the PostgreSQL gradebook (pg_dump exit "
            f"{proc.returncode}: {proc.stderr.strip()[:300]}); nothing was graded."
        )
    return dst


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill a worker and everything it started (kernels run in sessions of their own)."""
    import psutil

    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    for p in family:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


# Workers running now (pid -> (process, sandbox tag)): killed and reclaimed if the grader is interrupted.
_LIVE: dict[int, tuple[subprocess.Popen, str]] = {}
_LIVE_LOCK = threading.Lock()


def _reclaim(tag: str, notes: list[str] | None) -> None:
    """Take back what a worker's sandbox jobs left; note it when processes had to be killed."""
    from course_utils.grading.sandbox import SandboxConfig, reclaim

    killed = reclaim(SandboxConfig().root, tag)
    if killed and notes is not None:
        notes.append(f"{killed} leftover process(es) of the learner's kernel had to be killed")


def _abort_workers() -> None:
    """Kill every running worker (and its kernels), then take back what their jobs left."""
    with _LIVE_LOCK:
        live = list(_LIVE.values())
    for proc, tag in live:
        _kill_tree(proc)
        _reclaim(tag, None)


def kernel_threads(jobs: int) -> int:
    """Threads for each learner kernel's PyTorch and OpenMP when ``jobs`` submissions are graded
    at once on this machine: its usable cores shared out, at least one each.

    Left alone, every kernel starts one thread per core, so two jobs on two cores run four busy
    threads that wait on each other (OpenMP threads spin while they wait). An instructor's own
    ``OMP_NUM_THREADS`` wins over this (see :func:`_run_worker`).
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive int, got {jobs!r}")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // jobs)


def _run_worker(
    dirs: CourseDirs, sub: Submission, opts: GradeOptions, notes: list[str] | None = None
) -> tuple[bool, str]:
    tag = secrets.token_hex(4)
    settings = {
        "root": str(dirs.root),
        "submitted": STAGED,
        "db_url": dirs.db_url,
        "assignment": sub.assignment,
        "student": sub.student,
        "cell_timeout_s": opts.cell_timeout_s,
        "sandbox": opts.sandbox,
        "readable_paths": list(opts.readable_paths),
        "tag": tag,
        "limits": asdict(opts.limits),
    }
    log_dir = dirs.root / "build" / "grading" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{sub.student}--{sub.assignment}.log"
    # The worker and the kernels it starts grade: COURSE_GRADING=1 is theirs, not this process's.
    worker_env = {
        **os.environ,
        "COURSE_GRADING": "1",
        "MPLBACKEND": os.environ.get("MPLBACKEND", "Agg"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS") or str(kernel_threads(opts.jobs)),
    }
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "course_utils.grading.worker", "--settings", json.dumps(settings)],
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=dirs.root,
            start_new_session=True,
            env=worker_env,
        )
        with _LIVE_LOCK:
            _LIVE[proc.pid] = (proc, tag)
        try:
            out, _ = proc.communicate(timeout=opts.submission_timeout_s)
        except subprocess.TimeoutExpired:
            _kill_tree(proc)
            return False, f"timed out after {opts.submission_timeout_s} s (an endless loop?)"
        finally:
            with _LIVE_LOCK:
                _LIVE.pop(proc.pid, None)
            if opts.sandbox:
                _reclaim(tag, notes)
    lines = [ln for ln in out.decode("utf-8", "replace").splitlines() if ln.startswith("{")]
    if not lines:
        return False, f"grader process ended with code {proc.returncode} (see {log_path.relative_to(dirs.root)})"
    res = json.loads(lines[-1])
    if res.get("leftovers") and notes is not None:
        names = ", ".join(res.get("leftover_names") or [])
        notes.append(
            f"{res['leftovers']} process(es) left running by the learner's code were killed"
            + (f" ({names})" if names else "")
        )
    if res.get("limit"):
        return False, res["limit"]
    if res["success"]:
        return True, ""
    text = (res.get("error") or "") + "\n" + (res.get("log_tail") or "")
    with open(log_path, "a") as log:  # the whole story, for the instructor
        log.write(text)
    if "DeadKernelError" in text or "Kernel died" in text:
        return False, "the notebook's kernel died while it ran (os._exit, a crash or out of memory)"
    if "CellTimeoutError" in text or "Timeout waiting" in text or "timed out" in text.lower():
        return False, f"a cell ran longer than {opts.cell_timeout_s} s and could not be interrupted"
    if "SandboxUnavailable" in text:
        return False, "the sandbox could not start this notebook's kernel (see the log)"
    errors = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("[ERROR]")]
    return False, "nbgrader could not grade it: " + (errors[0] if errors else text.strip()[-200:])[:300]


@dataclass
class _JudgedRun:
    """What the autograded copy says beyond the scores (read from the judge's cell metadata)."""

    environment: list = field(default_factory=list)  # guard findings, for review only
    judge_errors: list = field(default_factory=list)  # bugs in a judgement: the grade cannot stand
    interrupted: int = 0  # cells stopped by the per-cell time limit


def _inspect_autograded(dirs: CourseDirs, sub: Submission) -> _JudgedRun:
    """One pass over the autograded copy (the verdicts are written by .preprocessors)."""
    from course_utils.grading.preprocessors import VERDICT_KEY

    run = _JudgedRun()
    for nb_path in (dirs.path("autograded") / sub.student / sub.assignment).glob("*.ipynb"):
        for cell in nbformat.read(nb_path, as_version=4).cells:
            outputs = cell.get("outputs", [])
            run.interrupted += any(
                o.get("output_type") == "error" and o.get("ename") == "KeyboardInterrupt" for o in outputs
            )
            verdict = cell.get("metadata", {}).get(VERDICT_KEY)
            if verdict:
                gid = (cell.metadata.get("nbgrader") or {}).get("grade_id")
                run.environment += [f"{gid}: {e}" for e in verdict.get("environment", [])]
                if verdict.get("internal_error"):
                    run.judge_errors.append(f"{gid}: {verdict['internal_error']}")
    return run


def _grade_one(dirs: CourseDirs, sub: Submission, opts: GradeOptions) -> SubmissionResult:
    start = time.perf_counter()
    res = SubmissionResult(sub.student, sub.assignment, "failed")
    before = file_hashes(sub.folder)
    try:
        release_dir = dirs.root / RELEASE_CHECK / sub.assignment
        check_intake(sub, release_dir)
        staged, res.notes = stage(sub, release_dir, dirs.root / STAGED)
        for nb_path in sorted(staged.glob("*.ipynb")):
            released = nbformat.read(release_dir / nb_path.name, as_version=4)
            with _SCAN_LOCK:
                found = scan_notebook(
                    nbformat.read(nb_path, as_version=4),
                    locked_ids=locked_grade_ids(released),
                    course_sources=course_code(released),
                )
            for f in found:
                res.findings.append(f"{nb_path.name}: cell {f.cell_index} line {f.line}: {f.rule}: {f.message}")
        ok, reason = _run_worker(dirs, sub, opts, res.notes)
        if ok:
            judged = _inspect_autograded(dirs, sub)
            if judged.environment:  # points never depend on this: the judge decided them
                res.findings.append(
                    "the grading environment was changed by notebook code: "
                    + "; ".join(dict.fromkeys(judged.environment))[:600]
                )
            res.score, res.max_score, res.cells = read_scores(dirs, sub.assignment, sub.student)
            res.status = "flagged" if res.findings else "graded"
            if judged.judge_errors:
                res.status, res.reason = (
                    "failed",
                    (
                        "a judgement of the course failed (fix the [judge] block, "
                        "then grade again): " + "; ".join(judged.judge_errors)[:400]
                    ),
                )
            if judged.interrupted:
                res.notes.append(
                    f"{judged.interrupted} cell(s) ran longer than {opts.cell_timeout_s} s and were interrupted"
                )
        else:
            res.reason = reason
    except IntakeRefused as exc:
        res.reason = str(exc)
    except UnreadableSubmission as exc:
        res.reason = f"unreadable submission: {exc}"
    except Exception as exc:  # one broken submission must never stop the others
        res.reason = f"{type(exc).__name__}: {str(exc)[:300]}"
    res.unmodified = file_hashes(sub.folder) == before
    if not res.unmodified:
        res.status, res.reason = "failed", "the submitted files changed during grading"
    res.seconds = round(time.perf_counter() - start, 2)
    return res


def _save_status(dirs: CourseDirs, results: list[SubmissionResult]) -> None:
    """Add results to this machine's local log (the record is the gradebook database, .records)."""
    import fcntl

    path = dirs.root / STATUS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:  # several workers of one machine share it
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(path.read_text()) if path.exists() else {}
        for r in results:
            data[f"{r.student}/{r.assignment}"] = asdict(r)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(path)


def prepare_run(dirs: CourseDirs, assignments: list[str], students: list[str]) -> None:
    """Back the gradebook up, refresh each assignment's source in it, register the learners."""
    # The gradebook must hold each assignment's source (hidden tests included): refresh
    # it from solutions/, releasing into a scratch folder so notebooks/ is untouched.
    _backup_gradebook(dirs)  # first: the release below already writes to the gradebook
    release(
        CourseDirs(root=dirs.root, source=dirs.source, release=RELEASE_CHECK, db_url=dirs.db_url),
        sorted(set(assignments)),
    )
    _register_students(dirs, sorted(set(students)))


def progress_line(res: SubmissionResult, done: int, total: int | None = None) -> str:
    """One line per finished submission: learner, assignment, status, score, seconds
    (``[done/total]``, or ``[done]`` when the total is not known, as for a queue worker)."""
    from course_utils.grading.escape import for_terminal

    score = f"{res.score:g} / {res.max_score:g}" if res.score is not None else "-"
    count = f"{done}/{total}" if total is not None else f"{done}"
    return (
        f"[{count}] {for_terminal(res.student)} {for_terminal(res.assignment)}: {res.status} "
        f"{score} in {res.seconds:.1f} s" + (f" ({for_terminal(res.reason)[:120]})" if res.reason else "")
    )


def autograde(
    dirs: CourseDirs,
    assignments: list[str],
    opts: GradeOptions = GradeOptions(),
    students: list[str] | None = None,
    on_result: Callable[[SubmissionResult, int, int], None] | None = None,
) -> list[SubmissionResult]:
    """Grade every submission of ``assignments`` (optionally only ``students``).

    ``on_result(result, done, total)`` is called as each submission finishes (e.g. to print
    :func:`progress_line`). Results go to the gradebook database (:mod:`.records`) and to
    the machine's local log ``build/grading/status.json``.
    """
    from course_utils.grading.jobqueue import submission_digest
    from course_utils.grading.records import save_results

    if opts.sandbox:
        _require_sandbox(dirs, opts.readable_paths)
    subs = [
        s for s in find_submissions(dirs.path("submitted"), assignments) if students is None or s.student in students
    ]
    prepare_run(dirs, [s.assignment for s in subs], [s.student for s in subs])
    hashes = {(s.student, s.assignment): submission_digest(s.folder) for s in subs}
    by_sub: dict[int, SubmissionResult] = {}
    with ThreadPoolExecutor(max_workers=opts.jobs) as pool:
        try:
            futures = {pool.submit(_grade_one, dirs, s, opts): i for i, s in enumerate(subs)}
            for future in as_completed(futures):
                by_sub[futures[future]] = future.result()
                if on_result is not None:
                    on_result(by_sub[futures[future]], len(by_sub), len(subs))
        except BaseException:  # e.g. Ctrl-C: no worker, kernel or scratch folder may outlive the run
            pool.shutdown(wait=False, cancel_futures=True)
            _abort_workers()
            raise
    results = [by_sub[i] for i in range(len(subs))]
    shutil.rmtree(dirs.root / STAGED, ignore_errors=True)
    _save_status(dirs, results)
    save_results(dirs.db_url, results, hashes)
    return results
