"""DDPM schedule and loss, profiles, and the trainer (CPU, tiny sizes)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from course_utils import trainer as trainer_mod
from course_utils.diffusion.ddpm import draw_t_and_noise, epsilon_loss, epsilon_loss_at, linear_schedule, q_sample
from course_utils.lessons.lesson04.errors import GPUMemoryError, ProfileError
from course_utils.lessons.lesson04.profiles import PROFILES, Profile, TrainConfig, choose_profile
from course_utils.lessons.lesson04.trainer import StepRunner, compare_models, train_model
from course_utils.components.unets import UNetSimple, UNetSinusoidal

TINY = Profile("tiny", n_images=32, epochs=2, batch_size=8, log_every=3)
FAST = TrainConfig(warmup_steps=0)


pytestmark = pytest.mark.usefixtures("one_cpu_thread")  # see conftest.py


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randint(0, 256, (64, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def test_linear_schedule_matches_ddpm():
    s = linear_schedule()
    assert s.num_timesteps == 1000
    assert s.betas[0].item() == pytest.approx(1e-4) and s.betas[-1].item() == pytest.approx(0.02)
    assert torch.all(s.alpha_bars[1:] < s.alpha_bars[:-1])
    assert s.alpha_bars[-1].item() == pytest.approx(4.0358e-5, rel=1e-3)
    with pytest.raises(ValueError, match="beta_start < beta_end"):
        linear_schedule(beta_start=0.02, beta_end=1e-4)


def test_q_sample_checks_and_mixes():
    s = linear_schedule()
    x0, noise = torch.ones(2, 1, 4, 4), torch.zeros(2, 1, 4, 4)
    xt = q_sample(x0, torch.tensor([0, 999]), s, noise)
    assert xt[0].mean().item() == pytest.approx(s.alpha_bars[0].sqrt().item())
    with pytest.raises(ValueError, match=r"t must be 1-D \[batch\]"):
        q_sample(x0, torch.zeros(2, 1, dtype=torch.long), s, noise)


def test_training_reduces_the_loss_on_a_fixed_batch(images):
    """Same batch, same t and noise every step: the loss must fall within a few steps."""
    torch.manual_seed(0)
    runner = StepRunner(UNetSimple(), TrainConfig(lr=1e-3), torch.device("cpu"), linear_schedule(), verbose=False)
    x0 = (images[:8].float() / 127.5 - 1).unsqueeze(1)  # (8, 28, 28) -> (8, 1, 28, 28)
    losses = []
    for _ in range(8):
        g = torch.Generator().manual_seed(1)  # identical t and noise each step
        losses.append(runner.step(x0, g).item())
    assert losses[-1] < 0.7 * losses[0], losses


def test_bf16_autocast_on_the_cpu_trains_fp32_weights(images):
    """bf16 on the CPU (autocast, as on GPUs): the loss falls as in fp32 and the weights stay fp32."""
    x0 = (images[:8].float() / 127.5 - 1).unsqueeze(1)  # (8, 28, 28) -> (8, 1, 28, 28)
    curves = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        config = TrainConfig(lr=1e-3, precision=precision)
        runner = StepRunner(UNetSimple(), config, torch.device("cpu"), linear_schedule(), verbose=False)
        curves[precision] = [runner.step(x0, torch.Generator().manual_seed(1)).item() for _ in range(8)]
        assert all(p.dtype == torch.float32 for p in runner.model.parameters())
    assert curves["bf16"][-1] < 0.7 * curves["bf16"][0], curves
    assert curves["bf16"][0] == pytest.approx(curves["fp32"][0], rel=0.02)  # the same loss, to bf16's precision
    assert curves["bf16"] != curves["fp32"]  # and bf16 really ran


def test_train_model_records_curves(images, capsys):
    res = train_model(UNetSimple(), images, TINY, TrainConfig(warmup_steps=1), device="cpu", progress=False)
    assert res.steps == (3, 6, 8) and len(res.window_losses) == 3 and len(res.epoch_losses) == 2
    assert res.precision == "fp32" and not res.compiled and res.seconds > 0
    out = capsys.readouterr().out
    assert "tiny profile: 32 images x 2 epochs" in out and "s/step in the warm-up" in out


def test_compare_models_uses_identical_terms(images, monkeypatch):
    """cpu profile: both models get the same profile, config, digits, order and init."""
    seen = []

    def fake_run(runner, batches, profile, label, progress):
        seen.append((runner, batches, profile))
        return trainer_mod.TrainResult(label, 0, (1,), (1.0,), (1.0,), 0.1, "fp32", False)

    monkeypatch.setattr(trainer_mod, "_run", fake_run)
    images_cpu = torch.randint(0, 256, (7000, 28, 28), dtype=torch.uint8)
    cmp = compare_models(
        {"simple": UNetSimple, "sinusoidal": UNetSinusoidal},
        images_cpu,
        choose_profile("cpu", "cpu"),
        FAST,
        seeds=[4],
        device="cpu",
        verbose=False,
    )
    (ra, ba, pa), (rb, bb, pb) = seen
    assert pa == pb == PROFILES["cpu"] == cmp.profile
    assert ra.config == rb.config == FAST.with_seed(4)
    assert ba.images.data_ptr() == bb.images.data_ptr() and len(ba) == len(bb) == 50
    assert torch.equal(next(ba.epoch()), next(bb.epoch()))  # same digits in the same order
    sa, sb = ra.model.state_dict(), rb.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa if not k.startswith("time_"))
    assert PROFILES["cpu"].describe() == (
        "cpu profile: 6,400 images x 2 epochs, batch 128 (100 steps per model) - reduced from 60,000 x 10"
    )


@pytest.mark.parametrize("verbose", [True, False])
def test_every_seed_warms_up_before_its_timed_runs(images, monkeypatch, verbose):
    """The warm-up (compile / capture) runs for every model of every seed, before its run, verbose or not.

    Before the fix it ran only for the first seed and only when verbose, so later seeds'
    compile and capture time landed in ``seconds`` ("warm-up excluded").
    """
    events = []

    def fake_measure(runner, imgs, batch_size):
        events.append(("warm", runner.config.seed, id(runner)))
        return 0.01

    def fake_run(runner, batches, profile, label, progress):
        events.append(("run", runner.config.seed, id(runner)))
        return trainer_mod.TrainResult(label, 0, (1,), (1.0,), (1.0,), 0.1, "fp32", False)

    monkeypatch.setattr(trainer_mod, "measure_step_time", fake_measure)
    monkeypatch.setattr(trainer_mod, "_run", fake_run)
    compare_models(
        {"a": UNetSimple, "b": UNetSinusoidal},
        images,
        TINY,
        TrainConfig(warmup_steps=1),
        seeds=[0, 1, 2],
        device="cpu",
        progress=False,
        verbose=verbose,
    )
    warmed = [(seed, rid) for kind, seed, rid in events if kind == "warm"]
    runs = [(seed, rid) for kind, seed, rid in events if kind == "run"]
    assert len(runs) == 6 and sorted(warmed) == sorted(runs), events
    for seed, rid in runs:  # each runner's warm-up comes before its run
        assert events.index(("warm", seed, rid)) < events.index(("run", seed, rid))


def test_after_run_sees_each_trained_model(monkeypatch, images):
    monkeypatch.setattr(
        trainer_mod,
        "_run",
        lambda runner, batches, profile, label, progress: trainer_mod.TrainResult(
            label, 0, (1,), (1.0,), (1.0,), 0.1, "fp32", False
        ),
    )
    trained = []
    compare_models(
        {"a": UNetSimple, "b": UNetSinusoidal},
        images,
        TINY,
        FAST,
        seeds=[0, 2],
        device="cpu",
        progress=False,
        verbose=False,
        after_run=lambda label, seed, model: trained.append((label, seed, type(model))),
    )
    assert trained == [
        (label, seed, cls) for seed in (0, 2) for label, cls in (("a", UNetSimple), ("b", UNetSinusoidal))
    ]
    with pytest.raises(TypeError, match="after_run must be a function"):
        compare_models({"a": UNetSimple}, images, TINY, FAST, device="cpu", after_run=3)


def test_same_seed_same_curves(images):
    a = compare_models({"m": UNetSimple}, images, TINY, FAST, device="cpu", progress=False)
    b = compare_models({"m": UNetSimple}, images, TINY, FAST, device="cpu", progress=False)
    assert a.runs["m"][0].window_losses == b.runs["m"][0].window_losses


def test_profiles_and_configs():
    assert PROFILES["gpu"].total_steps == 4680 and PROFILES["cpu"].total_steps == 100
    with pytest.raises(dataclasses.FrozenInstanceError):
        PROFILES["cpu"].epochs = 5
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp8")
    with pytest.raises(ValueError, match="batch_size"):
        Profile("bad", n_images=10, epochs=1, batch_size=128)


def test_profile_choice(monkeypatch):
    monkeypatch.setenv("COURSE_SMOKE", "1")
    assert choose_profile(device="cpu").name == "smoke"
    monkeypatch.delenv("COURSE_SMOKE")
    assert choose_profile(device="cpu").name == "cpu"
    with pytest.raises(ProfileError, match="needs a CUDA GPU.*choose_profile\\('cpu'\\)") as info:
        choose_profile("gpu", "cpu")
    assert len(info.value._render_traceback_()) == 1


def test_out_of_memory_becomes_a_friendly_error(images, monkeypatch):
    def oom(self, x0, generator):
        raise trainer_mod._OOM("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(StepRunner, "step", oom)
    with pytest.raises(GPUMemoryError, match="ran out of memory.*choose_profile\\('cpu'\\)"):
        train_model(UNetSimple(), images, TINY, FAST, device="cpu", progress=False)


def test_compile_failure_falls_back_reproducibly(images, monkeypatch, capsys):
    def broken_compile(model, mode=None):
        def call(*args):
            raise RuntimeError("no C++ compiler found")

        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    torch.manual_seed(0)
    fallback = train_model(
        UNetSimple(), images, TINY, TrainConfig(compile="on", warmup_steps=0), device="cpu", progress=False
    )
    assert "continuing uncompiled" in capsys.readouterr().out and not fallback.compiled
    torch.manual_seed(0)
    eager = train_model(UNetSimple(), images, TINY, FAST, device="cpu", progress=False)
    assert fallback.window_losses == eager.window_losses


def test_gpu_precisions_and_graphs_are_refused_on_cpu():
    with pytest.raises(ValueError, match="for CUDA GPUs"):
        StepRunner(UNetSimple(), TrainConfig(precision="fp16"), torch.device("cpu"), linear_schedule(), verbose=False)
    cpu_bf16 = StepRunner(UNetSimple(), TrainConfig(precision="bf16"), torch.device("cpu"), linear_schedule(), False)
    assert cpu_bf16.describe() == "bf16" and cpu_bf16.scaler is None and not cpu_bf16.cuda_graph
    with pytest.raises(ValueError, match="cuda_graph='on' needs a CUDA device"):
        StepRunner(UNetSimple(), TrainConfig(cuda_graph="on"), torch.device("cpu"), linear_schedule(), verbose=False)
    with pytest.raises(ValueError, match="cuda_graph must be auto, on or off"):
        TrainConfig(cuda_graph="yes")
    runner = StepRunner(UNetSimple(), TrainConfig(), torch.device("cpu"), linear_schedule(), verbose=False)
    assert not runner.cuda_graph and runner.describe() == "fp32"


def test_the_loss_is_the_same_whether_drawn_inside_or_outside():
    """StepRunner draws t and noise before the loss; epsilon_loss draws them inside."""
    model = UNetSimple().eval()
    x0 = torch.rand(4, 1, 28, 28) * 2 - 1
    s = linear_schedule()
    with torch.no_grad():
        inside = epsilon_loss(model, x0, s, torch.Generator().manual_seed(3))
        t, noise = draw_t_and_noise(x0, s.num_timesteps, torch.Generator().manual_seed(3))
        outside = epsilon_loss_at(model, x0, t, noise, s)
    assert torch.equal(inside, outside) and t.shape == (4,) and noise.shape == x0.shape


def test_epsilon_loss_is_reproducible_with_a_generator():
    model = UNetSinusoidal().eval()
    x0 = torch.zeros(2, 1, 28, 28)
    s = linear_schedule()
    with torch.no_grad():
        a = epsilon_loss(model, x0, s, torch.Generator().manual_seed(0))
        b = epsilon_loss(model, x0, s, torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
