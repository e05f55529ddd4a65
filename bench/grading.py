r"""Benchmark: lesson 01 submissions autograded per minute, one job at a time vs in parallel.

Generates ``--n`` learner submissions of lesson 01 from the course's own notebooks
(correct answers, three kinds of wrong answer, untouched student notebooks, in a
fixed rotation), then grades the same set in a fresh temporary course once per
``--jobs`` value, through the whole pipeline that ``make autograde`` runs
(staging, integrity scan, sandboxed nbgrader worker per submission, gradebook
reads, status file). Every run must give the same grades; the script says so.

    python bench/grading.py                       # what `make bench-grading` runs
    python bench/grading.py --n 4 --jobs 1 2      # a quick check
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without install

import nbformat

from course_utils.build.authoring import solution_answer
from course_utils.grading.autograde import GradeOptions, autograde
from course_utils.grading.submissions import write_submission
from course_utils.grading.course import REPO_ROOT, CourseDirs
from course_utils.lessons import by_id
from course_utils.provenance import machine

A = "01_sinusoidal_embedding"
ANSWER = "sinusoidal_impl"
# Wrong answers, each a one-line change to the solution (all lose hidden-test points).
MUTATIONS = {
    "cos-first": (
        "torch.cat([torch.sin(angles), torch.cos(angles)]",
        "torch.cat([torch.cos(angles), torch.sin(angles)]",
    ),
    "exponent-over-d": ("* i / half)", "* i / d_emb)"),
    "no-odd-padding": ("    if d_emb % 2 == 1:\n        emb = F.pad(emb, (0, 1))", "    pass"),
}


def make_submissions(n: int) -> dict[str, nbformat.NotebookNode]:
    """``n`` submissions named ``learner-NN``: correct, the three mutations, untouched, in turn."""
    lesson = by_id(A)
    solution = nbformat.read(REPO_ROOT / lesson.solution, as_version=4)
    student = nbformat.read(REPO_ROOT / lesson.student, as_version=4)
    correct = solution_answer(solution, ANSWER)
    kinds: list[tuple[str, str | None]] = [("correct", correct)]
    for name, (old, new) in MUTATIONS.items():
        if old not in correct:
            raise SystemExit(f"mutation {name!r} no longer applies to lesson 01's solution")
        kinds.append((name, correct.replace(old, new)))
    kinds.append(("untouched", None))
    subs = {}
    for i in range(n):
        kind, source = kinds[i % len(kinds)]
        nb = copy.deepcopy(student)
        if source is not None:
            for cell in nb.cells:
                if (cell.metadata.get("nbgrader") or {}).get("grade_id") == ANSWER:
                    cell.source = source
        subs[f"learner-{i:02d}-{kind}"] = nb
    return subs


def grade_once(subs: dict[str, nbformat.NotebookNode], jobs: int, sandbox: bool) -> tuple[float, dict]:
    """Grade ``subs`` in a fresh temporary course; (wall seconds, learner -> (status, score))."""
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        root = Path(tmp) / "course"
        shutil.copytree(REPO_ROOT / "solutions" / A, root / "solutions" / A)
        for student, nb in subs.items():
            write_submission(root / "submitted", student, A, nb)
        start = time.perf_counter()
        results = autograde(CourseDirs(root=root), [A], GradeOptions(jobs=jobs, sandbox=sandbox))
        seconds = time.perf_counter() - start
    return seconds, {r.student: (r.status, r.score) for r in results}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, default=20, help="submissions to generate (default 20)")
    p.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="job counts to compare")
    p.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    p.add_argument(
        "--no-sandbox", action="store_true", help="grade without the sandbox (faster; not how learners are graded)"
    )
    args = p.parse_args(argv)
    if args.n < 1 or any(j < 1 for j in args.jobs):
        p.error("--n and every --jobs value must be >= 1")
    use_sandbox = not args.no_sandbox
    subs = make_submissions(args.n)
    print(
        f"grading bench: {args.n} lesson 01 submissions, jobs {args.jobs}, on {os.cpu_count()} "
        f"cores, sandbox {'on' if use_sandbox else 'OFF'}",
        flush=True,
    )
    runs, reference = [], None
    for jobs in args.jobs:
        try:
            seconds, grades = grade_once(subs, jobs, use_sandbox)
        except Exception as err:  # e.g. SandboxUnavailable: say why in one line
            print(f"{type(err).__name__}: {err}", file=sys.stderr)
            return 2
        if reference is None:
            reference = grades
        same = grades == reference
        runs.append(
            {"jobs": jobs, "seconds": seconds, "per_minute": 60 * args.n / seconds, "same_grades_as_first_run": same}
        )
        print(
            f"  jobs={jobs}: {seconds:6.1f} s -> {60 * args.n / seconds:5.1f} submissions/min"
            f"{'' if same else '  (GRADES DIFFER from the first run!)'}",
            flush=True,
        )
    counts: dict[str, int] = {}
    for status, _ in reference.values():
        counts[status] = counts.get(status, 0) + 1
    base = runs[0]["seconds"]
    for r in runs[1:]:
        print(f"  jobs={r['jobs']} vs jobs={runs[0]['jobs']}: {base / r['seconds']:.2f}x faster")
    print(f"  statuses: {counts}; scores: {sorted(s for _, s in reference.values())}")
    figures = {
        **machine("python bench/grading.py " + " ".join(argv if argv is not None else sys.argv[1:])),
        "sandbox": use_sandbox,
        "submissions": args.n,
        "runs": runs,
        "statuses": counts,
        "grades": {k: list(v) for k, v in reference.items()},
    }
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0 if all(r["same_grades_as_first_run"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
