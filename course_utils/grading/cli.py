"""Command line for instructors and for the Makefile: ``python -m course_utils.grading``.

Sub-commands (each is also a Makefile target, see the README; building the notebooks is
:mod:`course_utils.build.cli`):

* ``autograde`` grade submitted/<learner>/<assignment>/ (``--jobs N``, ``--no-sandbox``, limits:
  ``--memory-gb``, ``--cpu-seconds``, ``--file-size-mb``, ``--cell-timeout``, ``--submission-timeout``);
  one line per finished submission, then the table
* ``enqueue``   put one job per submission into the grading queue in the gradebook database
* ``grade-worker`` take jobs from the queue and grade them until none is left (any number of machines)
* ``grade-status`` the queue: queued / running (where, how long) / done / failed, the slowest jobs
* ``feedback``  write feedback/<learner>/<assignment>/*.html for graded submissions
* ``report``    print the grade table from the gradebook database; exit 1 if anything failed
* ``export``    grades.csv: nbgrader's export columns plus status, reason, findings, notes
* ``zip-collect`` unpack downloaded/<A>/archive/*.zip (Canvas, Moodle) into submitted/; exit 1 if nothing matched
* ``demo``      the whole loop on the solutions as a sample learner, in build/demo
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path


from course_utils.lessons import selected
from course_utils.grading.course import REPO_ROOT, CourseDirs


def _dirs(args) -> CourseDirs:
    """The repository's course, with the gradebook ``--db-url`` (or $COURSE_DB_URL) when given."""
    from course_utils.grading.autograde import GradebookError

    try:
        return CourseDirs(db_url=getattr(args, "db_url", None) or "")
    except ValueError as err:  # a malformed --db-url
        raise GradebookError(str(err)) from None


def _options(args):
    from course_utils.grading.autograde import GradeOptions
    from course_utils.grading.limits import Limits

    return GradeOptions(
        jobs=args.jobs,
        sandbox=not args.no_sandbox,
        cell_timeout_s=args.cell_timeout,
        submission_timeout_s=args.submission_timeout,
        limits=Limits(memory_gb=args.memory_gb, cpu_seconds=args.cpu_seconds, file_size_mb=args.file_size_mb),
    )


def cmd_autograde(args) -> int:
    from course_utils.grading.autograde import autograde, progress_line
    from course_utils.grading.report import exit_code, format_table, load_status

    from course_utils.grading.sandbox import opt_out_requested

    args.no_sandbox = args.no_sandbox or opt_out_requested()
    if args.no_sandbox:
        print("WARNING: grading WITHOUT the sandbox (--no-sandbox): learner code runs with your rights.")
    lessons = selected(args.assignment)
    start = time.perf_counter()
    results = autograde(
        _dirs(args),
        [l.assignment for l in lessons],
        _options(args),
        students=args.student or None,
        on_result=lambda r, done, total: print(progress_line(r, done, total), flush=True),
    )
    print(f"autograded {len(results)} submission(s) in {time.perf_counter() - start:.1f} s with {args.jobs} job(s)")
    graded = {(x.student, x.assignment) for x in results}
    rows = [r for r in load_status(_dirs(args)) if (r["student"], r["assignment"]) in graded]
    print(format_table(rows))
    return exit_code(rows)


def cmd_enqueue(args) -> int:
    from course_utils.grading.grade_worker import enqueue

    if not args.assignment and not args.all:
        print("usage: enqueue --assignment A [--assignment B ...] | --all", file=sys.stderr)
        return 2
    counts = enqueue(
        _dirs(args),
        [l.assignment for l in selected(args.assignment)],
        students=args.student or None,
        regrade=args.regrade,
    )
    print(
        f"enqueued: {counts['queued']} new job(s), {counts['requeued']} re-queued (changed or --regrade), "
        f"{counts['unchanged']} unchanged (already queued or graded with the same files)"
    )
    return 0


def cmd_grade_worker(args) -> int:
    from course_utils.grading.grade_worker import WorkerOptions, work_parallel
    from course_utils.grading.autograde import progress_line
    from course_utils.grading.sandbox import opt_out_requested

    args.no_sandbox = args.no_sandbox or opt_out_requested()
    if args.no_sandbox:
        print("WARNING: grading WITHOUT the sandbox (--no-sandbox): learner code runs with your rights.")
    wopts = WorkerOptions(lease_s=args.lease, poll_s=min(args.poll, args.lease), machine=args.machine or "")
    start = time.perf_counter()
    results = work_parallel(
        _dirs(args), _options(args), wopts, args.jobs, on_result=lambda r, n: print(progress_line(r, n), flush=True)
    )
    failed = sum(r.status == "failed" for r in results)
    print(
        f"grade-worker: queue empty; {args.jobs} worker(s) here graded {len(results)} submission(s) in "
        f"{time.perf_counter() - start:.1f} s ({failed} failed)"
    )
    return 0


def cmd_grade_status(args) -> int:
    from course_utils.grading.grade_worker import format_status

    print(format_status(_dirs(args).db_url))
    return 0


def cmd_export(args) -> int:
    from course_utils.grading.export import export_csv

    rows = export_csv(_dirs(args).db_url, Path(args.csv or "grades.csv"), args.assignment or None)
    print(f"wrote {args.csv or 'grades.csv'} ({len(rows)} row(s))")
    return int(any(r["status"] == "failed" for r in rows))


def cmd_feedback(args) -> int:
    from course_utils.grading.feedback import write_feedback
    from course_utils.grading.report import load_status

    dirs = _dirs(args)
    n = 0
    for row in load_status(dirs):
        if row["status"] == "failed" or (args.assignment and row["assignment"] not in args.assignment):
            continue
        for nb_path in sorted((dirs.path("autograded") / row["student"] / row["assignment"]).glob("*.ipynb")):
            released = dirs.path("release") / row["assignment"] / nb_path.name
            out = dirs.path("feedback") / row["student"] / row["assignment"] / (nb_path.stem + ".html")
            write_feedback(nb_path, released, row["cells"], out)
            n += 1
    print(f"wrote {n} feedback file(s) under feedback/")
    return 0


def cmd_report(args) -> int:
    from course_utils.grading.report import exit_code, format_table, load_status

    rows = load_status(_dirs(args))
    if args.assignment:
        rows = [r for r in rows if r["assignment"] in args.assignment]
    print(format_table(rows))
    if args.csv:
        cmd_export(args)
    return exit_code(rows)


def cmd_zip_collect(args) -> int:
    from course_utils.grading.escape import for_terminal
    from course_utils.grading.zipcollect import zip_collect

    if not args.assignment or len(args.assignment) != 1:
        print("usage: zip-collect --assignment <assignment>", file=sys.stderr)
        return 2
    try:
        collected, log = zip_collect(REPO_ROOT, args.assignment[0])
    except (RuntimeError, ValueError) as err:  # e.g. an archive member that would land outside
        print(f"zip-collect: {for_terminal(err)}", file=sys.stderr)
        return 1
    refused = [ln for ln in log.splitlines() if "refused learner id" in ln or "no LMS file-name pattern" in ln]
    for line in refused:
        print(for_terminal(line.strip()))
    learners = sorted({p.parent.parent.name for p in collected})
    if not collected:
        print(
            f"zip-collect: collected NOTHING for {args.assignment[0]}: no file in downloaded/"
            f"{args.assignment[0]}/archive matched a Canvas or Moodle export name (see "
            "course_utils/grading/zipcollect.py)",
            file=sys.stderr,
        )
        return 1
    print(
        f"zip-collect: {len(collected)} notebook(s) of {len(learners)} learner(s) in submitted/"
        + (f"; {len(refused)} file(s) skipped" if refused else "")
    )
    return 0


def cmd_demo(args) -> int:
    """Execute every solution, then grade the solutions as one sample learner's submission."""
    from course_utils.grading.autograde import GradeOptions, autograde
    from course_utils.grading.report import format_table, load_status
    from course_utils.grading.autograde import sandbox_available
    from course_utils.build.cli import cmd_execute

    lessons = selected(args.assignment)
    rc = cmd_execute(argparse.Namespace(assignment=args.assignment, in_place=False, smoke=False))
    demo = REPO_ROOT / "build" / "demo"
    shutil.rmtree(demo, ignore_errors=True)
    shutil.copytree(REPO_ROOT / "solutions", demo / "solutions")
    for lesson in lessons:
        dst = demo / "submitted" / "sample-learner" / lesson.assignment
        dst.mkdir(parents=True)
        shutil.copy2(REPO_ROOT / lesson.solution, dst / Path(lesson.solution).name)
    dirs = CourseDirs(root=demo)
    use_sandbox, why = sandbox_available(dirs)
    print(f"sandbox: {'on' if use_sandbox else 'off (' + why + ')'}")
    start = time.perf_counter()
    autograde(dirs, [l.assignment for l in lessons], GradeOptions(jobs=args.jobs, sandbox=use_sandbox))
    print(f"autograded the sample learner in {time.perf_counter() - start:.1f} s")
    rows = load_status(dirs)
    print(format_table(rows))
    full = all(r["status"] == "graded" and r["score"] == r["max_score"] for r in rows) and len(rows) == len(lessons)
    print("DEMO OK: every solution executed and scored full marks" if (full and rc == 0) else "DEMO FAILED: see above")
    return 0 if (full and rc == 0) else 1


# Each sub-command and its one-line summary (`python -m course_utils --help` lists them too).
COMMANDS = {
    "autograde": (cmd_autograde, "grade submitted/<learner>/<assignment>/ in the sandbox"),
    "feedback": (cmd_feedback, "write feedback/<learner>/<assignment>/*.html for graded submissions"),
    "report": (cmd_report, "print the grade table; exit 1 if anything failed"),
    "export": (cmd_export, "grades.csv: nbgrader's export columns plus status and reason"),
    "enqueue": (cmd_enqueue, "queue one grading job per submission in the gradebook database"),
    "grade-worker": (cmd_grade_worker, "take jobs from the queue and grade them until none is left"),
    "grade-status": (cmd_grade_status, "the queue: queued / running / done / failed, the slowest jobs"),
    "zip-collect": (cmd_zip_collect, "unpack a Canvas or Moodle zip export into submitted/"),
    "demo": (cmd_demo, "the whole loop on the solutions as a sample learner, in build/demo"),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m course_utils.grading", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name, (fn, summary) in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=summary)
        p.set_defaults(fn=fn)
        p.add_argument("--assignment", "-a", action="append", help="only this assignment (repeatable)")
        if name in {"autograde", "demo", "grade-worker"}:
            p.add_argument(
                "--jobs",
                "-j",
                type=int,
                default=1,
                help="submissions graded at once (default 1; `make ... JOBS=N` passes N)",
            )
        if name in {"autograde", "enqueue"}:
            p.add_argument("--student", action="append", help="only this learner (repeatable)")
        if name == "enqueue":
            p.add_argument("--all", action="store_true", help="every assignment")
            p.add_argument(
                "--regrade", action="store_true", help="queue again submissions already graded with the same files"
            )
        if name == "grade-worker":
            p.add_argument(
                "--lease",
                type=float,
                default=300.0,
                help="seconds a job stays this machine's without a heartbeat (default 300)",
            )
            p.add_argument(
                "--poll",
                type=float,
                default=5.0,
                help="seconds between looks at the queue while others still grade (default 5)",
            )
            p.add_argument("--machine", default="", help="name shown in grade-status (default: host name)")
        if name in {"autograde", "grade-worker"}:
            p.add_argument(
                "--no-sandbox", action="store_true", help="explicit opt-out: run learner code with the grader's rights"
            )
            p.add_argument(
                "--memory-gb",
                type=float,
                default=4.0,
                help="memory per learner kernel in GiB (a cgroup where possible, else address space; default 4)",
            )
            p.add_argument("--cpu-seconds", type=int, default=600, help="CPU time per kernel (default 600)")
            p.add_argument(
                "--file-size-mb", type=int, default=1024, help="largest file a kernel may write, in MB (default 1024)"
            )
            p.add_argument("--cell-timeout", type=int, default=120, help="wall clock per cell in s (default 120)")
            p.add_argument(
                "--submission-timeout", type=int, default=900, help="wall clock per submission in s (default 900)"
            )
        if name in {"report", "export"}:
            p.add_argument(
                "--csv", help="export to this CSV file" + (" (default grades.csv)" if name == "export" else "")
            )
        if name in {"autograde", "feedback", "report", "export", "enqueue", "grade-worker", "grade-status"}:
            p.add_argument(
                "--db-url",
                default=os.environ.get("COURSE_DB_URL", ""),
                help="the gradebook as an SQLAlchemy URL, e.g. "
                "postgresql+psycopg2://grader@dbhost/course (default: "
                "$COURSE_DB_URL, else gradebook.db in the course root)",
            )
    args = ap.parse_args(argv)
    from course_utils.grading.autograde import GradebookError
    from course_utils.grading.sandbox import SandboxUnavailable

    try:
        return args.fn(args)
    except (SandboxUnavailable, GradebookError) as err:
        print(f"{type(err).__name__}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
