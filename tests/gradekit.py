"""Helpers for grading tests: build learner submissions and grade them in a temporary course."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import nbformat

from course_utils.build.authoring import solution_answer
from course_utils.grading.autograde import GradeOptions, autograde
from course_utils.grading.submissions import write_submission
from course_utils.grading.course import REPO_ROOT, CourseDirs
from course_utils.lessons import by_id


def student_notebook(assignment: str) -> nbformat.NotebookNode:
    """The committed student version of a lesson."""
    return nbformat.read(REPO_ROOT / by_id(assignment).student, as_version=4)


def solution_notebook(assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(REPO_ROOT / by_id(assignment).solution, as_version=4)


def solution_source(assignment: str, grade_id: str) -> str:
    """The solution cell's source with its BEGIN/END SOLUTION markers removed."""
    return solution_answer(solution_notebook(assignment), grade_id)


def with_answers(assignment: str, answers: dict[str, str]) -> nbformat.NotebookNode:
    """The student notebook with the given answer cells (grade id -> source) filled in."""
    nb = copy.deepcopy(student_notebook(assignment))
    missing = set(answers)
    for cell in nb.cells:
        gid = (cell.metadata.get("nbgrader") or {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
            missing.discard(gid)
    assert not missing, f"no answer cells {missing} in {assignment}"
    return nb


def grade(
    tmp: Path,
    assignment: str,
    submissions: dict[str, nbformat.NotebookNode | bytes],
    jobs: int = 2,
    sandbox: bool = False,
    db_url: str = "",
    **opts,
) -> dict:
    """Grade ``submissions`` (learner name -> notebook or raw bytes) in a fresh course under ``tmp``.

    ``db_url``: the gradebook (default: SQLite in the course folder).
    """
    root = tmp / "course"
    if not (root / "solutions" / assignment).exists():
        shutil.copytree(REPO_ROOT / "solutions" / assignment, root / "solutions" / assignment)
    for student, nb in submissions.items():
        write_submission(root / "submitted", student, assignment, nb)
    dirs = CourseDirs(root=root, db_url=db_url)
    results = autograde(
        dirs, [assignment], GradeOptions(jobs=jobs, sandbox=sandbox, **opts), students=list(submissions)
    )
    return {r.student: r for r in results}


def hidden_ids(assignment: str) -> set[str]:
    """Grade ids of the test cells that contain hidden tests."""
    return {
        c.metadata["nbgrader"]["grade_id"]
        for c in solution_notebook(assignment).cells
        if (c.metadata.get("nbgrader") or {}).get("grade") and "BEGIN HIDDEN TESTS" in c.source
    }


def assert_full_marks(result, total: float) -> None:
    """Graded (not flagged or failed), ``total`` points, and full marks on every graded cell."""
    assert result.status == "graded", (result.reason, result.findings, result.notes)
    assert result.score == result.max_score == total
    assert all(s == m for s, m in result.cells.values()), result.cells


def assert_zero_everywhere(result, total: float) -> None:
    """Graded (not failed), out of ``total``, and 0 on every graded cell."""
    assert result.status == "graded", (result.reason, result.findings, result.notes)
    assert result.score == 0 and result.max_score == total
    assert all(s == 0 for s, _ in result.cells.values()), result.cells


def lost_hidden(result, assignment: str) -> list[str]:
    """The hidden-test cells on which ``result`` scored less than full points."""
    return [g for g in hidden_ids(assignment) if result.cells[g][0] < result.cells[g][1]]
