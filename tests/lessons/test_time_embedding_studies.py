"""The measurement modules added for lessons 01 and 05: embedding properties, the learned table,
the metric's reference bands, the width / multi-scale study and the multi-scale network (smoke sizes)."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from course_utils import experiment2d as ex
from course_utils import metric_bands2d as mb
from course_utils import time_width_study as tw
from course_utils.cpu_threads import limit_threads
from course_utils.lessons.lesson01.embedding_properties import hand_periods, nearest_lookalike, shift_matrix
from course_utils.lessons.lesson01.learned_table import TableStudyConfig, noise_level_target, train_and_score
from course_utils.components.score2d import ScoreNetworkMultiScaleFiLM, build_score_network
from course_utils.components.sinusoidal import sinusoidal_embedding


@pytest.fixture(autouse=True, scope="module")
def _one_cpu_thread():
    with limit_threads(1):
        yield


def test_shift_matrix_maps_gamma_t_to_gamma_t_plus_k():
    t = torch.tensor([0.0, 3.5, 400.0, 998.0], dtype=torch.float64)
    for d in (8, 9, 64):
        w = 10000.0 ** (-torch.arange(d // 2, dtype=torch.float64) / (d // 2))

        def gamma(tt):
            a = tt[:, None] * w[None, :]
            e = torch.cat([torch.sin(a), torch.cos(a)], 1)
            return torch.cat([e, torch.zeros(len(tt), d % 2, dtype=torch.float64)], 1)

        for k in (1, 7.25, -30):
            assert torch.allclose(gamma(t) @ shift_matrix(k, d).T, gamma(t + k), atol=1e-10)
    # The course's float32 function agrees to float32 rounding.
    e32 = sinusoidal_embedding(torch.arange(100.0), 16).double()
    assert (e32[:-5] @ shift_matrix(5, 16).T - e32[5:]).abs().max() < 1e-5
    with pytest.raises(ValueError, match="d_emb"):
        shift_matrix(1, 1)


def test_periods_and_lookalikes():
    p = hand_periods(4)  # omega = 1, 1/100
    assert p.tolist() == pytest.approx([2 * math.pi, 200 * math.pi])
    s, c = nearest_lookalike(0, 2, 100, min_gap=3)  # one hand: the cosine similarity to t = 0 is cos(s)
    best = max(range(3, 100), key=math.cos)  # 44 = 7 turns + 0.018 rad
    assert s == best == 44 and c == pytest.approx(math.cos(44), abs=1e-12)
    with pytest.raises(ValueError, match="at least 50 away"):
        nearest_lookalike(10, 8, 20, min_gap=50)


def test_learned_table_fails_off_the_training_timesteps():
    cfg = TableStudyConfig(num_timesteps=100, n_train=30, d_emb=16, hidden=16, steps=150, seeds=(0,))
    assert noise_level_target(100).shape == (100, 2)
    learned, sin = train_and_score("learned", 0, cfg), train_and_score("sinusoidal", 0, cfg)
    assert learned["train_mse"] < learned["held_out_mse"]
    assert sin["held_out_mse"] < learned["held_out_mse"]
    with pytest.raises(ValueError, match="kind"):
        train_and_score("random", 0, cfg)
    with pytest.raises(ValueError, match="n_train"):
        TableStudyConfig(n_train=1000)


def test_bands_compute_cache_and_refuse(tmp_path):
    cfg = mb.BandsConfig(point_counts=(64,), draws=3, sample_steps=5)
    res = mb.compute_bands(cfg, progress=lambda _: None)
    band = res["bands"]["64"]
    assert len(band["real"]) == len(band["exact"]) == 3 and all(v > 0 for v in band["real"])
    assert all(k in res["provenance"] for k in ex.PROVENANCE_KEYS)
    bad = tmp_path / "bands.json"
    bad.write_text(json.dumps({**res, "schema": "other"}))
    with pytest.raises(ValueError, match="recompute"):
        mb.load_bands(bad)
    shipped = mb.load_bands(progress=lambda _: None)  # the shipped file matches the default configuration
    assert set(shipped["bands"]) == {"2000", "8000"}
    with pytest.raises(ValueError, match="draws"):
        mb.BandsConfig(draws=1)


def test_verdict_edge_cases():
    assert mb.verdict([1.0, 1.0], [1.0, 1.0])["word"] == "indistinguishable"
    assert mb.verdict([2.0, 2.0], [1.0, 1.0])["word"] == "above"
    assert mb.verdict([0.0, 0.0], [1.0, 1.0])["word"] == "below"
    with pytest.raises(ValueError, match="finite"):
        mb.band_summary([float("nan")])
    with pytest.raises(ValueError, match="'real'"):
        mb.verdict_sentence("a", [1.0], {"exact": [1.0, 2.0]}, 10)


def test_multiscale_network_starts_time_independent_and_reads_three_grids():
    net = ScoreNetworkMultiScaleFiLM()
    x = torch.randn(6, 2)
    a, b = net(x, torch.full((6,), 0.1)), net(x, torch.full((6,), 0.9))
    assert torch.equal(a, b)  # identity FiLM: scale 1, shift 0 at every t
    assert [e.t_scale for e in net.layer_embeds] == [100.0, 300.0, 1000.0]
    assert sum(p.numel() for p in net.parameters()) == sum(
        p.numel() for p in build_score_network("film_identity_init").parameters()
    )
    with pytest.raises(ValueError, match="t_scales"):
        ScoreNetworkMultiScaleFiLM(t_scales=(1.0, 2.0))


def test_width_study_smoke(tmp_path):
    cfg = tw.WidthStudyConfig(widths=(4, 8), multiscale_width=8, seeds=(0, 1))
    base = dataclasses.replace(ex.smoke_config(), steps=5)
    res = tw.run_study(cfg, base=base, progress=lambda _: None)
    assert {r["label"] for r in res["runs"]} == {"film_w4", "film_w8", "film_multiscale_w8"}
    assert {r["time_dim"] for r in res["runs"]} == {4, 8}
    per = tw.by_arm(res, "eval_loss")
    assert all(len(v) == 2 for v in per.values())
    with pytest.raises(KeyError, match="no metric"):
        tw.by_arm(res, "accuracy")
    path = tmp_path / "study.json"
    path.write_text(json.dumps(res))
    with pytest.raises(ValueError, match="another configuration"):
        tw.load_study(path)
    with pytest.raises(ValueError, match="even"):
        tw.WidthStudyConfig(widths=(3,))
