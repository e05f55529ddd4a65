"""Lesson 04's held-out verdict: its sentences follow the numbers (synthetic results of each kind)."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from course_utils import lesson04_results as lr
from course_utils.lessons.lesson04.errors import ResultsError

T = np.array([0, 10, 100, 500, 999])


def _results(gaps_per_seed, base=0.05, missing=None):
    """Three arms; UNetScalar's held-out loss = UNetSinusoidal's + the given per-seed gap."""
    gaps = np.asarray(gaps_per_seed, dtype=float)
    n = len(gaps)
    ref = np.tile(base * np.linspace(2, 0.5, len(T)), (n, 1))  # [n, K]
    models = {}
    for name, loss in (("UNetSinusoidal", ref), ("UNetScalar", ref + gaps[:, None]), ("UNetSimple", ref + 0.01)):
        models[name] = lr.ModelCurves(1000, np.ones((n, 2)), np.ones((n, 1)), (), T, loss)
    prov = {
        "device": "test",
        "torch": "x",
        "seeds": list(range(n)),
        "date": "today",
        "command": "made up",
        "data": "none",
    }
    return lr.Lesson04Results(
        "measured", "made-up results", prov, {"epochs": 1}, {}, np.array([1, 2]), models, dict(missing or {})
    )


def _verdict(res, a="UNetScalar", b="UNetSinusoidal"):
    lines = lr.heldout_verdict(res, a, b)
    assert lines[-1].startswith("Verdict:")
    return lines


def test_a_clear_gap_stands_out():
    lines = _verdict(_results([0.010, 0.011, 0.009]))
    assert "UNetSinusoidal has the lower held-out loss for all 3 seeds, by more than twice" in lines[-1]
    assert "stands out of the seed noise" in lines[-1]
    assert "+0.0100" in lines[0] and "0: +0.0100, 1: +0.0110, 2: +0.0090" in lines[0]
    assert "spread (std) 0.0010" in lines[0]


def test_a_consistent_but_small_gap_is_called_so():
    lines = _verdict(_results([0.001, 0.004, 0.0002]))
    assert "UNetSinusoidal has the lower held-out loss for all 3 seeds, but by no more than twice" in lines[-1]
    assert "3 seeds cannot establish it firmly" in lines[-1]


def test_a_sign_that_changes_means_no_winner():
    lines = _verdict(_results([0.002, -0.003, 0.001]))
    assert "the sign of the gap changes between seeds" in lines[-1] and "no winner" in lines[-1]


def test_the_other_arm_ahead_is_named():
    lines = _verdict(_results([-0.010, -0.011, -0.009]))
    assert lines[-1].startswith("Verdict: UNetScalar has the lower held-out loss for all 3 seeds, by more")
    assert "-0.0100" in lines[0]


def test_one_seed_cannot_decide():
    assert "one seed cannot separate" in _verdict(_results([0.01]))[-1]


def test_where_in_t_the_gap_is_largest():
    res = _results([0.0, 0.0, 0.0])
    res.models["UNetScalar"].heldout_loss[:, 1] += 0.02  # t = 10 only
    assert "largest at t = 10: +0.0200" in _verdict(res)[1]


def test_missing_arms_and_measurements_are_said_not_invented():
    res = _results([0.01, 0.01, 0.01], missing={"UNetAdaGN": "no GPU run yet"})
    with pytest.raises(ResultsError, match=r"no results for UNetAdaGN \(no GPU run yet\)"):
        lr.heldout_gaps(res, "UNetAdaGN", "UNetSinusoidal")
    no_heldout = lr.ModelCurves(1000, np.ones((3, 2)), np.ones((3, 1)))
    res.models["UNetSimple"] = no_heldout
    with pytest.raises(ResultsError, match="UNetSimple has no heldout_loss_by_t"):
        lr.heldout_gaps(res, "UNetSimple", "UNetSinusoidal")
    assert "UNetAdaGN        not yet measured (no GPU run yet)" in lr.summarize(res)


def test_round_trip_and_plot(tmp_path):
    res = _results([0.010, 0.011, 0.009], missing={"UNetAdaGN": "not run"})
    path = lr.save_results(res, tmp_path / "r.json")
    back = lr.load_results(path)
    assert back.not_yet_measured == {"UNetAdaGN": "not run"}
    assert np.allclose(back.models["UNetScalar"].heldout_loss, res.models["UNetScalar"].heldout_loss)
    assert lr.heldout_verdict(back, "UNetScalar", "UNetSinusoidal") == lr.heldout_verdict(
        res, "UNetScalar", "UNetSinusoidal"
    )
    ax_loss, ax_gap = lr.plot_heldout_by_t(back, pairs=(("UNetScalar", "UNetSinusoidal"),))
    assert len(ax_loss.lines) == 3 and len(ax_gap.lines) == 1 + 3 + 1  # mean, 3 seeds, zero line
    record = json.loads(path.read_text())
    record["models"]["UNetScalar"]["heldout_loss_by_t"][0]["seed"] = 7
    path.write_text(json.dumps(record))
    with pytest.raises(ResultsError, match="malformed heldout_loss_by_t"):
        lr.load_results(path)
    record["models"]["UNetScalar"]["heldout_loss_by_t"][0]["seed"] = 0
    record["not_yet_measured"] = {"UNetScalar": "contradiction"}
    path.write_text(json.dumps(record))
    with pytest.raises(ResultsError, match="both measured and 'not yet measured'"):
        lr.load_results(path)
