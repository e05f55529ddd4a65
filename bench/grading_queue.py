r"""Benchmark: the grading queue with 1 worker vs N workers, same submissions, back to back.

Starts a throwaway PostgreSQL on loopback (tests/pgkit.py; Debian's ``postgresql``),
generates ``--n`` lesson 01 submissions of mixed quality (bench/grading.py's
``make_submissions``), and for each ``--workers`` value: a fresh database and course,
``enqueue`` once, then that many ``grade-worker`` processes (each a stand-in for one
machine; here all on this machine) until the queue is empty. Reports the wall-clock
seconds from the workers' start to the last one's exit, submissions per minute, the
ratio to the first run, the load average, and whether every run gave the same grades;
then the queue's own bookkeeping per job on that server, with the grading left out.

    python bench/grading_queue.py                          # what `make bench-queue` runs (30, workers 1 2)
    python bench/grading_queue.py --n 6 --workers 1 2      # a quick check
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a clone without install

from course_utils.grading.course import CourseDirs  # noqa: E402
from course_utils.grading.grade_worker import enqueue  # noqa: E402
from course_utils.grading.records import load_results  # noqa: E402
from course_utils.grading.submissions import write_submission  # noqa: E402
from course_utils.provenance import machine  # noqa: E402

_WORKER = """
import sys
from pathlib import Path
from course_utils.grading.autograde import GradeOptions
from course_utils.grading.course import CourseDirs
from course_utils.grading.grade_worker import WorkerOptions, work
root, url, name = sys.argv[1:4]
work(CourseDirs(root=Path(root), db_url=url), GradeOptions(sandbox=True), WorkerOptions(poll_s=1, machine=name))
"""


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_once(subs: dict, workers: int, tmp: Path, pgkit, assignment: str) -> tuple[float, dict]:
    """One fresh database and course, enqueue, ``workers`` processes; (seconds, learner -> (status, score))."""
    with pgkit.local_postgres() as url:
        root = tmp / f"course-{workers}"
        shutil.copytree(REPO / "solutions" / assignment, root / "solutions" / assignment)
        for student, nb in subs.items():
            write_submission(root / "submitted", student, assignment, nb)
        dirs = CourseDirs(root=root, db_url=url)
        enqueue(dirs, [assignment])
        start = time.perf_counter()
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _WORKER, str(root), url, f"worker-{i}"], cwd=REPO, stdout=subprocess.DEVNULL
            )
            for i in range(workers)
        ]
        codes = [p.wait() for p in procs]
        seconds = time.perf_counter() - start
        if any(codes):
            raise RuntimeError(f"a worker failed (exit codes {codes})")
        grades = {r["student"]: (r["status"], r["score"]) for r in load_results(url)}
    return seconds, grades


def queue_overhead(pgkit, jobs: int = 300) -> float:
    """Seconds of queue bookkeeping per job on the loopback server (enqueue, claim, one heartbeat,
    close with its record), grading left out: the database's share of each job."""
    from course_utils.grading.autograde import SubmissionResult
    from course_utils.grading.jobqueue import claim, enqueue_jobs, finish, heartbeat

    with pgkit.local_postgres("overhead") as url:
        start = time.perf_counter()
        enqueue_jobs(url, [(f"learner-{i:04d}", "a", "h") for i in range(jobs)])
        while (job := claim(url, "bench")) is not None:
            heartbeat(url, job)
            finish(url, job, SubmissionResult(job.student, "a", "graded", score=1.0, max_score=1.0), "bench")
        return (time.perf_counter() - start) / jobs


def scaling_note(figures: dict) -> str:
    """What the measured figures say about more workers and machines (printed, and in RESULTS.md)."""
    runs, overhead = figures["runs"], figures["queue_overhead_s_per_job"]
    one = runs[0]["seconds"] / figures["submissions"]  # wall seconds per job with the first worker count
    lines = [
        f"per job with {runs[0]['workers']} worker(s): {one:.1f} s of wall time; the queue's own "
        f"bookkeeping: {1000 * overhead:.1f} ms ({100 * overhead / one:.2f}% of it)"
    ]
    for r in runs[1:]:
        speedup = runs[0]["seconds"] / r["seconds"]
        lines.append(
            f"{r['workers']} workers vs {runs[0]['workers']}: {speedup:.2f}x, "
            f"{100 * speedup / (r['workers'] / runs[0]['workers']):.0f}% of linear"
        )
    lines.append(
        f"one database client does the bookkeeping of {one / overhead:.0f} jobs in the time one job takes to grade here"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, default=30, help="submissions to generate (default 30)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to compare")
    p.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    args = p.parse_args(argv)
    if args.n < 1 or any(w < 1 for w in args.workers):
        p.error("--n and every --workers value must be >= 1")
    pgkit = _load(REPO / "tests" / "pgkit.py", "pgkit")
    if pgkit.missing():
        print(pgkit.missing(), file=sys.stderr)
        return 2
    grading = _load(REPO / "bench" / "grading.py", "bench_grading")
    subs = grading.make_submissions(args.n)
    print(
        f"queue bench: {args.n} lesson 01 submissions, workers {args.workers}, on {os.cpu_count()} cores, "
        f"sandbox on, PostgreSQL on loopback",
        flush=True,
    )
    runs, reference = [], None
    with tempfile.TemporaryDirectory(prefix="queue-bench-") as tmp:
        for workers in args.workers:
            load_before = os.getloadavg()[0]
            seconds, grades = run_once(subs, workers, Path(tmp), pgkit, grading.A)
            reference = reference if reference is not None else grades
            same = grades == reference and len(grades) == args.n
            runs.append(
                {
                    "workers": workers,
                    "seconds": seconds,
                    "per_minute": 60 * args.n / seconds,
                    "load_average_before": load_before,
                    "load_average_after": os.getloadavg()[0],
                    "same_grades_as_first_run": same,
                }
            )
            print(
                f"  workers={workers}: {seconds:6.1f} s -> {60 * args.n / seconds:5.1f} submissions/min "
                f"(load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after)"
                f"{'' if same else '  (GRADES DIFFER from the first run!)'}",
                flush=True,
            )
    base = runs[0]["seconds"]
    for r in runs[1:]:
        print(f"  workers={r['workers']} vs workers={runs[0]['workers']}: {base / r['seconds']:.2f}x faster")
    overhead = queue_overhead(pgkit)
    print(
        f"  queue bookkeeping alone (enqueue, claim, heartbeat, close + record; 300 jobs, one client): "
        f"{1000 * overhead:.1f} ms per job"
    )
    figures = {
        **machine("python bench/grading_queue.py " + " ".join(argv if argv is not None else sys.argv[1:])),
        "submissions": args.n,
        "runs": runs,
        "queue_overhead_s_per_job": overhead,
        "grades": {k: list(v) for k, v in (reference or {}).items()},
    }
    print("  " + scaling_note(figures).replace("\n", "\n  "))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0 if all(r["same_grades_as_first_run"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
