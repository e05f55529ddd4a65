"""Every number a lesson's prose states as a measured fact is recomputed here, next to its sentence.

Each test first checks that the sentence is still in ``authoring/`` (so editing the
prose without this test fails), then recomputes its number: from a cheap run, from the
shipped cached results (``data/lesson04/``, ``data/lesson05/``), or from the executed
solution's printed output when the number is measured live in the lesson. The
functions that *word* a measured outcome (``held_out_sentence``, ``verdict_sentence``,
``describe_costs``, ...) are fed synthetic numbers and their wording checked.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils import experiment2d as ex
from course_utils.lessons.lesson03.conv_conditioning import CostRow, describe_costs
from course_utils.lessons.lesson01.embedding_properties import (
    frequencies,
    hand_periods,
    nearest_lookalike,
    shift_matrix,
)
from course_utils.lessons.lesson01.learned_table import TableStudyConfig, held_out_sentence
from course_utils.lessons.lesson04.results import load_results as load_04
from course_utils.lessons.lesson05.metric_bands2d import band_summary, load_bands, verdict, verdict_sentence
from course_utils.components.score2d import (
    ContinuousTimeEmbedding,
    build_score_network,
    count_flat_dims,
    matched_concat_width,
)
from course_utils.components.sinusoidal import sinusoidal_embedding
from course_utils.lessons.lesson05.time_width_study import multiscale_sentence, smallest_sufficient_width
from course_utils.paths import REPO_ROOT

ROOT = REPO_ROOT


def _prose(lesson: str) -> str:
    """The lesson's source with comment markers and line breaks folded, for phrase lookups."""
    path = next((ROOT / "authoring").glob(f"{lesson}_*.py"))
    text = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in path.read_text().splitlines())
    return re.sub(r"\s+", " ", text)


def says(lesson: str, phrase: str) -> None:
    assert re.sub(r"\s+", " ", phrase) in _prose(lesson), f"lesson {lesson} no longer says: {phrase!r}"


def printed(lesson: str, marker: str) -> str:
    """The text output of the executed solution's code cell whose source contains ``marker``."""
    path = next((ROOT / "solutions").glob(f"{lesson}_*/*.ipynb"))
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code" and marker in "".join(cell["source"]):
            return "".join("".join(o.get("text", "")) for o in cell.get("outputs", []) if o.get("name") == "stdout")
    raise AssertionError(f"no code cell containing {marker!r} in {path}")


# ----------------------------------------------------------------------------- lesson 01


def test_01_clock_hands():
    says("01", "one full turn every 2π ≈ 6 timesteps")
    assert round(2 * math.pi) == 6
    says("01", "from about 6 timesteps for the fastest to about 58,000 for the slowest")
    periods = hand_periods(256)
    assert round(float(periods[0])) == 6 and round(float(periods[-1]), -3) == 58_000
    says("01", "even the slowest needs `t` ≈ 10,000^(1 − 1/128) ≈ 9,300 to turn by one radian")
    assert round(1 / float(frequencies(256)[-1]), -2) == 9_300 == round(10_000 ** (1 - 1 / 128), -2)
    says("01", "over 0…999 more than half of them complete at least one turn")
    assert int((periods <= 999).sum()) > 64


def test_01_random_vectors_nearly_orthogonal():
    says("01", "about 0 ± 0.06 whatever the gap")
    torch.manual_seed(0)
    table = torch.randn(1000, 256)
    sims = F.cosine_similarity(table[500][None], table)  # (1000,)
    sims = torch.cat([sims[:500], sims[501:]])
    assert abs(float(sims.mean())) < 0.01 and round(float(sims.std()), 2) == 0.06


def test_01_similarity_is_not_monotone_in_the_gap():
    says("01", "The decline is not monotone")
    emb = sinusoidal_embedding(torch.arange(1000), 256)
    sims = F.cosine_similarity(emb[500][None], emb[500:1000])  # gap 0..499
    assert int((sims[1:] > sims[:-1]).sum()) > 0
    assert sims[1] > sims[10] > sims[-1]  # the overall trend falls


def test_01_conventions():
    says("01", "The two Linear layers agree to rounding error (around 1e-7)")
    out = printed("01", "lin_perm")
    gap = float(re.search(r"max \|difference\| = ([0-9.e+-]+)", out).group(1))
    assert gap < 1e-6
    says("01", "the *frequency grid*: slightly slower hands")
    says("01", "its slowest hand is exactly 1/10000 and every hand runs a little slower than ours")
    i = torch.arange(128, dtype=torch.float64)
    ours, ddpm = 10000.0 ** (-i / 128), 10000.0 ** (-i / 127)
    assert bool((ours >= ddpm).all()) and 1.0 < float((ours / ddpm).max()) < 1.1
    assert float(ddpm[-1]) == pytest.approx(1e-4)


def test_01_pitfall_columns():
    says("01", "well over half of the columns (see the printout) are constant")
    t = torch.linspace(0, 1, 201)
    raw = sinusoidal_embedding(t, 256)
    moving = int(((raw.max(0).values - raw.min(0).values) > 0.01).sum())
    assert 256 - moving > 0.6 * 256  # constant columns: well over half of 256


def test_01_rotation_and_lookalikes():
    says("01", "carries rounding errors of order 1e-4")
    t = torch.arange(1000.0)
    emb = sinusoidal_embedding(t, 256).double()
    err = float((emb[:-250] @ shift_matrix(250, 256).T - emb[250:]).abs().max())
    assert 1e-5 < err < 1e-3
    angles = t[:, None].double() * frequencies(256)  # (T, 1) * (128,) -> (T, 128)
    exact = torch.cat([torch.sin(angles), torch.cos(angles)], 1)
    assert float((exact[:-250] @ shift_matrix(250, 256).T - exact[250:]).abs().max()) < 1e-9
    says(
        "01", "With 256 dimensions nothing in the first 200,000 steps comes closer than a near neighbour of 500 itself"
    )
    s_far, c_far = nearest_lookalike(500, 256, 200_000)
    assert abs(s_far - 500) < 1000
    says("01", "with only 32 dimensions (16 hands) a timestep far outside the trained range is a closer look-alike")
    s32, c32 = nearest_lookalike(500, 32, 200_000)
    _, c32_in = nearest_lookalike(500, 32, 1000)
    assert s32 >= 1000 and c32 > c32_in


def test_01_learned_table_setup_and_wording():
    says("01", "each is trained on 200 randomly chosen timesteps and scored on the other 800, for five seeds")
    cfg = TableStudyConfig()
    assert (cfg.n_train, cfg.num_timesteps - cfg.n_train, len(cfg.seeds)) == (200, 800, 5)
    assert "1e+03 times" in held_out_sentence([1.0, 1.0], [1e-3, 1e-3])
    assert "on every seed" in held_out_sentence([1.0, 2.0], [0.1, 0.1])
    assert "not on every seed" in held_out_sentence([1.0, 0.05], [0.1, 0.1])
    assert "only 0.5 times" in held_out_sentence([0.05, 0.05], [0.1, 0.1])


# ----------------------------------------------------------------------------- lesson 02


def test_02_mlp_parameters_and_similarity():
    says("02", "the first Linear 131,584 parameters and the second 262,656")
    assert 256 * 512 + 512 == 131_584 and 512 * 512 + 512 == 262_656
    says("02", "500 vs 501 stays at about 0.97 after the MLP")
    out = printed("02", "after MLP")
    row = re.search(r"500 vs 501\s*\|\s*([+-][0-9.]+)\s*\|\s*([+-][0-9.]+)", out)
    assert row and round(float(row.group(2)), 2) == 0.97


# ----------------------------------------------------------------------------- lesson 03


def test_03_cost_wording_is_chosen_from_ratios():
    says("03", "the lines above word them from those numbers")
    rows = [
        CostRow("none", 0, 0, 1.0, 1.0),
        CostRow("additive", 0, 0, 1.02, 1.02),
        CostRow("film", 0, 0, 1.12, 1.12),
        CostRow("adagn", 0, 0, 1.14, 1.14),
        CostRow("cross_attention", 0, 0, 2.0, 2.0),
    ]
    lines = describe_costs(rows)
    assert lines[0] == "additive: 1.02x, within 10% of the block without t"
    assert "measurably slower" in lines[1] and "clearly slower" in lines[3]
    assert "film (1.12x) and adagn (1.14x)" in lines[-1]
    assert not any("too close" in line for line in describe_costs(rows[:2] + rows[4:]))
    fast = describe_costs([CostRow("none", 0, 0, 1.0, 1.0), CostRow("additive", 0, 0, 0.5, 0.5)])
    assert "timing noise" in fast[0]


# ----------------------------------------------------------------------------- lesson 04


def test_04_budgets_and_parameters():
    from course_utils.components.unets import UNetScalar, UNetSimple, UNetSinusoidal, count_parameters

    gpu, cpu = load_04("gpu"), load_04("cpu")
    says("04", "the full run's 4,680 steps per network")
    assert gpu.profile["total_steps"] == 4680
    says("04", "the `cpu` profile's 100 steps per network on the 9,000 training digits")
    assert cpu.profile["total_steps"] == 100 and cpu.profile["name"] == "cpu"
    says("04", "these are the first 100 steps on a CPU")
    says("04", "seeds 0, 1 and 2")
    assert gpu.provenance["seeds"] == cpu.provenance["seeds"] == [0, 1, 2]
    assert "H100" in gpu.provenance["device"]
    says("04", "for `UNetSimple` and `UNetSinusoidal` only")
    assert set(gpu.models) == {"UNetSimple", "UNetSinusoidal"}
    assert {"UNetScalar", "UNetAdaGN", "heldout_loss_by_t"} <= set(gpu.not_yet_measured)
    says("04", "(the steps cycled through the 10,000 shipped digits, 60 passes)")
    assert gpu.profile["n_images"] == 10_000 and gpu.profile["epochs"] == 60
    says("04", "the time path grows from 16,768 to 525,568 parameters")
    simple, sinus = UNetSimple(), UNetSinusoidal()
    assert sum(p.numel() for p in simple.time_embed.parameters()) == 16_768
    assert sum(p.numel() for n, p in sinus.named_parameters() if n.startswith("time_")) == 525_568
    says("04", "your network is about 28% larger")
    assert round(100 * (count_parameters(sinus) / count_parameters(simple) - 1)) == 28
    says("04", "the first Linear reads 1 number instead of 256")
    assert UNetScalar().time_embed.mlp[0].in_features == 1 and sinus.time_embed.mlp[0].in_features == 256
    says("04", "probability 2 / 2ⁿ (25% for three seeds)")
    assert 2 / 2**3 == 0.25
    says("04", "the denoising loss on 1,000 digits the networks never train on")
    says("04", "1,000 of the 10,000 digits shipped with the course are **held out**")
    from course_utils.lessons.lesson04.heldout import N_HELDOUT

    assert N_HELDOUT == 1_000 and "1,000 held out" in cpu.heldout["train"]
    says("04", "it is largest at small `t`, where the noise is faint")
    says("04", "and smallest at large `t`, where the input is almost pure noise")
    for name, m in cpu.models.items():  # held true for every network and seed of the shipped results
        assert all(int(m.heldout_t[row.argmax()]) <= 10 for row in m.heldout_loss), name
        assert all(int(m.heldout_t[row.argmin()]) >= 500 for row in m.heldout_loss), name
    says("04", "**DDIM** (Song, Meng and Ermon, 2021), deterministic, 50 network calls")
    says("04", "all 1,000 timesteps, each")
    assert gpu.config["num_timesteps"] == 1000


def test_04_sample_scores():
    from course_utils.lessons.lesson04 import sample_quality as sq

    says("04", "The course scores 256 DDIM samples per network (the same starting noise for all four)")
    says("04", "a small digit classifier trained on the 9,000 training digits")
    says("04", "256 *other* real held-out digits")
    assert sq.N_SAMPLES == 256 and sq.DDIM_STEPS == 50
    scores = sq.load_scores()
    assert scores["sampler"] == "DDIM, 50 steps, clip, x_T from seed 0, 256 samples per network"
    assert "minus 1,000 held out" in scores["classifier"]["trained_on"]
    assert all(s["n"] == 256 for s in scores["scores"].values())


def test_04_results_md_reports_the_shipped_weights_and_their_scores():
    """bench/RESULTS.md's table of sample scores and its step count are those of the shipped files."""
    from course_utils.lessons.lesson04 import sample_quality as sq
    from course_utils.lessons.lesson04.weights import load_manifest

    text = (REPO_ROOT / "bench" / "RESULTS.md").read_text()
    manifest = load_manifest()
    steps = {e["steps"] for e in manifest["arms"].values()}
    precision = {e.get("precision", "fp32") for e in manifest["arms"].values()}
    assert len(steps) == 1 and len(precision) == 1, "every arm of the shipped weights after the same run"
    heading = f"the four arms in lockstep, {steps.pop():,} CPU steps each"
    assert heading + (", bf16 autocast" if precision == {"bf16"} else "") in text
    assert f"`wall_seconds` {manifest['provenance']['wall_seconds']}" in text
    scores = sq.load_scores()
    assert f"({100 * scores['classifier']['heldout_accuracy']:.1f}% correct on the 1,000 held-out" in text
    label = {"real digits": "256 other real held-out digits", "starting noise": "the starting noise"}
    for name, v in scores["scores"].items():
        row = (
            f"| {label.get(name, name)} | {v['fd']:.2f} +- {v['fd_std']:.2f} | {v['confidence']:.3f} +- "
            f"{v['confidence_std']:.3f} | {v['balance']:.3f} +- {v['balance_std']:.3f} |"
        )
        assert row in text, row
    a, b = scores["scores"]["UNetScalar"], scores["scores"]["UNetSinusoidal"]
    gap, spread = b["fd"] - a["fd"], (a["fd_std"] ** 2 + b["fd_std"] ** 2) ** 0.5
    closer, further = ("UNetScalar", "UNetSinusoidal") if gap > 0 else ("UNetSinusoidal", "UNetScalar")
    size = "more than twice" if abs(gap) > 2 * spread else "within twice"
    assert f"`{closer}`'s samples are closer to real digits than\n`{further}`'s by {abs(gap):.1f} in FD" in text
    assert f"{size} the bootstrap spread of the difference ({spread:.1f})" in text
    # the window losses quoted are those the run printed (bench/results_lesson04_weights.log)
    log = (REPO_ROOT / "bench" / "results_lesson04_weights.log").read_text()
    windows = re.findall(r"step ([\d,]+) \([\d.]+ min\): mean training loss of the last window: (.*)", log)
    assert len(windows) == manifest["provenance"]["budget"]["steps"] // 100
    for step, losses in windows:
        if int(step.replace(",", "")) % 500 == 0 or step == "100":
            k = int(step.replace(",", ""))
            row = f"| {k - 99:,}-{k:,} | " + " | ".join(v.split()[1].rstrip(",") for v in losses.split(", ")) + " |"
            assert row in text, row


# ----------------------------------------------------------------------------- lesson 05


@pytest.fixture(scope="module")
def comparison():
    return ex.load_results(ex.results_path(ex.Experiment2DConfig()))


def _seed_values(results, label, metric="sliced_w"):
    return np.array([r[metric] for r in sorted(results["runs"], key=lambda r: r["seed"]) if r["label"] == label])


def test_05_pitfall_columns():
    says("05", "(20 of 32 columns in both the note's grid and the course's)")
    says("05", "unscaled, 20 of 32 columns are constant")
    assert count_flat_dims(ContinuousTimeEmbedding(32, t_scale=1.0)) == 20
    assert count_flat_dims(ContinuousTimeEmbedding(32, t_scale=1000.0)) == 0
    says("05", "recovers enough resolution from the 12 columns that still move")


def test_05_sizes_and_runtime(comparison):
    says("05", "with hidden width 162 so that it has as many parameters as FiLM (≈59k)")
    assert matched_concat_width() == 162
    film = sum(p.numel() for p in build_score_network("film_identity_init").parameters())
    wide = sum(p.numel() for p in build_score_network("concat_matched").parameters())
    assert round(film / 1000) == round(wide / 1000) == 59
    says("05", "The full run takes 20–30 minutes on a 2-core CPU")
    assert 20 * 60 <= comparison["provenance"]["wall_seconds"] <= 30 * 60
    assert comparison["provenance"]["cpu_count"] == 2


def test_05_film_beats_concat(comparison):
    says(
        "05",
        "Both FiLM arms reach a sliced Wasserstein distance about 40 % below concatenation, on every seed, "
        "and the seed ranges do not overlap",
    )
    concat = _seed_values(comparison, "concat")
    for arm in ("film_default_init", "film_identity_init"):
        film = _seed_values(comparison, arm)
        assert round(1 - film.mean() / concat.mean(), 1) == 0.4
        assert (film < concat).all() and film.max() < concat.min()
    says("05", "almost entirely below `t = 0.2`")
    by_t = {
        b: np.mean([r["eval_loss_by_t"][b] for r in comparison["runs"] if r["label"] == "concat"])
        - np.mean([r["eval_loss_by_t"][b] for r in comparison["runs"] if r["label"] == "film_identity_init"])
        for b in comparison["runs"][0]["eval_loss_by_t"]
    }
    below = by_t["0-0.05"] + by_t["0.05-0.2"]
    assert below > 0.8 * sum(by_t.values())


def test_05_parameters_are_not_the_reason(comparison):
    says("05", "is barely better than the narrow one — the difference is inside the seed spread")
    wide, narrow = _seed_values(comparison, "concat_matched"), _seed_values(comparison, "concat")
    assert wide.mean() < narrow.mean() and not (wide.max() < narrow.min())
    film = _seed_values(comparison, "film_identity_init")
    assert film.max() < wide.min()


def test_05_addition_in_between(comparison):
    says("05", "A learned shift per layer is better than concatenation on every seed, outside the spread")
    add, concat = _seed_values(comparison, "additive"), _seed_values(comparison, "concat")
    assert (add < concat).all() and add.max() < concat.min()
    says("05", "on sample quality the seed ranges of addition and FiLM overlap")
    film = _seed_values(comparison, "film_identity_init")
    assert (film < add).all() and not (film.max() < add.min())
    says("05", "lower on every seed, clearly so in held-out loss")
    film_l, add_l = (_seed_values(comparison, a, "eval_loss") for a in ("film_identity_init", "additive"))
    assert film_l.max() < add_l.min()


def test_05_identity_vs_default(comparison):
    says("05", "no difference you can see in the samples** (inside the seed spread)")
    ident, default = _seed_values(comparison, "film_identity_init"), _seed_values(comparison, "film_default_init")
    assert not (ident.max() < default.min() or default.max() < ident.min())
    says(
        "05",
        "The held-out loss is lower with the identity start on every seed — real, but about a tenth of the "
        "FiLM–concatenation gap",
    )
    il, dl = (_seed_values(comparison, a, "eval_loss") for a in ("film_identity_init", "film_default_init"))
    cl = _seed_values(comparison, "concat", "eval_loss")
    assert (il < dl).all()
    assert 0.05 < (dl - il).mean() / (cl - il).mean() < 0.2


def test_05_unscaled_t(comparison):
    says("05", "Feeding `t` unscaled nearly doubles concatenation's distance")
    ratio = _seed_values(comparison, "concat_unscaled_t").mean() / _seed_values(comparison, "concat").mean()
    assert 1.6 < ratio < 2.0
    says(
        "05",
        "its sample distance moves by less than the seed spread, and its held-out loss is worse by a small "
        "but consistent amount",
    )
    un, sc = _seed_values(comparison, "film_identity_init_unscaled_t"), _seed_values(comparison, "film_identity_init")
    assert abs(un.mean() - sc.mean()) < max(np.ptp(un), np.ptp(sc))
    unl, scl = (
        _seed_values(comparison, a, "eval_loss") for a in ("film_identity_init_unscaled_t", "film_identity_init")
    )
    assert (unl > scl).all() and (unl - scl).mean() < 0.01


def test_05_training_loss_differences(comparison):
    says("05", "the final differences are small** (0.01–0.02, against a loss of about 0.48)")
    final = {
        a: _seed_values(comparison, a, "final_train_loss").mean()
        for a in ("concat", "concat_matched", "additive", "film_default_init", "film_identity_init")
    }
    gap = final["concat"] - final["film_identity_init"]
    assert 0.01 <= round(gap, 2) <= 0.02 and round(final["film_identity_init"], 2) == 0.48


def test_05_bands_and_floor(comparison):
    says("05", "the exact-score sampler's distance and that of fresh real data have the same band")
    bands = load_bands()["bands"]
    b = bands["2000"]
    assert verdict(b["exact"], b["real"])["word"] == "indistinguishable"
    assert len(b["real"]) >= 20 and len(b["exact"]) >= 20
    says("05", "The verdict lines place both FiLM arms (and FiLM with `t` unscaled) inside the real-data band")
    for arm in ("film_default_init", "film_identity_init", "film_identity_init_unscaled_t"):
        assert verdict(_seed_values(comparison, arm), b["real"])["word"] == "indistinguishable"
    for arm in ("concat", "concat_matched", "additive", "concat_unscaled_t"):
        assert verdict(_seed_values(comparison, arm), b["real"])["word"] == "above"
    says("05", "at 8,000 the bands narrow")
    assert band_summary(bands["8000"]["real"])["std"] < band_summary(b["real"])["std"]
    assert band_summary(bands["8000"]["exact"])["std"] < band_summary(b["exact"])["std"]


def test_05_ode_vs_sde_depends_on_the_network(comparison):
    says("05", "the answer depends on the network")
    gaps = ex.paired_gaps_between(comparison, "sliced_w_ode", "sliced_w")
    assert any(g["better"] == g["n"] for g in gaps.values()) and any(g["better"] == 0 for g in gaps.values())
    lines = ex.ode_vs_sde_lines(comparison)
    assert any("better on every seed" in l for l in lines) and any("worse on every seed" in l for l in lines)


def test_05_score_error_curve():
    says("05", "above `t ≈ 0.1` the network matches the exact score to within about a per cent")
    says("05", "it reaches tens of per cent at the smallest times")
    out = printed("05", "relative error:")
    errs = {float(k): float(v) for k, v in re.findall(r"([0-9.]+): ([0-9.e-]+)", out.split("relative error:")[1])}
    assert all(e < 0.02 for t, e in errs.items() if t > 0.1)
    assert errs[min(errs)] >= 0.1


def test_05_verdict_wording_from_synthetic_numbers():
    real = [0.03, 0.04, 0.05, 0.035, 0.045]
    assert "indistinguishable from real data at n = 2000" in verdict_sentence("a", [0.04, 0.041], {"real": real}, 2000)
    assert "above real data at n = 2000" in verdict_sentence("a", [0.09, 0.091], {"real": real}, 2000)
    assert "below the exact-score sampler" in verdict_sentence(
        "a", [0.001, 0.0011], {"real": real, "exact": real}, 2000
    )
    choice = smallest_sufficient_width({4: [0.7, 0.71], 8: [0.5, 0.51], 16: [0.5, 0.505]})
    assert choice["smallest"] == 8 and "measurably worse: 4" in choice["sentence"]
    best_widest = smallest_sufficient_width({4: [0.7, 0.71], 8: [0.5, 0.51]})
    assert best_widest["sentence"] == "width 8 is best and every narrower width is measurably worse"
    middle = smallest_sufficient_width({4: [0.7, 0.71], 8: [0.5, 0.51], 16: [0.6, 0.61]})
    assert middle["sentence"].endswith("measurably worse: 16")
    assert "no difference beyond the seed noise" in multiscale_sentence([0.5, 0.51], [0.5, 0.505], "loss")
    assert "multi-scale embedding is better" in multiscale_sentence([0.40, 0.401], [0.5, 0.501], "loss")
    lines = ex.ode_vs_sde_lines(
        {
            "runs": [
                {"label": "a", "sliced_w": 0.05, "sliced_w_ode": 0.04},
                {"label": "a", "sliced_w": 0.05, "sliced_w_ode": 0.06},
            ]
        }
    )
    assert "mixed: the ODE is better on 1 of 2 seeds" in lines[0]


def test_04_profile_table():
    from course_utils.lessons.lesson04.profiles import FULL_PROFILE, PROFILES

    says("04", "MNIST's 60,000 training digits (offline: the 9,000 shipped training digits, 700 steps) | 10 | 4,680 |")
    assert (FULL_PROFILE.n_images, FULL_PROFILE.epochs, FULL_PROFILE.total_steps) == (60_000, 10, 4680)
    assert FULL_PROFILE.fit_to(9_000).total_steps == 700
    says("04", "the first 6,400 of the 9,000 training digits | 2 | 100 |")
    cpu = PROFILES["cpu"]
    assert (cpu.n_images, cpu.epochs, cpu.total_steps) == (6_400, 2, 100)
    says("04", "| 64 digits | 1 | 4 |")
    smoke = PROFILES["smoke"]
    assert (smoke.n_images, smoke.epochs, smoke.batch_size, smoke.total_steps) == (64, 1, 16, 4)


def test_03_neighbour_similarity_and_fast_hand():
    says("03", "the fastest ones that turn a full circle every 6 timesteps")
    assert round(float(hand_periods(256)[0])) == 6
    says("03", "the same 0.97-not-1.0 similarity you measured in lessons 01 and 02")
    emb = sinusoidal_embedding(torch.tensor([500, 501]), 256)
    assert round(float(F.cosine_similarity(emb[:1], emb[1:])), 2) == 0.97
