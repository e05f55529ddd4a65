"""Compile or eager for lesson 04's CUDA run: the prediction, its arithmetic, and the call in compare_models."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from course_utils.diffusion.ddpm import linear_schedule
from course_utils.lessons.lesson04 import compile_choice as cc
from course_utils.lessons.lesson04 import trainer
from course_utils.lessons.lesson04.mnist import load_mnist
from course_utils.lessons.lesson04.profiles import PROFILES, Profile, TrainConfig
from course_utils.components.unets import UNetSimple

RESULTS_MD = Path(__file__).resolve().parents[2] / "bench" / "RESULTS.md"


def test_the_lessons_gpu_run_is_predicted_to_finish_first_eager():
    """4,680 steps x 2 networks at the H100's 2.78 ms: compiling (about 44 s) cannot pay for itself."""
    choice = cc.choose_compile(2.78e-3, PROFILES["gpu"].total_steps, networks=2, runs_per_network=1, graphed=True)
    assert not choice.compile
    assert choice.eager_seconds == pytest.approx(2.78e-3 * 4680 * 2)
    assert choice.compiled_seconds == pytest.approx(
        2 * cc.COMPILE_SECONDS_PER_NETWORK + cc.GRAPHED_COMPILED_RATIO * choice.eager_seconds
    )
    assert "9,360 steps x 2.78 ms" in choice.reason and "= 26 s eager" in choice.reason


def test_a_long_graphed_run_compiles_and_an_ungraphed_run_never_does():
    long = cc.choose_compile(2.78e-3, 200_000, networks=1, runs_per_network=3, graphed=True)
    assert long.compile and long.compiled_seconds < long.eager_seconds
    assert not cc.choose_compile(8.08e-3, 200_000, 1, 3, graphed=False).compile  # compiling is slower without a graph
    # the break-even point: compile exactly when the saving exceeds the compile time
    saving = 1 - cc.GRAPHED_COMPILED_RATIO
    break_even = cc.COMPILE_SECONDS_PER_NETWORK / (saving * 1e-3)  # steps at 1 ms/step, one network
    assert not cc.choose_compile(1e-3, int(break_even * 0.9), 1, 1, True).compile
    assert cc.choose_compile(1e-3, int(break_even * 1.1), 1, 1, True).compile


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_a_warm_up_that_measured_nothing_is_refused(bad):
    with pytest.raises(ValueError, match="eager_step_seconds must be a positive number"):
        cc.choose_compile(bad, 100, 1, 1, True)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        cc.choose_compile(1e-3, 0, 1, 1, True)


def test_the_constants_are_the_ones_bench_results_reports():
    text = RESULTS_MD.read_text()
    assert re.search(r"bf16, eager, whole-step CUDA graph \| 2\.78 \|", text)
    assert re.search(r"bf16, compiled, whole-step CUDA graph \(the default\)\*\* \| \*\*2\.06\*\*", text)
    assert "bf16, eager | 8.08 |" in text and "bf16, compiled | 9.83 |" in text
    assert "the first seed took at most 63.6 s" in text and "training was 9.75 s (UNetSimple) and 9.74 s" in text
    assert cc.COMPILE_SECONDS_PER_NETWORK == pytest.approx((63.6 - 19.5) / 2, abs=0.1)
    break_even = cc.COMPILE_SECONDS_PER_NETWORK / ((1 - cc.GRAPHED_COMPILED_RATIO) * 2.78e-3)
    assert "wins only from about 31,000 steps per network" in text and round(break_even, -3) == 31_000
    assert "26 s eager against 2 x 22 + 0.74 x 26 = 63 s compiled" in text


def test_compare_models_decides_from_a_measured_eager_step(monkeypatch, capsys):
    """The decision path builds the first network eagerly, times it, and returns the chosen config."""
    images = load_mnist("cpu", source="shipped", verbose=False).images[:64]
    profile = Profile("tiny", n_images=64, epochs=1, batch_size=16, log_every=2)
    config = trainer._decide_compile(
        {"UNetSimple": UNetSimple},
        images,
        profile,
        TrainConfig(warmup_steps=1),
        [0],
        torch.device("cpu"),
        linear_schedule(),
        True,
    )
    out = capsys.readouterr().out
    assert config.compile == "off" and "torch.compile: off (eager is predicted to finish first)" in out
    assert "4 steps x" in out and "(measured now, eager)" in out
