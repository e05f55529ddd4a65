"""Every solution notebook executes top to bottom on CPU, within its time budget."""

import pytest

from course_utils.grading.notebooks import execute_notebook
from course_utils.lessons import LESSONS


@pytest.mark.parametrize("lesson", LESSONS, ids=[l.assignment for l in LESSONS])
def test_solution_executes_on_cpu(lesson, tmp_path):
    nb, seconds = execute_notebook(lesson.solution, tmp_path / "out.ipynb", timeout_s=600,
                                   env={"COURSE_SMOKE": "1", "COURSE_DEVICE": "cpu"})
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert seconds < lesson.execute_timeout_s, f"took {seconds:.1f} s (budget {lesson.execute_timeout_s} s)"
