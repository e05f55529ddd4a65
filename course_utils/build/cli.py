"""Command line for building the course: ``python -m course_utils.build``.

Sub-commands (each is also a Makefile target, see the README):

* ``build``     authoring/*.py -> solutions/*.ipynb (outputs kept when unchanged)
* ``execute``   run every solution notebook on a fresh kernel (``--in-place`` to store outputs)
* ``release``   solutions/ -> notebooks/ with nbgrader's generate_assignment
* ``check``     fail when solutions/ or notebooks/ are out of date, or a graded cell has no judgement
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course_utils.grading.course import REPO_ROOT, CourseDirs
from course_utils.lessons import selected


def cmd_build(args) -> int:
    from course_utils.build.notebooks import build_solutions

    changed = build_solutions(selected(args.assignment))
    print("\n".join(f"built {p.relative_to(REPO_ROOT)}" for p in changed) or "solutions/ already up to date")
    return 0


def cmd_execute(args) -> int:
    from course_utils.build.notebooks import execute_notebook

    env = {"COURSE_SMOKE": "1"} if args.smoke else {}
    failed = 0
    for lesson in selected(args.assignment):
        src = REPO_ROOT / lesson.solution
        dst = src if args.in_place else REPO_ROOT / "build" / "executed" / Path(lesson.solution).name
        try:
            _, secs = execute_notebook(src, dst, timeout_s=max(lesson.execute_timeout_s * 5, 300), env=env)
            print(f"executed {lesson.assignment:<28} {secs:6.1f} s  -> {dst.relative_to(REPO_ROOT)}")
        except Exception as exc:  # report every lesson, then fail
            failed += 1
            print(f"FAILED   {lesson.assignment}: {_failure(exc)}")
    return int(failed > 0)


def _failure(exc: Exception) -> str:
    """One line that says why a notebook failed: the exception's last line, or the time-out."""
    from nbclient.exceptions import CellTimeoutError

    if isinstance(exc, CellTimeoutError):  # its message ends with a preview of the cell, not the reason
        return str(exc).strip().splitlines()[0][:300]
    return str(exc).strip().splitlines()[-1][:300]


def cmd_release(args) -> int:
    from course_utils.build.notebooks import release

    lessons = selected(args.assignment)
    release(CourseDirs(), [l.assignment for l in lessons])
    for lesson in lessons:
        print(f"released {lesson.student}")
    return 0


def cmd_check(args) -> int:
    from course_utils.build.notebooks import judgement_problems, release_drift, solution_drift

    lessons = selected(args.assignment)
    sol, rel, judged = solution_drift(lessons), release_drift(lessons), judgement_problems(lessons)
    for problem in judged:
        print(f"JUDGEMENT: {problem}")
    for a in sol:
        print(f"OUT OF DATE: solutions/{a} differs from authoring/{a}.py (run `make solutions`)")
    for a in rel:
        print(f"OUT OF DATE: notebooks/{a} differs from what nbgrader generates (run `make notebooks`)")
    if not sol and not rel and not judged:
        print(
            f"solutions/ and notebooks/ are up to date and every graded cell has its judgement ({len(lessons)} lessons)"
        )
    return int(bool(sol or rel or judged))


# Each sub-command and its one-line summary (`python -m course_utils --help` lists them too).
COMMANDS = {
    "build": (cmd_build, "authoring/*.py -> solutions/*.ipynb (outputs kept when unchanged)"),
    "execute": (cmd_execute, "run every solution notebook on a fresh kernel (--in-place stores outputs)"),
    "release": (cmd_release, "solutions/ -> notebooks/ with nbgrader's generate_assignment"),
    "check": (cmd_check, "fail when solutions/ or notebooks/ are out of date"),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m course_utils.build", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name, (fn, summary) in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=summary)
        p.set_defaults(fn=fn)
        p.add_argument("--assignment", "-a", action="append", help="only this assignment (repeatable)")
        if name == "execute":
            p.add_argument("--in-place", action="store_true", help="store outputs in solutions/")
            p.add_argument("--smoke", action="store_true", help="tiny experiment sizes (COURSE_SMOKE=1)")
    args = ap.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
