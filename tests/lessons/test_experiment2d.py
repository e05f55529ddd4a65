"""Lesson 05: sample metrics, the training loop and the comparison runner (smoke size)."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from course_utils import experiment2d as ex
from course_utils.cpu_threads import limit_threads
from course_utils.diffusion.metrics2d import mmd_rbf, sliced_wasserstein
from course_utils.components.score2d import ScoreNetworkWithFiLM
from course_utils.diffusion.toy2d import sample_toy
from course_utils.diffusion.vpsde import VPSDE


@pytest.fixture(autouse=True, scope="module")
def _one_cpu_thread():
    """Tiny models: one thread is fastest, and immune to a busy machine (see course_utils.cpu_threads)."""
    with limit_threads(1):
        yield


# ----------------------------------------------------------------------------- metrics


def test_sliced_wasserstein_literal_values():
    x = torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    assert sliced_wasserstein(x, x) == 0.0
    # A shift by a along e1 moves every projection by |a cos(theta)|; the mean over
    # theta in [0, pi) is 2 |a| / pi.
    shifted = x + torch.tensor([0.5, 0.0])
    assert sliced_wasserstein(x, shifted, n_projections=512) == pytest.approx(2 * 0.5 / math.pi, rel=1e-3)
    assert sliced_wasserstein(x.numpy(), x[:300].numpy()) < 0.2  # different sizes go through quantiles


def test_mmd_separates_different_sets():
    a, b = sample_toy("two_moons", 800, seed=0), sample_toy("two_moons", 800, seed=1)
    assert abs(mmd_rbf(a, b)) < 0.01
    assert mmd_rbf(a, sample_toy("eight_gaussians", 800, seed=0)) > 0.1


def test_metric_input_checks():
    with pytest.raises(ValueError, match="NaN or inf"):
        sliced_wasserstein(torch.full((4, 2), float("nan")), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="same dimension"):
        mmd_rbf(torch.zeros(4, 2), torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"x must be \[N, D\]"):
        sliced_wasserstein(torch.zeros(4), torch.zeros(4, 2))


# ----------------------------------------------------------------------------- config and training


def test_config_is_frozen_and_lists_its_arms():
    cfg = ex.Experiment2DConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.steps = 10
    labels = [a[0] for a in cfg.arms()]
    assert labels == [
        "concat",
        "concat_matched",
        "additive",
        "film_default_init",
        "film_identity_init",
        "concat_unscaled_t",
        "film_identity_init_unscaled_t",
    ]
    assert len(cfg.seeds) >= 3
    assert cfg.key() == ex.Experiment2DConfig().key() != ex.smoke_config().key()


def test_training_lowers_the_loss():
    torch.manual_seed(0)
    model = ScoreNetworkWithFiLM()
    log = ex.train_score_network(
        model, sample_toy("two_moons", 1024), VPSDE(), steps=150, batch_size=256, lr=2e-3, seed=0, log_every=50
    )
    assert log.steps == [50, 100, 150] and len(log.losses) == 3
    assert log.losses[-1] < log.losses[0] and log.final_loss == log.losses[-1]
    with pytest.raises(ValueError, match="N >= batch_size"):
        ex.train_score_network(model, sample_toy("two_moons", 10), VPSDE(), batch_size=256)


# ----------------------------------------------------------------------------- the runner


@pytest.fixture(scope="module")
def smoke_results():
    return ex.run_experiment(ex.smoke_config(), progress=lambda line: None)


def test_smoke_run_has_every_arm_and_full_provenance(smoke_results):
    cfg = ex.smoke_config()
    assert smoke_results["schema"] == ex.SCHEMA
    assert smoke_results["config"] == dataclasses.asdict(cfg)
    assert all(k in smoke_results["provenance"] for k in ex.PROVENANCE_KEYS)
    labels = {r["label"] for r in smoke_results["runs"]}
    assert labels == {a[0] for a in cfg.arms()}
    for run in smoke_results["runs"]:
        assert all(math.isfinite(run[k]) for k in ("sliced_w", "mmd", "eval_loss", "final_train_loss"))
        assert len(run["loss_curve"]) == len(smoke_results["loss_curve_steps"])
        assert set(run["eval_loss_by_t"]) == {"0-0.05", "0.05-0.2", "0.2-0.5", "0.5-1"}
    assert set(smoke_results["samples_first_seed"]) == labels
    json.dumps(smoke_results)  # everything is JSON-serialisable


def test_summary_and_table(smoke_results):
    fake = {
        "runs": [{"label": "a", "sliced_w": v} for v in (1.0, 2.0, 3.0)],
        "floor": {"sliced_w": 0.5},
        "provenance": {"seeds": [0, 1, 2]},
    }
    s = ex.summarize(fake, ("sliced_w",))["a"]["sliced_w"]
    assert (s["mean"], s["std"], s["min"], s["max"], s["n"]) == (2.0, 1.0, 1.0, 3.0, 3)
    assert "| a | 2.0000 ± 1.0000 |" in ex.format_table(fake, ("sliced_w",))
    assert "film_identity_init_unscaled_t" in ex.format_table(smoke_results)


def test_load_or_run_uses_a_matching_cache(tmp_path, monkeypatch, smoke_results):
    monkeypatch.delenv("COURSE_GRADING", raising=False)
    monkeypatch.delenv("COURSE_SMOKE", raising=False)
    path = tmp_path / "results.json"
    monkeypatch.setattr(ex, "results_path", lambda cfg: path)
    calls = []
    monkeypatch.setattr(ex, "run_experiment", lambda cfg, **kw: calls.append(cfg) or smoke_results)
    cfg = ex.smoke_config()
    ex.load_or_run(cfg, progress=lambda line: None)  # nothing cached: computes and saves
    assert len(calls) == 1 and path.is_file()
    assert ex.load_or_run(cfg, progress=lambda line: None)["config"] == json.loads(json.dumps(dataclasses.asdict(cfg)))
    assert len(calls) == 1  # loaded, not recomputed
    ex.load_or_run(cfg, recompute=True, progress=lambda line: None)
    assert len(calls) == 2
    other = dataclasses.replace(cfg, steps=21)
    ex.load_or_run(other, progress=lambda line: None)  # a different configuration is not served stale
    assert calls[-1] == other


def test_load_results_refuses_incomplete_provenance(tmp_path, smoke_results):
    broken = dict(smoke_results, provenance={"device": "cpu"})
    path = tmp_path / "r.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match="lacks provenance fields"):
        ex.load_results(path)


def test_shipped_results_match_the_default_configuration():
    cfg = ex.Experiment2DConfig()
    path = ex.results_path(cfg)
    if not path.is_file():
        pytest.skip(f"{path} not produced yet (python -m course_utils.lessons.lesson05.experiment2d --recompute)")
    results = ex.load_results(path)
    assert results["config"] == json.loads(json.dumps(dataclasses.asdict(cfg)))
    assert len(results["runs"]) == len(cfg.seeds) * len(cfg.arms())
    summary = ex.summarize(results)
    # The claim the lesson makes: a FiLM model trained on this budget gives good samples,
    # within a small factor of the real-vs-real floor.
    assert summary["film_identity_init"]["sliced_w"]["mean"] < 2.0 * results["floor"]["sliced_w"]


def test_paired_gaps_compare_seed_by_seed():
    runs = [
        {"label": lab, "seed": s, "sliced_w": v}
        for lab, vals in (("concat", (1.0, 2.0, 3.0)), ("film", (0.5, 2.5, 2.0)))
        for s, v in enumerate(vals)
    ]
    gaps = ex.paired_gaps({"runs": runs})
    assert gaps["concat"]["mean"] == 0.0 and gaps["film"]["better"] == 2
    assert gaps["film"]["mean"] == pytest.approx(-1.0 / 3.0)
    with pytest.raises(ValueError, match="baseline"):
        ex.paired_gaps({"runs": runs}, baseline="additive")


def test_loss_curves_feed_the_shared_band_plot(smoke_results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_utils.plotting import loss_curves_with_band

    curves = ex.loss_curves(smoke_results)
    assert curves["concat"].shape == (1, len(smoke_results["loss_curve_steps"]))
    fig, ax = plt.subplots()
    loss_curves_with_band(ax, smoke_results["loss_curve_steps"], curves)
    plt.close(fig)
