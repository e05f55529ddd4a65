"""What keeps grading fast: each kernel's share of the cores, and the worker's lean imports.

Measured in bench/RESULTS.md, section 3 (`make bench-grading`): with two jobs on two cores,
kernels that each took every core waited on each other; and every worker (one per submission)
spent about 0.9 s importing a parser package no notebook schema uses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from course_utils.grading import autograde as ag
from course_utils.grading.autograde import GradeOptions, kernel_threads
from course_utils.grading.course import REPO_ROOT, CourseDirs
from course_utils.grading.submissions import Submission


@pytest.mark.parametrize(("cores", "jobs", "threads"), [(8, 1, 8), (8, 2, 4), (8, 3, 2), (2, 2, 1), (2, 16, 1)])
def test_each_kernel_gets_its_share_of_the_cores(monkeypatch, cores, jobs, threads):
    monkeypatch.setattr(ag.os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    assert kernel_threads(jobs) == threads


@pytest.mark.parametrize("jobs", [0, -1, 1.5, True, "2"])
def test_kernel_threads_refuses_a_job_count_that_is_not_a_positive_int(jobs):
    with pytest.raises(ValueError, match="jobs must be a positive int"):
        kernel_threads(jobs)


class _FakeWorker:
    """Stands in for the worker process: records the environment it was started with."""

    seen: list[dict] = []

    def __init__(self, argv, **kwargs):
        self.pid, self.returncode = 4242, 0
        _FakeWorker.seen.append(kwargs["env"])

    def communicate(self, timeout=None):
        return json.dumps({"success": True}).encode() + b"\n", b""


def _start_worker(tmp_path, monkeypatch, jobs):
    _FakeWorker.seen.clear()
    monkeypatch.setattr(ag.subprocess, "Popen", _FakeWorker)
    monkeypatch.setattr(ag.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    sub = Submission("learner", "01_sinusoidal_embedding", tmp_path / "submitted" / "learner")
    ok, reason = ag._run_worker(CourseDirs(root=tmp_path), sub, GradeOptions(jobs=jobs, sandbox=False))
    assert (ok, reason) == (True, "")
    return _FakeWorker.seen[-1]


def test_the_worker_and_its_kernel_are_started_with_their_share_of_threads(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert _start_worker(tmp_path, monkeypatch, jobs=2)["OMP_NUM_THREADS"] == "2"
    assert _start_worker(tmp_path, monkeypatch, jobs=1)["OMP_NUM_THREADS"] == "4"


def test_an_instructors_own_thread_count_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert _start_worker(tmp_path, monkeypatch, jobs=2)["OMP_NUM_THREADS"] == "3"


def test_the_worker_skips_the_iri_parsers_and_still_validates_notebooks():
    # A fresh process, as the orchestrator starts it: importing the worker must leave the
    # optional rfc3987_syntax out, and nbformat must still read and validate a lesson.
    code = (
        "import sys, course_utils.grading.worker, nbformat\n"
        f"nb = nbformat.read({str(REPO_ROOT / 'solutions/01_sinusoidal_embedding/01_sinusoidal_embedding.ipynb')!r}, 4)\n"
        "nbformat.validate(nb)\n"
        "print(repr(sys.modules.get('rfc3987_syntax', 'absent')), len(nb.cells))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT, env=dict(os.environ)
    ).stdout.split()
    assert out[0] in ("None", "'absent'"), f"the worker imported rfc3987_syntax: {out[0]}"
    assert int(out[1]) > 10


def _bench_runs(path: str) -> tuple[dict, dict, dict]:
    """A `bench/grading.py` JSON file, its one-job and two-job runs; every submission graded alike in both."""
    figures = json.loads((REPO_ROOT / path).read_text())
    one, two = (next(r for r in figures["runs"] if r["jobs"] == j) for j in (1, 2))
    assert all(r["same_grades_as_first_run"] for r in figures["runs"]) and figures["statuses"] == {"graded": 20}
    return figures, one, two


@pytest.mark.parametrize("which", ["before", "after"])
def test_results_md_reports_the_measured_grading_figures(which):
    """bench/RESULTS.md's before/after table is the JSON the benchmark wrote, row for row."""
    figures, one, two = _bench_runs(f"bench/results_grading_threads_{which}.json")
    row = f"| {figures['git_commit'][:7]} ({which}) | {one['seconds']:.1f} s | {two['seconds']:.1f} s | " + (
        f"**{two['per_minute']:.1f}** | **{one['seconds'] / figures['submissions']:.1f} s** |"
        if which == "after"
        else f"{two['per_minute']:.1f} | {one['seconds'] / figures['submissions']:.1f} s |"
    )
    assert row in (REPO_ROOT / "bench/RESULTS.md").read_text()
    assert figures["sandbox"] and not figures["git_dirty"] and figures["cores"] == 2


def test_without_the_sandbox_kernels_talk_over_their_own_unix_sockets(tmp_path):
    """Two jobs without the sandbox once lost a kernel to a TCP port both had been handed
    ("Address already in use"); each worker's kernels now use ipc sockets in its own folder."""
    from gradekit import grade, solution_notebook

    graded = grade(tmp_path, "01_sinusoidal_embedding", {"a": solution_notebook("01_sinusoidal_embedding")}, jobs=1)
    assert graded["a"].status == "graded" and graded["a"].score == graded["a"].max_score
    log = (tmp_path / "course/build/grading/logs/a--01_sinusoidal_embedding.log").read_text()
    assert "Kernel is running over TCP" not in log


def test_results_md_reports_each_grading_change_alone():
    text = " ".join((REPO_ROOT / "bench/RESULTS.md").read_text().split())
    for name in ("imports", "threads"):
        _, one, two = _bench_runs(f"bench/results_grading_stepwise_{name}.json")
        assert f"{one['seconds']:.1f} s and {two['seconds']:.1f} s ({two['per_minute']:.1f} per minute)" in text
