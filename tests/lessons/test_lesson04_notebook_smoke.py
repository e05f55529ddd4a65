"""Lesson 04's notebook: grading mode trains nothing, and the verdict is computed, not written in.

The "What the numbers show" cell of the solution is run on made-up held-out results of each kind
(a clear win, a sign that changes between seeds, the other network ahead, GPU results that take
precedence); its verdicts must follow the numbers each time.
"""

import contextlib
import io

import nbformat
import numpy as np
import pytest

from course_utils.build.notebooks import execute_notebook
from course_utils.lessons.lesson04.results import NOT_MEASURED, Lesson04Results, ModelCurves, heldout_verdict
from course_utils.lessons import by_id

A = "04_mnist_simple_vs_sinusoidal"
VERDICT_MARK = "for line in heldout_verdict(shown, a, b):"
PAIRS = (("UNetScalar", "UNetSinusoidal"), ("UNetSimple", "UNetSinusoidal"), ("UNetSinusoidal", "UNetAdaGN"))
T = np.array([0, 50, 500, 999])


def _verdict_cell():
    nb = nbformat.read(by_id(A).solution, as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code" and VERDICT_MARK in c.source]
    assert len(cells) == 1
    return cells[0]


def _results(scalar_gap, label="CPU results", device="CPU"):
    """Four arms, three seeds; UNetScalar's held-out loss = UNetSinusoidal's + the per-seed gap."""
    gaps = np.asarray(scalar_gap, dtype=float)
    ref = np.tile(np.array([0.2, 0.1, 0.03, 0.01]), (3, 1))  # [3, 4]
    losses = {
        "UNetSinusoidal": ref,
        "UNetScalar": ref + gaps[:, None],
        "UNetSimple": ref + 0.02,
        "UNetAdaGN": ref - 0.02,
    }
    models = {n: ModelCurves(1000, np.ones((3, 2)), np.ones((3, 1)), (), T, v) for n, v in losses.items()}
    prov = {"device": device, "torch": "x", "seeds": [0, 1, 2], "date": "today", "command": "made up", "data": "none"}
    return Lesson04Results(
        "measured", label, prov, {"name": "cpu", "epochs": 1, "total_steps": 100}, {}, np.array([5, 10]), models
    )


def _verdicts(gpu, cpu):
    ns = {"np": np, "gpu_results": gpu, "cpu_results": cpu, "PAIRS": PAIRS, "heldout_verdict": heldout_verdict}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(_verdict_cell(), "<verdict cell>", "exec"), ns)
    text = out.getvalue()
    return [ln.strip() for ln in text.splitlines() if ln.strip().startswith("Verdict:")], text


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
    lines, text = _verdicts(unmeasured_gpu, _results([0.010, 0.011, 0.009]))
    assert len(lines) == 3 and "UNetSinusoidal has the lower held-out loss for all 3 seeds, by more" in lines[0]
    assert "UNetScalar vs UNetSinusoidal  (CPU results" in text
    assert "UNetSinusoidal has the lower held-out loss for all 3 seeds, by more" in lines[1]  # simple is worse
    assert "UNetAdaGN has the lower held-out loss" in lines[2]


def test_sign_that_changes_between_seeds_means_no_winner(unmeasured_gpu):
    lines, _ = _verdicts(unmeasured_gpu, _results([0.002, -0.003, 0.001]))
    assert "no winner between UNetScalar and UNetSinusoidal" in lines[0]


def test_scalar_ahead_is_reported_as_such(unmeasured_gpu):
    lines, _ = _verdicts(unmeasured_gpu, _results([-0.001, -0.004, -0.0002]))
    assert lines[0].startswith("Verdict: UNetScalar has the lower held-out loss for all 3 seeds, but by no more")


def test_measured_gpu_held_out_results_take_precedence():
    gpu = _results([0.010, 0.011, 0.009], label="GPU results", device="GPU")
    lines, text = _verdicts(gpu, _results([0.002, -0.003, 0.001]))
    assert "stands out" in lines[0] and "(GPU results" in text and "(CPU results" not in text


def test_gpu_results_without_held_out_losses_fall_back_to_cpu():
    gpu = _results([0.010, 0.011, 0.009], label="GPU results", device="GPU")
    for m in gpu.models.values():
        object.__setattr__(m, "heldout_loss", None)
    lines, text = _verdicts(gpu, _results([0.002, -0.003, 0.001]))
    assert "no winner" in lines[0] and "(GPU results" not in text


def test_grading_mode_runs_no_training(tmp_path):
    nb, seconds = execute_notebook(
        by_id(A).solution, tmp_path / "graded.ipynb", timeout_s=300, env={"COURSE_GRADING": "1", "COURSE_DEVICE": "cpu"}
    )
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "Grading mode: training is skipped" in text
    assert "Estimated training time" not in text and "s/step" not in text
    assert "Verdict:" in text and "Grading mode: sampling is skipped" in text  # cached results still judged
