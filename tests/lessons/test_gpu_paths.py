"""Lesson 04's CUDA-only paths: mixed precision, torch.compile and its fallback, real OOM, memory.

Skipped where there is no CUDA device (CI has none). Run on a GPU machine with
``python -m pytest tests/lessons/test_gpu_paths.py``; bench/RESULTS.md records such a run.
"""

from __future__ import annotations

import sys

import pytest
import torch

from course_utils.diffusion.ddpm import linear_schedule
from course_utils.lessons.lesson04.errors import GPUMemoryError
from course_utils.lessons.lesson04.graphed_step import GraphedTrainStep
from course_utils.lessons.lesson04.mnist import DeviceBatches, load_mnist
from course_utils.paths import REPO_ROOT
from course_utils.lessons.lesson04.profiles import Profile, TrainConfig, choose_profile
from course_utils.lessons.lesson04.trainer import StepRunner, train_model
from course_utils.components.unets import UNetSimple, UNetSinusoidal

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

CUDA = torch.device("cuda")
TINY = Profile("tiny", n_images=256, epochs=2, batch_size=32, log_every=4)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return load_mnist("cpu", source="shipped", verbose=False).images[:512]


def _fixed_batch_losses(precision: str, images: torch.Tensor, steps: int = 12) -> tuple[StepRunner, list[float]]:
    torch.manual_seed(0)
    model = UNetSimple().to(CUDA).to(memory_format=torch.channels_last).train()
    runner = StepRunner(
        model,
        TrainConfig(lr=1e-3, precision=precision, compile="off"),
        CUDA,
        linear_schedule(device=CUDA),
        verbose=False,
    )
    x0 = (images[:32].to(CUDA).float() / 127.5 - 1).unsqueeze(1)  # (32, 28, 28) -> (32, 1, 28, 28)
    losses = []
    for _ in range(steps):
        g = torch.Generator(device=CUDA).manual_seed(1)  # the same t and noise every step
        losses.append(runner.step(x0, g).item())
    return runner, losses


def test_auto_precision_is_bf16_on_ampere_or_newer(images):
    runner, losses = _fixed_batch_losses("auto", images)
    major, _ = torch.cuda.get_device_capability(CUDA)
    assert runner.precision == ("bf16" if major >= 8 else "fp16")
    assert all(l == l for l in losses) and losses[-1] < 0.7 * losses[0], losses


@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp32"])
def test_each_precision_learns_a_fixed_batch(precision, images):
    runner, losses = _fixed_batch_losses(precision, images)
    assert (runner.scaler is not None) == (precision == "fp16")  # GradScaler with fp16 only
    assert all(l == l for l in losses) and losses[-1] < 0.7 * losses[0], losses


def test_compiled_training_matches_eager_closely(images):
    runs = {}
    for mode in ("on", "off"):
        torch.manual_seed(0)
        runs[mode] = train_model(
            UNetSimple(),
            images,
            TINY,
            TrainConfig(compile=mode, warmup_steps=0),
            device=CUDA,
            progress=False,
            verbose=False,
        )
    assert runs["on"].compiled and not runs["off"].compiled
    assert runs["on"].precision == runs["off"].precision
    for a, b in zip(runs["on"].window_losses, runs["off"].window_losses):
        assert abs(a - b) < 0.05 * b, (runs["on"].window_losses, runs["off"].window_losses)


def _train(images, warmup_steps=0, **config):
    torch.manual_seed(0)
    return train_model(
        UNetSimple(),
        images,
        TINY,
        TrainConfig(warmup_steps=warmup_steps, **config),
        device=CUDA,
        progress=False,
        verbose=False,
    )


def _close(a, b, rel=0.05):
    return all(abs(x - y) < rel * y for x, y in zip(a.window_losses, b.window_losses))


@pytest.mark.parametrize("compile_mode", ["on", "off"])
def test_a_cuda_graph_trains_like_eager(images, compile_mode):
    graphed = _train(images, cuda_graph="on", compile=compile_mode)
    eager = _train(images, cuda_graph="off", compile="off")
    assert graphed.cuda_graph and not eager.cuda_graph
    assert _close(graphed, eager), (graphed.window_losses, eager.window_losses)
    assert graphed.window_losses[-1] < graphed.window_losses[0]


def test_the_default_on_a_modern_gpu_is_bf16_compiled_and_graphed(images):
    res = _train(images, warmup_steps=2)
    assert (res.precision, res.compiled, res.cuda_graph) == ("bf16", True, True)


def test_warm_up_and_capture_leave_no_trace(images):
    """Timing steps and capture warm-ups are undone: the run starts from the given weights."""
    with_warmup = _train(images, warmup_steps=5, cuda_graph="on", compile="off")
    without = _train(images, warmup_steps=0, cuda_graph="off", compile="off")
    assert abs(with_warmup.window_losses[0] - without.window_losses[0]) < 0.01 * without.window_losses[0]
    assert _close(with_warmup, without)


def test_graph_reset_restores_weights_and_adam_exactly():
    torch.manual_seed(0)
    model = UNetSinusoidal().to(CUDA).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, capturable=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    step = GraphedTrainStep(model, model, opt, linear_schedule(device=CUDA), torch.bfloat16, False)
    x0 = torch.randn(8, 1, 28, 28, device=CUDA)
    t = torch.randint(0, 1000, (8,), device=CUDA)
    for _ in range(3):
        step(x0, t, torch.randn_like(x0))
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    step.reset()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(float(v.abs().sum()) == 0 for s in opt.state.values() for v in s.values())


def test_a_failed_capture_falls_back_and_trains(images, monkeypatch, capsys):
    def broken_capture(self, x0, t, noise):
        self.static = {"x0": x0, "t": t, "noise": noise}
        self.optimizer.zero_grad(set_to_none=True)
        self._body()  # as a real capture's warm-up would, it changes weights first
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(GraphedTrainStep, "_capture", broken_capture)
    torch.manual_seed(0)
    res = train_model(
        UNetSimple(),
        images,
        TINY,
        TrainConfig(warmup_steps=1, cuda_graph="on", compile="off"),
        device=CUDA,
        progress=False,
    )
    assert "CUDA graph capture failed" in capsys.readouterr().out and not res.cuda_graph
    assert _close(res, _train(images, cuda_graph="off", compile="off"))


def test_compile_failure_on_cuda_falls_back_and_trains(images, monkeypatch, capsys):
    def broken_compile(model, mode=None):
        def call(*args):
            raise RuntimeError("triton is not installed")

        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    torch.manual_seed(0)
    res = train_model(
        UNetSinusoidal(), images, TINY, TrainConfig(compile="on", warmup_steps=1), device=CUDA, progress=False
    )
    out = capsys.readouterr().out
    assert "continuing uncompiled" in out and "capture failed" not in out
    # The graph is captured from the eager model instead.
    assert not res.compiled and res.cuda_graph and res.window_losses[-1] < res.window_losses[0]


def test_a_real_out_of_memory_becomes_one_clear_message(images):
    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(CUDA).total_memory
    torch.cuda.set_per_process_memory_fraction(2**20 / total)  # about 1 MiB in all
    try:
        with pytest.raises(GPUMemoryError, match="ran out of memory.*choose_profile\\('cpu'\\)"):
            train_model(
                UNetSimple(), images, TINY, TrainConfig(warmup_steps=0), device=CUDA, progress=False, verbose=False
            )
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    res = train_model(
        UNetSimple(), images, TINY, TrainConfig(warmup_steps=0), device=CUDA, progress=False, verbose=False
    )  # the GPU is usable again afterwards
    assert res.window_losses[-1] == res.window_losses[-1]


def test_profiles_and_batches_on_cuda(images):
    assert choose_profile(device=CUDA).name == "gpu"
    assert choose_profile("gpu_shipped", CUDA).total_steps == choose_profile("gpu", CUDA).total_steps
    on_gpu, on_cpu = DeviceBatches(images.to(CUDA), 64, seed=3), DeviceBatches(images, 64, seed=3)
    first_gpu, first_cpu = next(on_gpu.epoch()), next(on_cpu.epoch())
    # The same digits in the same order (the scaling to [-1, 1] may round differently).
    assert first_gpu.device.type == "cuda" and torch.allclose(first_gpu.cpu(), first_cpu, atol=1e-6)


def test_bench_reports_peak_memory_on_cuda(tmp_path):
    sys.path.insert(0, str(REPO_ROOT / "bench"))
    import run as bench_run

    figures = bench_run.run(["--device", "cuda", "--steps", "6", "--warmup", "2", "--out", str(tmp_path / "b.json")])
    for loop in ("seed_loop", "course_trainer"):
        assert 0 < figures[loop]["peak_gpu_mib"] < 4096, figures[loop]
    assert figures["course_trainer"]["precision"] in ("bf16", "fp16")
    assert figures["device"].startswith("GPU")
