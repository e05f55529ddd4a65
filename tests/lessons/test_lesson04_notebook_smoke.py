"""Lesson 04's notebook: grading mode trains nothing, and the verdict is computed, not written in.

The "What the numbers show" cell of the solution is run on made-up results of three kinds
(a clear win, a sign that changes between seeds, the simple network ahead); its conclusion
must follow the numbers each time.
"""

import contextlib
import io

import matplotlib
import nbformat
import numpy as np
import pytest

from course_utils.build.notebooks import execute_notebook
from course_utils.lessons.lesson04.results import NOT_MEASURED, Lesson04Results, ModelCurves
from course_utils.lessons import by_id

A = "04_mnist_simple_vs_sinusoidal"
VERDICT_MARK = "shown = gpu_results if gpu_results.measured else cpu_results"


def _verdict_cell():
    nb = nbformat.read(by_id(A).solution, as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code" and VERDICT_MARK in c.source]
    assert len(cells) == 1
    return cells[0]


def _results(simple_final, sin_final):
    """Three seeds, two epochs, four windows; the last epoch's losses are the given ones."""
    steps = np.array([5, 10, 15, 20])

    def curves(finals):
        finals = np.asarray(finals, dtype=float)
        windows = np.stack([finals + d for d in (0.5, 0.2, 0.05, 0.0)], axis=1)  # [3, 4]
        epochs = np.stack([finals + 0.3, finals], axis=1)  # [3, 2]
        return ModelCurves(1000, windows, epochs)

    prov = {"device": "test", "torch": "x", "seeds": [0, 1, 2], "date": "today", "command": "made up", "data": "none"}
    return Lesson04Results(
        "measured",
        "made-up results",
        prov,
        {"name": "cpu_medium", "epochs": 2, "total_steps": 20},
        {},
        steps,
        {"UNetSimple": curves(simple_final), "UNetSinusoidal": curves(sin_final)},
    )


def _conclusion(gpu, cpu):
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    ns = {"np": np, "plt": plt, "gpu_results": gpu, "cpu_results": cpu}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(_verdict_cell(), "<verdict cell>", "exec"), ns)
    plt.close("all")
    text = out.getvalue()
    return [ln for ln in text.splitlines() if ln.startswith("Conclusion:")][0], text


@pytest.fixture(scope="module")
def unmeasured_gpu():
    """GPU results as a checkout without a GPU run would have them."""
    return Lesson04Results(
        NOT_MEASURED,
        "GPU profile: 60,000 digits x 10 epochs, seeds 0, 1, 2",
        {"command": "python bench/lesson04_results.py --profile gpu"},
        {"name": "gpu", "n_images": 60000, "epochs": 10, "batch_size": 128},
    )


def test_clear_win_stands_out(unmeasured_gpu):
    line, text = _conclusion(unmeasured_gpu, _results([0.10, 0.101, 0.099], [0.08, 0.081, 0.079]))
    assert "UNetSinusoidal is lower for every seed, and by more than the seed spread" in line
    assert "3 of 3 seeds" in text and "not yet measured" in text


def test_sign_that_changes_between_seeds_means_no_winner(unmeasured_gpu):
    line, _ = _conclusion(unmeasured_gpu, _results([0.10, 0.09, 0.095], [0.099, 0.092, 0.094]))
    assert "no winner" in line


def test_simple_network_ahead_is_reported_as_such(unmeasured_gpu):
    line, _ = _conclusion(unmeasured_gpu, _results([0.080, 0.085, 0.090], [0.081, 0.0862, 0.0905]))
    assert line.startswith("Conclusion: UNetSimple is lower for every seed, but by no more than the seed spread")


def test_measured_gpu_results_take_precedence():
    gpu = _results([0.05, 0.051, 0.049], [0.04, 0.041, 0.039])
    cpu = _results([0.10, 0.09, 0.095], [0.099, 0.092, 0.094])
    line, text = _conclusion(gpu, cpu)
    assert "stands out" in line and "not yet measured" not in text


def test_grading_mode_runs_no_training(tmp_path):
    nb, seconds = execute_notebook(
        by_id(A).solution, tmp_path / "graded.ipynb", timeout_s=300, env={"COURSE_GRADING": "1", "COURSE_DEVICE": "cpu"}
    )
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "Grading mode: training is skipped" in text
    assert "Estimated training time" not in text and "s/step" not in text
    assert "Conclusion:" in text  # the cached results are still read and judged
