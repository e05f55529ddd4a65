"""Cached lesson 04 results (schema, provenance, honesty) and the benchmark scripts at tiny size."""

from __future__ import annotations

import importlib.util
import json
import os
import sys

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from course_utils.lessons.lesson04 import results as lr
from course_utils.lessons.lesson04.profiles import PROFILES
from course_utils.lessons.lesson04.errors import ResultsError
from course_utils.paths import REPO_ROOT

ROOT = REPO_ROOT


pytestmark = pytest.mark.usefixtures("one_cpu_thread")  # see conftest.py


def _script(name: str):
    """Import a bench script as a module (its OMP_WAIT_POLICY default must not leak)."""
    saved = dict(os.environ)
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "bench"))
        os.environ.clear()
        os.environ.update(saved)
    return module


def test_shipped_cpu_results_have_schema_and_provenance():
    res = lr.load_results("cpu")
    assert res.measured and res.label.startswith("CPU results")
    prov = res.provenance
    assert prov["device"].startswith("CPU") and prov["seeds"] == [0, 1, 2]
    assert "test split" in prov["data"] and prov["command"].startswith("python bench/lesson04_results.py")
    assert prov["torch"] and prov["date"] and prov["git_commit"]
    assert set(res.models) == {"UNetSimple", "UNetScalar", "UNetSinusoidal", "UNetAdaGN"}
    assert not res.not_yet_measured and res.profile["total_steps"] == PROFILES["cpu"].total_steps
    assert "minus 1,000 held out" in prov["data"] and "1,000 held out" in res.heldout["train"]
    for m in res.models.values():
        assert m.window_losses.shape == (3, len(res.steps))
        assert m.epoch_losses.shape == (3, res.profile["epochs"])
        assert m.has_heldout and m.heldout_loss.shape == (3, len(m.heldout_t)) and m.heldout_t[0] == 0
    assert "seed" in lr.summarize(res)


def test_shipped_weights_load_and_say_where_they_come_from():
    from course_utils.lessons.lesson04.weights import ARMS, load_manifest, load_weights

    manifest = load_manifest()
    assert set(manifest["arms"]) == set(ARMS)
    cpu = lr.load_results("cpu")
    steps = {entry["steps"] for entry in manifest["arms"].values()}
    assert len(steps) == 1 and steps.pop() > cpu.profile["total_steps"]  # every arm alike, longer than the cpu profile
    for arm, entry in manifest["arms"].items():
        assert entry["seed"] == 0 and entry["dtype"] == "float16" and entry["profile"].startswith("lockstep")
        model = load_weights(arm)
        assert isinstance(model, ARMS[arm]) and not model.training
        assert (ROOT / "data" / "lesson04" / "weights" / entry["file"]).stat().st_size < 8_000_000
    prov = manifest["provenance"]
    assert prov["command"].startswith("python bench/lesson04_weights.py") and not prov["git_dirty"]
    assert "minus 1,000 held out" in prov["data"]  # the held-out digits were never trained on


def test_shipped_gpu_results_have_schema_and_provenance():
    res = lr.load_results("gpu")
    assert res.measured and res.label.startswith("GPU results")
    prov = res.provenance
    assert prov["device"].startswith("GPU (NVIDIA H100") and prov["seeds"] == [0, 1, 2]
    assert prov["torch"] and prov["date"] and "test split" in prov["data"]
    assert prov["command"].startswith("python bench/lesson04_results.py --profile gpu_shipped")
    # The same number of steps as the original notebook's full run (60,000 digits x 10 epochs).
    assert res.profile["total_steps"] == 4680 == PROFILES["gpu"].total_steps
    for name in ("UNetSimple", "UNetSinusoidal"):
        assert res.config[f"precision[{name}]"] == "bf16" and res.config[f"cuda_graph[{name}]"]
        m = res.models[name]
        assert m.window_losses.shape == (3, len(res.steps)) and m.epoch_losses.shape == (3, 60)
        assert len(m.seconds) == 3 and all(s > 0 for s in m.seconds)
    assert res.steps[-1] == 4680
    # it says what it does not have instead of inventing it
    assert {"UNetScalar", "UNetAdaGN", "heldout_loss_by_t"} <= set(res.not_yet_measured)
    assert not any(m.has_heldout for m in res.models.values())


def test_a_placeholder_is_shown_as_not_measured(tmp_path):
    out = tmp_path / "gpu.json"
    assert _script("lesson04_results").main(["--placeholder", "gpu", "--out", str(out)]) == 0
    res = lr.load_results(out)
    assert not res.measured and res.status == "not yet measured" and not res.models
    assert "--profile gpu" in res.provenance["command"]
    ax = lr.plot_results(res)
    assert any("not yet measured" in t.get_text() for t in ax.texts)
    assert lr.summarize(res).endswith("not yet measured.")


def test_cached_results_fall_back_to_cpu_visibly(tmp_path, monkeypatch, capsys):
    assert lr.load_cached_results().label.startswith("GPU results")  # measured: used as is
    out = tmp_path / "gpu.json"
    _script("lesson04_results").main(["--placeholder", "gpu", "--out", str(out)])
    real = lr.load_results
    monkeypatch.setattr(lr, "load_results", lambda which: real(out if which == "gpu" else which))
    res = lr.load_cached_results()
    assert res.measured and res.label.startswith("CPU results")
    assert "not yet measured" in capsys.readouterr().out
    lr.plot_results(res, per="epochs")


@pytest.mark.parametrize("breakage", ["no_provenance", "no_device", "numbers_in_placeholder", "bad_shape"])
def test_loader_refuses_bad_files(tmp_path, breakage):
    record = json.loads((ROOT / "data" / "lesson04" / "cpu_results.json").read_text())
    if breakage == "no_provenance":
        del record["provenance"]
    elif breakage == "no_device":
        del record["provenance"]["device"]
    elif breakage == "numbers_in_placeholder":
        record["status"] = "not yet measured"
    else:
        record["models"]["UNetSimple"]["epoch_losses"] = [[1.0]]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(record))
    with pytest.raises(ResultsError, match="not a valid lesson 04 results file"):
        lr.load_results(path)


def test_results_script_runs_at_smoke_size(tmp_path, capsys):
    out = tmp_path / "smoke.json"
    script = _script("lesson04_results")
    assert (
        script.main(
            [
                "--profile",
                "smoke",
                "--data",
                "shipped",
                "--seeds",
                "0",
                "1",
                "--arms",
                "UNetSimple",
                "UNetSinusoidal",
                "--heldout-digits",
                "4",
                "--out",
                str(out),
                "--weights-dir",
                str(tmp_path / "w"),
                "--no-progress",
            ]
        )
        == 0
    )
    res = lr.load_results(out)
    assert res.measured and res.provenance["seeds"] == [0, 1]
    assert "--profile smoke" in res.provenance["command"]
    assert "gap UNetSimple - UNetSinusoidal" in capsys.readouterr().out
    assert set(res.not_yet_measured) == {"UNetScalar", "UNetAdaGN"}
    assert res.models["UNetSimple"].heldout_loss.shape == (2, 15)
    assert "4 held-out digits x 15 timesteps" in res.heldout["triples"]
    from course_utils.lessons.lesson04.weights import load_manifest, load_weights

    assert set(load_manifest(tmp_path / "w")["arms"]) == {"UNetSimple", "UNetSinusoidal"}
    assert load_weights("UNetSinusoidal", tmp_path / "w") is not None


def test_weights_script_trains_the_four_arms_in_lockstep_and_checkpoints(tmp_path, capsys):
    from course_utils.lessons.lesson04.weights import ARMS, load_manifest, load_weights

    out = tmp_path / "w"
    script = _script("lesson04_weights")
    argv = ["--steps", "3", "--save-every", "2", "--batch-size", "8", "--out", str(out)]
    assert script.main(argv) == 0
    manifest = load_manifest(out)
    assert set(manifest["arms"]) == set(ARMS)
    assert {e["steps"] for e in manifest["arms"].values()} == {3}  # every arm after the same steps
    assert manifest["provenance"]["command"].startswith("python bench/lesson04_weights.py --steps 3")
    assert "step 2 (" in capsys.readouterr().out  # the checkpoint at --save-every
    assert not load_weights("UNetScalar", out).training
    # a deadline stops at the first checkpoint after it, leaving a consistent set
    assert (
        script.main(["--steps", "50", "--save-every", "1", "--seconds", "0", "--batch-size", "8", "--out", str(out)])
        == 0
    )
    assert {e["steps"] for e in load_manifest(out)["arms"].values()} == {1}
    assert "stopping: --seconds 0 reached after 1 steps per arm" in capsys.readouterr().out


def test_weights_script_resumes_exactly_where_one_run_would_be(tmp_path, capsys):
    from course_utils.lessons.lesson04.weights import ARMS, load_manifest, load_weights

    script = _script("lesson04_weights")
    tiny = ["--save-every", "2", "--batch-size", "8"]
    assert script.main(["--steps", "4", *tiny, "--out", str(tmp_path / "straight")]) == 0
    assert script.main(["--steps", "2", *tiny, "--out", str(tmp_path / "split")]) == 0
    assert script.main(["--steps", "4", *tiny, "--out", str(tmp_path / "split"), "--resume"]) == 0
    assert "resuming after 2 steps per arm" in capsys.readouterr().out
    for arm in ARMS:  # the same weights as one uninterrupted run: data order, t, noise and Adam continue
        a = load_weights(arm, tmp_path / "straight").state_dict()
        b = load_weights(arm, tmp_path / "split").state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), arm
    manifest = load_manifest(tmp_path / "split")
    assert {e["steps"] for e in manifest["arms"].values()} == {4}
    sittings = manifest["provenance"]["budget"]["sittings"]
    assert [(s["steps_from"], s["steps_to"]) for s in sittings] == [(0, 2), (2, 4)]
    assert sittings[1]["command"].endswith("--resume")
    # bf16 autocast on the CPU, recorded in the manifest; a state from another seed or precision is
    # refused, not silently continued
    assert script.main(["--steps", "2", *tiny, "--precision", "bf16", "--out", str(tmp_path / "bf16")]) == 0
    entry = load_manifest(tmp_path / "bf16")["arms"]["UNetAdaGN"]
    assert entry["precision"] == "bf16" and entry["profile"].endswith("batch 8, bf16")
    with pytest.raises(SystemExit, match="resume it with the same --seed"):
        script.main(["--steps", "4", *tiny, "--out", str(tmp_path / "bf16"), "--resume"])
    with pytest.raises(SystemExit, match="resume it with the same --seed"):
        script.main(["--steps", "6", *tiny, "--seed", "1", "--out", str(tmp_path / "split"), "--resume"])
    with pytest.raises(SystemExit, match="no .*train_state.ckpt"):
        script.main(["--steps", "2", *tiny, "--out", str(tmp_path / "none"), "--resume"])


def test_cpu_precision_bench_times_both_precisions_for_every_arm(tmp_path, capsys):
    out = tmp_path / "p.json"
    assert _script("cpu_precision").main(["--steps", "1", "--warmup", "0", "--batch-size", "2", "--out", str(out)]) == 0
    figures = json.loads(out.read_text())
    from course_utils.lessons.lesson04.weights import ARMS

    assert {(r["arm"], r["precision"]) for r in figures["rows"]} == {(a, p) for a in ARMS for p in ("fp32", "bf16")}
    assert all(r["median"] > 0 for r in figures["rows"]) and "bf16 is" in capsys.readouterr().out


def test_bench_runs_at_tiny_size(tmp_path):
    figures = _script("run").run(
        ["--device", "cpu", "--steps", "2", "--warmup", "0", "--batch", "16", "--out", str(tmp_path / "b.json")]
    )
    assert figures["timed_steps"] == 2 and figures["device"].startswith("CPU")
    for loop in ("seed_loop", "course_trainer"):
        assert figures[loop]["s_per_step"] > 0 and figures[loop]["peak_gpu_mib"] is None
    assert figures["speedup"] == pytest.approx(
        figures["seed_loop"]["s_per_step"] / figures["course_trainer"]["s_per_step"]
    )
    assert json.loads((tmp_path / "b.json").read_text())["model"] == "UNetSimple"


def test_a_live_comparison_plots_and_summarises():
    from course_utils.lessons.lesson04.profiles import PROFILES, TrainConfig
    from course_utils.lessons.lesson04.trainer import compare_models
    from course_utils.components.unets import UNetSimple, UNetSinusoidal

    images = torch.randint(0, 256, (64, 28, 28), dtype=torch.uint8)
    live = compare_models(
        {"UNetSimple": UNetSimple, "UNetSinusoidal": UNetSinusoidal},
        images,
        PROFILES["smoke"],
        TrainConfig(warmup_steps=0),
        device="cpu",
        progress=False,
        verbose=False,
    )
    ax = lr.plot_results(live, title="This run")
    assert ax.get_title() == "This run" and len(ax.lines) == 2
    assert "from one seed" in lr.summarize(live)
    with pytest.raises(TypeError, match="Lesson04Results or Comparison"):
        lr.summarize({"not": "results"})


def test_grading_bench_generates_varied_submissions_and_compares_job_counts(tmp_path, capsys):
    bench = _script("grading")
    subs = bench.make_submissions(7)
    assert len(subs) == 7 and len({nbformat_dumps(nb) for nb in subs.values()}) == 5  # 5 kinds
    out = tmp_path / "g.json"
    assert bench.main(["--n", "5", "--jobs", "1", "2", "--out", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert [r["jobs"] for r in figures["runs"]] == [1, 2] and figures["sandbox"] is True
    assert all(r["same_grades_as_first_run"] and r["per_minute"] > 0 for r in figures["runs"])
    scores = {k.split("-", 2)[2]: v[1] for k, v in figures["grades"].items()}
    assert scores["correct"] == 10 and scores["untouched"] == 0
    assert all(0 <= scores[m] < 10 for m in ("cos-first", "exponent-over-d", "no-odd-padding"))
    assert "submissions/min" in capsys.readouterr().out


def nbformat_dumps(nb) -> str:
    import nbformat

    return nbformat.writes(nb)


def test_results_md_reports_the_measured_cpu_precision_figures():
    """bench/RESULTS.md's fp32-vs-bf16 table is bench/results_cpu_precision.json, row for row."""
    figures = json.loads((ROOT / "bench" / "results_cpu_precision.json").read_text())
    text = (ROOT / "bench" / "RESULTS.md").read_text()
    medians = {(r["arm"], r["precision"]): r["median"] for r in figures["rows"]}
    for arm in dict.fromkeys(a for a, _ in medians):
        fp32, bf16 = medians[(arm, "fp32")], medians[(arm, "bf16")]
        row = f"| {arm} | {fp32:.3f} s | {bf16:.3f} s | {fp32 / bf16:.2f}x |"
        assert row in text, row
    assert figures["bf16_units"] == {"avx512_bf16": True, "amx_tile": True} and not figures["git_dirty"]


def test_results_md_flop_count_of_a_training_step():
    """The GFLOP of one batch-128 training step quoted in RESULTS.md, recounted (on the meta device)."""
    from torch.utils.flop_counter import FlopCounterMode

    from course_utils.reference import UNetAdaGN, UNetSimple

    text = (ROOT / "bench" / "RESULTS.md").read_text()
    gflop = {}
    for cls in (UNetSimple, UNetAdaGN):
        with torch.device("meta"):
            model, x = cls(), torch.randn(128, 1, 28, 28)
            t = torch.randint(0, 1000, (128,))
        with FlopCounterMode(display=False) as counter:
            ((model(x, t) - x) ** 2).mean().backward()
        gflop[cls.__name__] = counter.get_total_flops() / 1e9
    assert f"one training step of batch 128 is {gflop['UNetSimple']:.0f} GFLOP" in text
    assert f"({gflop['UNetAdaGN']:.0f} for `UNetAdaGN`" in text
