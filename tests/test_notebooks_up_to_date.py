"""solutions/ are built from authoring/ and executed; notebooks/ are exactly what nbgrader generates."""

import nbformat
import pytest

from course_utils.grading.cli import release_drift
from course_utils.grading.notebooks import solution_drift
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
    assert any(o.get("output_type") == "display_data" and "image/png" in o.get("data", {})
               for c in code for o in c.outputs), "no figure in the executed solution"


@pytest.mark.parametrize("lesson", LESSONS, ids=IDS)
def test_student_notebooks_hold_no_solution_no_hidden_test_no_output(lesson):
    nb = nbformat.read(lesson.student, as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    code_text = "\n".join(c.source for c in nb.cells if c.cell_type == "code")  # hints may quote lines
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text
    for c in nb.cells:
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None
    sol = nbformat.read(lesson.solution, as_version=4)
    for c in sol.cells:
        meta = c.metadata.get("nbgrader") or {}
        if meta.get("solution"):
            inside = c.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
            body = [ln.strip() for ln in inside.splitlines() if ln.strip() and not ln.strip().startswith("#")]
            leaked = [ln for ln in body if len(ln) > 12 and ln in code_text]
            assert not leaked, f"solution lines leaked into the student notebook: {leaked[:3]}"
