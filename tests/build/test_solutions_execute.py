"""Every solution notebook executes top to bottom on CPU, within its time budget."""

import pytest
from nbclient.exceptions import CellExecutionError

from course_utils.build.notebooks import execute_notebook
from course_utils.lessons import LESSONS


@pytest.mark.parametrize("lesson", LESSONS, ids=[l.assignment for l in LESSONS])
def test_solution_executes_on_cpu(lesson, tmp_path):
    try:
        nb, seconds = execute_notebook(
            lesson.solution, tmp_path / "out.ipynb", timeout_s=600, env={"COURSE_SMOKE": "1", "COURSE_DEVICE": "cpu"}
        )
    except CellExecutionError as err:  # nbclient stops at the first failing cell
        pytest.fail(f"{lesson.assignment}: a cell failed on CPU:\n{str(err)[-3000:]}")
    skipped = [
        i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip() and c.execution_count is None
    ]
    assert not skipped, f"code cells {skipped} did not run (a skip-execution tag?)"
    assert seconds < lesson.execute_timeout_s, f"took {seconds:.1f} s (budget {lesson.execute_timeout_s} s)"
