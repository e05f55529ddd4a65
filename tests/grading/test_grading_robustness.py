"""Broken submissions get a clear status while a correct one in the same run keeps full marks.

Also: submitted files are never modified, the gradebook is backed up, re-grading is
idempotent, the report never shows a failed submission as a plain 0, and feedback
reveals no hidden test.
"""

import copy
import csv

import pytest

from course_utils.grading.course import CourseDirs
from course_utils.grading.feedback import write_feedback
from course_utils.grading.export import export_csv
from course_utils.grading.report import exit_code, format_table, load_status
from course_utils.grading.submissions import file_hashes
from gradekit import grade, solution_source, with_answers

A = "01_sinusoidal_embedding"
ID = "sinusoidal_impl"


def good():
    return with_answers(A, {ID: solution_source(A, ID)})


def _drop_cells(nb, pred):
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if not pred(c)]
    return nb


def _gid(c):
    return (c.metadata.get("nbgrader") or {}).get("grade_id", "")


def lost_metadata():
    nb = copy.deepcopy(good())
    for c in nb.cells:
        c.metadata.pop("nbgrader", None)
    return nb


def renamed_test_cell():
    nb = copy.deepcopy(good())
    for c in nb.cells:
        if _gid(c) == "hidden_sinusoidal_values":
            c.metadata["nbgrader"]["grade_id"] = "my_renamed_cell"
    return nb


def with_code(src):
    return with_answers(A, {ID: solution_source(A, ID) + "\n" + src})


SUBMISSIONS = {
    "correct": good,
    "corrupt-json": lambda: b'{"cells": [ {"cell_type": "code", "source": "x = ',
    "not-a-notebook": lambda: b'{"hello": "world"}',
    "deleted-test-cells": lambda: _drop_cells(good(), lambda c: _gid(c).startswith("hidden_")),
    "lost-metadata": lost_metadata,
    "renamed-test-cell": renamed_test_cell,
    "endless-loop": lambda: with_code("while True:\n    pass"),
    "swallows-interrupt": lambda: with_code(
        "import time\nwhile True:\n    try:\n        time.sleep(0.5)\n    except KeyboardInterrupt:\n        pass"
    ),
    "kills-its-kernel": lambda: with_code("import os\nos._exit(1)"),
    "prints-50mb": lambda: with_code("import sys\nsys.stdout.write('x' * 50_000_000)"),
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("robust")
    subs = {k: v() for k, v in SUBMISSIONS.items()}
    results = grade(tmp, A, subs, jobs=2, sandbox=False, cell_timeout_s=15, submission_timeout_s=60)
    root = tmp / "course"
    hashes = {k: file_hashes(root / "submitted" / k / A) for k in subs}
    return tmp, root, subs, results, hashes


def test_correct_submission_graded_in_the_same_run_gets_full_marks(run):
    r = run[3]["correct"]
    assert (r.status, r.score, r.max_score) == ("graded", 10, 10)


@pytest.mark.parametrize(
    "name, reason",
    [
        ("corrupt-json", "not valid notebook JSON"),
        ("not-a-notebook", "not a notebook"),
        ("kills-its-kernel", "kernel died"),
    ],
)
def test_broken_submissions_fail_with_a_reason(run, name, reason):
    r = run[3][name]
    assert r.status == "failed" and reason in r.reason, r.reason
    assert r.score is None


def test_endless_loop_is_interrupted_and_reported(run):
    r = run[3]["endless-loop"]
    assert r.status == "graded" and any("longer than 15 s" in n for n in r.notes), (r.status, r.notes)
    assert "interrupted" in format_table(load_status(CourseDirs(root=run[1])))


def test_interrupt_swallowing_loop_fails_without_stalling_the_run(run):
    r = run[3]["swallows-interrupt"]
    assert r.status == "failed" and ("longer than" in r.reason or "timed out" in r.reason), r.reason
    assert r.seconds < 90


@pytest.mark.parametrize("name", ["deleted-test-cells", "lost-metadata", "renamed-test-cell"])
def test_damaged_notebooks_are_repaired_and_fully_graded(run, name):
    r = run[3][name]
    assert r.status == "graded" and r.score == r.max_score == 10, (r.reason, r.cells)
    assert r.notes, "the repair should be reported"


def test_huge_output_is_graded_and_trimmed(run):
    tmp, root, *_ = run
    r = run[3]["prints-50mb"]
    assert r.status == "graded" and r.score == 10
    autograded = root / "autograded" / "prints-50mb" / A / f"{A}.ipynb"
    assert autograded.stat().st_size < 2_000_000


def test_submitted_files_are_never_modified(run):
    tmp, root, subs, results, hashes = run
    for k in subs:
        assert results[k].unmodified
        assert file_hashes(root / "submitted" / k / A) == hashes[k]


def test_regrading_is_idempotent_and_backs_up_the_gradebook(run):
    tmp, root, subs, results, hashes = run
    again = grade(tmp, A, {"correct": subs["correct"], "deleted-test-cells": subs["deleted-test-cells"]})
    for k, r in again.items():
        assert (r.status, r.score, r.cells) == (results[k].status, results[k].score, results[k].cells)
    assert len(list((root / "backups").glob("gradebook-*.db"))) >= 1


def test_report_marks_failures_and_exports_status(run, tmp_path):
    root = run[1]
    rows = load_status(CourseDirs(root=root))
    table = format_table(rows)
    assert "failed" in table and "kills-its-kernel" in table and exit_code(rows) == 1
    export_csv(CourseDirs(root=root).db_url, tmp_path / "g.csv")
    got = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "g.csv"))}
    assert got["corrupt-json"]["status"] == "failed" and got["corrupt-json"]["score"] == ""
    assert got["correct"]["status"] == "graded" and got["correct"]["score"] == "10.0"


def test_feedback_reveals_no_hidden_test(run, tmp_path):
    root = run[1]
    r = run[3]["correct"]
    nb = root / "autograded" / "correct" / A / f"{A}.ipynb"
    assert "BEGIN HIDDEN TESTS" in nb.read_text() or "_expected_d8" in nb.read_text()
    out = write_feedback(nb, root / "build/grading/release" / A / f"{A}.ipynb", r.cells, tmp_path / "f.html")
    html = out.read_text()
    assert "_expected_d8" not in html and "HIDDEN" not in html and "0.841470985" not in html
    assert "Score: 10 / 10" in html


def test_learners_exist_in_the_gradebook_before_parallel_workers_start(tmp_path, monkeypatch):
    """Two workers grading one learner's two assignments must not both create the learner."""
    import shutil

    from nbgrader.api import Gradebook

    from course_utils.grading import autograde as ag
    from course_utils.grading.course import REPO_ROOT
    from course_utils.grading.submissions import write_submission
    from course_utils.lessons import by_id

    root = tmp_path / "course"
    assignments = ["01_sinusoidal_embedding", "03_adaptive_group_norm"]
    for a in assignments:
        shutil.copytree(REPO_ROOT / "solutions" / a, root / "solutions" / a)
        write_submission(root / "submitted", "ada", a, (REPO_ROOT / by_id(a).solution).read_bytes())
    dirs = CourseDirs(root=root)
    seen = []

    def fake_grade_one(dirs, sub, opts):
        with Gradebook(dirs.db_url) as gb:
            seen.append((sub.assignment, [s.id for s in gb.students]))
        return ag.SubmissionResult(sub.student, sub.assignment, "graded", score=0.0, max_score=0.0)

    monkeypatch.setattr(ag, "_grade_one", fake_grade_one)
    ag.autograde(dirs, assignments, ag.GradeOptions(jobs=2, sandbox=False))
    assert sorted(seen) == [(a, ["ada"]) for a in assignments]
