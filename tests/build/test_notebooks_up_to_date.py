"""solutions/ are built from authoring/ and executed; notebooks/ are exactly what nbgrader generates."""

import re

import nbformat
import pytest

from course_utils.build.notebooks import release_drift, solution_drift
from course_utils.lessons import LESSONS

IDS = [l.assignment for l in LESSONS]


def test_solutions_match_their_sources():
    assert solution_drift() == [], "run `make solutions` and commit the result"


def test_student_notebooks_equal_what_the_generator_produces_now():
    assert release_drift(list(LESSONS)) == [], "run `make notebooks` and commit the result"


@pytest.mark.parametrize("lesson", LESSONS, ids=IDS)
def test_committed_solutions_are_executed_so_readers_see_every_plot(lesson):
    nb = nbformat.read(lesson.solution, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "some solution cells have no outputs: run `make solutions`"
    assert any(
        o.get("output_type") == "display_data" and "image/png" in o.get("data", {}) for c in code for o in c.outputs
    ), "no figure in the executed solution"


@pytest.mark.parametrize("lesson", LESSONS, ids=IDS)
def test_student_notebooks_hold_no_solution_no_hidden_test_no_output(lesson):
    nb = nbformat.read(lesson.student, as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    # Hints (markdown, or comments in a TODO skeleton) may quote an answer; executable code may not.
    code_text = "\n".join(
        ln for c in nb.cells if c.cell_type == "code" for ln in c.source.splitlines() if not ln.strip().startswith("#")
    )
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text
    for c in nb.cells:
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None
    # A line of an answer has leaked when the student's code contains it although the
    # solution notebook only has it inside a BEGIN/END SOLUTION region (every region of
    # every cell), not in the code it shows everyone.
    inside, outside = [], []
    for c in nbformat.read(lesson.solution, as_version=4).cells:
        if c.cell_type == "code":
            for i, part in enumerate(re.split(r"### (?:BEGIN|END) SOLUTION", c.source)):
                (inside if i % 2 else outside).append(part)
    shown = {ln.strip() for part in outside for ln in part.splitlines()}
    answer = [
        ln.strip()
        for part in inside
        for ln in part.splitlines()
        if len(ln.strip()) > 12 and not ln.strip().startswith("#")
    ]
    leaked = [ln for ln in answer if ln in code_text and ln not in shown]
    assert not leaked, f"solution lines leaked into the student notebook: {leaked[:3]}"
