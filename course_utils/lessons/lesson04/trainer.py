"""Train lesson 04's U-Nets with DDPM's noise-prediction loss, fast and on equal terms.

The objective is Algorithm 1 of Ho, Jain and Abbeel, "Denoising Diffusion
Probabilistic Models" (2020), with the original notebook's settings (see
:mod:`course_utils.lessons.lesson04.profiles`). What this module adds to the original notebook's loop:

* data already on the device (:class:`course_utils.lessons.lesson04.mnist.DeviceBatches`), no DataLoader;
* fair comparisons: every model of :func:`compare_models` gets the same profile,
  the same config, the same initial convolution weights, the same digit order and
  the same draws of t and noise (separate, identically seeded generators);
* on a GPU: bf16 autocast (fp16 + GradScaler on pre-Ampere GPUs such as the T4),
  channels-last memory, a whole-step CUDA graph and ``torch.compile``, each falling back
  with a printed reason when unavailable; under ``compile="auto"``, :func:`compare_models`
  compiles only when :mod:`course_utils.lessons.lesson04.compile_choice` predicts, from the
  eager step time measured now, that compiling finishes the run first (and prints why);
* a timed warm-up that prints an estimate of the run time before training, a tqdm
  progress bar with the running loss, and loss curves per N steps and per epoch;
* friendly errors (:mod:`course_utils.lessons.lesson04.errors`) for a GPU that runs out of memory.
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping, Sequence

import torch
from torch import nn

from course_utils.diffusion.ddpm import DDPMSchedule, draw_t_and_noise, epsilon_loss_at, linear_schedule
from course_utils.lessons.lesson04.graphed_step import GraphedTrainStep, zero_optimizer_state
from course_utils.lessons.lesson04.compile_choice import choose_compile
from course_utils.lessons.lesson04.errors import GPUMemoryError
from course_utils.lessons.lesson04.mnist import DeviceBatches, MnistSplit, to_model_range
from course_utils.lessons.lesson04.profiles import Profile, TrainConfig
from course_utils.runtime import pick_device
from course_utils.components.unets import count_parameters

# Older torch (< 2.5) only has the CUDA-specific name.
_OOM = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)

__all__ = [
    "TrainResult",
    "Comparison",
    "StepRunner",
    "describe_device",
    "describe_settings",
    "train_model",
    "compare_models",
]


def describe_device(device: torch.device) -> str:
    """Human-readable device name, e.g. ``"CPU (2 cores)"`` or ``"GPU (NVIDIA H100 ...)"``."""
    if device.type == "cuda":
        return f"GPU ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"CPU ({torch.get_num_threads()} threads, {os.cpu_count()} cores)"
    return device.type.upper()


def describe_settings(precision: str, compiled: bool, cuda_graph: bool) -> str:
    """``"bf16, compiled, CUDA graph"``: the precision, then the speed options that are on."""
    return ", ".join([precision] + (["compiled"] if compiled else []) + (["CUDA graph"] if cuda_graph else []))


@dataclass(frozen=True)
class TrainResult:
    """What one training run measured. ``steps[i]`` is the last step of window ``i``."""

    label: str
    params: int
    steps: tuple[int, ...]
    window_losses: tuple[float, ...]  # mean loss over each window of profile.log_every steps
    epoch_losses: tuple[float, ...]  # mean loss over each epoch
    seconds: float  # training time, warm-up excluded
    precision: str
    compiled: bool
    cuda_graph: bool = False

    def describe(self) -> str:
        """The speed settings the run used, e.g. ``"bf16, compiled, CUDA graph"``."""
        return describe_settings(self.precision, self.compiled, self.cuda_graph)

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(self.steps[-1], 1) if self.steps else float("nan")


@dataclass
class Comparison:
    """Runs of several models under one profile and config, one run per (model, seed)."""

    profile: Profile
    config: TrainConfig
    seeds: tuple[int, ...]
    device: str
    data_source: str
    runs: dict[str, list[TrainResult]] = field(default_factory=dict)


def _duration(seconds: float) -> str:
    if seconds != seconds:  # NaN: no warm-up was timed
        return "unknown (no warm-up)"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _oom_error(device: torch.device, batch_size: int) -> GPUMemoryError:
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return GPUMemoryError(
        f"The GPU ran out of memory while training with batch {batch_size}. Free it with "
        "Runtime > Restart session (Colab) or by closing other notebooks, then run the cell "
        "again; or train with choose_profile('cpu')."
    )


class StepRunner:
    """One optimiser step of the DDPM loss, with the precision, compile and graph settings resolved."""

    def __init__(
        self, model: nn.Module, config: TrainConfig, device: torch.device, schedule: DDPMSchedule, verbose: bool = True
    ) -> None:
        self.model, self.config, self.device, self.schedule = model, config, device, schedule
        self.verbose = verbose
        self.dtype, self.precision = self._pick_precision()
        self.scaler = _grad_scaler() if self.dtype == torch.float16 else None
        use_graph = self._pick_graph()
        self.optimizer = _adam(model, config.lr, device, capturable=use_graph)
        self.forward: Callable = model
        self.compiled = False
        self._compile_proven = False  # True once a compiled step has run through
        want = config.compile == "on" or (config.compile == "auto" and device.type == "cuda")
        if want:
            try:
                self.forward = torch.compile(model, mode=config.compile_mode)
                self.compiled = True
            except Exception as err:  # any failure means "run eagerly"
                self._say(
                    f"torch.compile is unavailable ({type(err).__name__}: {err}); "
                    "training uncompiled, which is slower but trains the same way."
                )
        self.graphed = (
            GraphedTrainStep(self.forward, model, self.optimizer, schedule, self.dtype, config.channels_last)
            if use_graph
            else None
        )

    @property
    def cuda_graph(self) -> bool:
        """Whether steps run as replays of a captured CUDA graph."""
        return self.graphed is not None

    def describe(self) -> str:
        """The speed settings in effect, e.g. ``"bf16, compiled, CUDA graph"``."""
        return describe_settings(self.precision, self.compiled, self.cuda_graph)

    def _say(self, line: str) -> None:
        if self.verbose:
            print(line)

    def _pick_precision(self) -> tuple[torch.dtype | None, str]:
        choice = self.config.precision
        if choice == "auto":
            if self.device.type != "cuda":
                return None, "fp32"
            # bf16 needs Ampere (compute capability 8.x) or newer; a T4 (7.5) gets fp16.
            major, _ = torch.cuda.get_device_capability(self.device)
            choice = "bf16" if major >= 8 else "fp16"
        if choice == "fp32":
            return None, "fp32"
        if choice == "bf16" and self.device.type == "cpu":
            # bf16 autocast on the CPU: 2-3.5x as fast as fp32 where the CPU has bf16 units (AMX,
            # AVX-512 BF16; bench/RESULTS.md); not measured on CPUs without them: asked for, not automatic.
            return torch.bfloat16, choice
        if self.device.type != "cuda":
            raise ValueError(
                f"precision {choice!r} is for CUDA GPUs (bf16 also runs on the CPU); "
                f"use 'fp32' or 'auto' on {self.device.type}"
            )
        return (torch.bfloat16 if choice == "bf16" else torch.float16), choice

    def _pick_graph(self) -> bool:
        choice = self.config.cuda_graph
        if choice == "off" or (choice == "auto" and (self.device.type != "cuda" or self.scaler)):
            return False
        if self.device.type != "cuda":
            raise ValueError(f"cuda_graph='on' needs a CUDA device; use 'auto' or 'off' on {self.device.type}")
        if self.scaler is not None:
            raise ValueError(
                "cuda_graph='on' cannot capture fp16 training (its GradScaler checks "
                "for overflow on the host every step); use 'auto' or bf16/fp32"
            )
        return True

    def _forward_backward(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None):
            loss = epsilon_loss_at(self.forward, x0, t, noise, self.schedule)
        self.optimizer.zero_grad(set_to_none=True)
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
        return loss

    def step(self, x0: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One training step on clean images ``x0``; returns the detached loss (no sync)."""
        # The draws come first, outside any graph, so every path sees the same t and noise.
        t, noise = draw_t_and_noise(x0, self.schedule.num_timesteps, generator)
        if self.graphed is not None:  # copying into the graph's input sets its memory format
            loss = self._graphed_step(x0, t, noise)
            if loss is not None:
                return loss.detach()
        if self.config.channels_last:
            x0 = x0.contiguous(memory_format=torch.channels_last)
        if not self.compiled or self._compile_proven:
            loss = self._forward_backward(x0, t, noise)
        else:
            loss = self._first_compiled_step(x0, t, noise)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        return loss.detach()

    def _graphed_step(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor | None:
        """Replay the captured step; on a failed capture, undo it and return None (run eagerly)."""
        if self.graphed.graph is not None:
            return self.graphed(x0, t, noise)
        try:
            loss = self.graphed(x0, t, noise)
            self._compile_proven = self.compiled
            return loss
        except _OOM:
            raise
        except Exception as err:  # any failure means "run without it"
            self.graphed.reset()  # undo the warm-up steps of the failed capture
            self.optimizer.zero_grad(set_to_none=True)
            why = f"{type(err).__name__}: {str(err)[:200]}"
            if self.compiled and not self._compile_proven:
                # torch.compile fails lazily, in the capture's first forward: drop it and
                # capture the eager model instead.
                self._say(
                    f"torch.compile failed ({why}); continuing uncompiled, which is slower but trains the same way."
                )
                self.forward, self.compiled = self.model, False
                self.graphed = GraphedTrainStep(
                    self.model, self.model, self.optimizer, self.schedule, self.dtype, self.config.channels_last
                )
                return self._graphed_step(x0, t, noise)
            self.graphed = None
            self._say(
                f"CUDA graph capture failed ({why}); continuing without it, which is slower but trains the same way."
            )
            return None

    def _first_compiled_step(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Forward and backward through the compiled model, falling back to eager on failure."""
        try:
            loss = self._forward_backward(x0, t, noise)
            self._compile_proven = True
            return loss
        except _OOM:
            raise
        except Exception as err:
            # torch.compile fails lazily, in the first forward or backward: explain, then
            # redo the step eagerly with the same t and noise (no optimiser step has been
            # taken yet, and zero_grad runs again before the new backward).
            self._say(
                f"torch.compile failed ({type(err).__name__}: {str(err)[:200]}); "
                "continuing uncompiled, which is slower but trains the same way."
            )
            self.forward, self.compiled = self.model, False
            return self._forward_backward(x0, t, noise)


def _adam(model: nn.Module, lr: float, device: torch.device, capturable: bool = False) -> torch.optim.Optimizer:
    """Adam as in the original notebook; on CUDA its fused kernel (one launch per step, same update rule).

    ``capturable`` keeps Adam's step count on the GPU so the update can sit in a CUDA graph.
    """
    if device.type == "cuda":
        try:
            return torch.optim.Adam(model.parameters(), lr=lr, fused=True, capturable=capturable)
        except (RuntimeError, TypeError):  # a torch without fused Adam for this device
            return torch.optim.Adam(model.parameters(), lr=lr, capturable=capturable)
    return torch.optim.Adam(model.parameters(), lr=lr)


def _grad_scaler():
    """A CUDA GradScaler for fp16 training (its home moved in torch 2.3)."""
    if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _prepare(model: nn.Module, config: TrainConfig, device: torch.device) -> nn.Module:
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    return model.train()


def measure_step_time(runner: StepRunner, images: torch.Tensor, batch_size: int) -> float:
    """Seconds per step, timed on ``runner.config.warmup_steps`` steps after one untimed step.

    The model's weights and BatchNorm statistics are restored afterwards and a throwaway
    generator is used, so the real run is unaffected. Adam's state is undone as well: a
    throwaway optimiser is used for eager steps; a CUDA-graph runner keeps its own
    (captured) optimiser, whose state is zeroed in place afterwards.
    """
    snapshot = copy.deepcopy(runner.model.state_dict())
    real_optimizer, real_scaler = runner.optimizer, runner.scaler
    graphed = runner.cuda_graph
    if not graphed:
        runner.optimizer = _adam(runner.model, runner.config.lr, runner.device)
        runner.scaler = _grad_scaler() if real_scaler is not None else None
    generator = torch.Generator(device=runner.device).manual_seed(12345)

    x0 = to_model_range(images[:batch_size])
    try:
        runner.step(x0, generator)  # compiles / captures / allocates; not timed
        _sync(runner.device)
        start = time.perf_counter()
        for _ in range(runner.config.warmup_steps):
            runner.step(x0, generator)
        _sync(runner.device)
        per_step = (time.perf_counter() - start) / max(runner.config.warmup_steps, 1)
    finally:
        runner.model.load_state_dict(snapshot)  # copies in place: a captured graph stays valid
        runner.optimizer, runner.scaler = real_optimizer, real_scaler
        if graphed:  # also when the capture failed and the steps ran eagerly on this optimiser
            zero_optimizer_state(real_optimizer)
            if runner.graphed is None:  # a live graph overwrites its gradients on each replay
                real_optimizer.zero_grad(set_to_none=True)
    return per_step


def _run(runner: StepRunner, batches: DeviceBatches, profile: Profile, label: str, progress: bool) -> TrainResult:
    from course_utils.progress import progress_bar

    cfg, device = runner.config, runner.device
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    steps, windows, epochs = [], [], []
    window_sum = torch.zeros((), device=device)
    bar = progress_bar(total=profile.total_steps, desc=label, enabled=progress)
    step, in_window = 0, 0
    start = time.perf_counter()
    for _ in range(profile.epochs):
        epoch_sum = torch.zeros((), device=device)
        for x0 in batches.epoch():
            loss = runner.step(x0, generator)
            window_sum += loss
            epoch_sum += loss
            step, in_window = step + 1, in_window + 1
            if in_window == profile.log_every or step == profile.total_steps:
                steps.append(step)
                windows.append(window_sum.item() / in_window)  # the only per-window sync
                bar.set_postfix(loss=f"{windows[-1]:.4f}", refresh=False)  # shown with the next line
                window_sum.zero_()
                in_window = 0
            bar.update(1)
        epochs.append(epoch_sum.item() / len(batches))
    _sync(device)
    seconds = time.perf_counter() - start
    bar.close()
    return TrainResult(
        label,
        count_parameters(runner.model),
        tuple(steps),
        tuple(windows),
        tuple(epochs),
        seconds,
        runner.precision,
        runner.compiled,
        runner.cuda_graph,
    )


def _images_for(
    data: MnistSplit | torch.Tensor, profile: Profile, device: torch.device
) -> tuple[torch.Tensor, Profile]:
    images = data.images if isinstance(data, MnistSplit) else data
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 3:
        raise ValueError(
            "data must be an MnistSplit or a uint8 tensor [N, 28, 28] "
            "(use course_utils.lessons.lesson04.mnist.load_mnist)"
        )
    profile = profile.fit_to(images.shape[0])
    return images[: profile.n_images].to(device), profile


def train_model(
    model: nn.Module,
    data: MnistSplit | torch.Tensor,
    profile: Profile,
    config: TrainConfig = TrainConfig(),
    *,
    device: torch.device | str | None = None,
    label: str | None = None,
    progress: bool = True,
    verbose: bool = True,
) -> TrainResult:
    """Train ``model`` (already built and seeded) with the DDPM loss under ``profile``.

    Uses the first ``profile.n_images`` digits of ``data``; prints the profile and a
    run-time estimate from a short timed warm-up first (``config.warmup_steps``).
    """
    device = torch.device(device) if device is not None else pick_device()
    label = label or type(model).__name__
    try:
        images, profile = _images_for(data, profile, device)
        schedule = linear_schedule(config.num_timesteps, config.beta_start, config.beta_end, device)
        runner = StepRunner(_prepare(model, config, device), config, device, schedule, verbose)
        if config.warmup_steps:  # also compiles / captures, so the timed run excludes that
            per_step = measure_step_time(runner, images, profile.batch_size)
            if verbose:
                print(
                    f"{profile.describe()}\n{label}: {per_step:.3f} s/step in the warm-up "
                    f"-> about {_duration(per_step * profile.total_steps)} on "
                    f"{describe_device(device)} ({runner.describe()})"
                )
        batches = DeviceBatches(images, profile.batch_size, config.data_seed)
        return _run(runner, batches, profile, label, progress)
    except _OOM:
        raise _oom_error(device, profile.batch_size) from None


def _decide_compile(
    builders: Mapping[str, Callable[[], nn.Module]],
    images: torch.Tensor,
    profile: Profile,
    config: TrainConfig,
    seeds: Sequence[int],
    device: torch.device,
    schedule: DDPMSchedule,
    verbose: bool,
) -> TrainConfig:
    """``config`` with ``compile`` "on" or "off": whichever :func:`choose_compile` predicts to finish first,
    from the eager step time of the first network measured now."""
    eager = replace(config.with_seed(seeds[0]), compile="off")
    torch.manual_seed(seeds[0])
    build = next(iter(builders.values()))
    runner = StepRunner(_prepare(build(), eager, device), eager, device, schedule, verbose=False)
    per_step = measure_step_time(runner, images, profile.batch_size)
    choice = choose_compile(per_step, profile.total_steps, len(builders), len(seeds), runner.cuda_graph)
    del runner
    if verbose:
        verdict = (
            "on (compiling is predicted to finish first)"
            if choice.compile
            else "off (eager is predicted to finish first)"
        )
        print(f"torch.compile: {verdict}: {choice.reason}")
    return replace(config, compile="on" if choice.compile else "off")


def compare_models(
    builders: Mapping[str, Callable[[], nn.Module]],
    data: MnistSplit | torch.Tensor,
    profile: Profile,
    config: TrainConfig = TrainConfig(),
    *,
    seeds: Sequence[int] = (0,),
    device: torch.device | str | None = None,
    progress: bool = True,
    verbose: bool = True,
    after_run: Callable[[str, int, nn.Module], None] | None = None,
) -> Comparison:
    """Train every model of ``builders`` once per seed, all on identical terms.

    For each seed ``s`` every model is built right after ``torch.manual_seed(s)`` and
    trained with ``config.with_seed(s)``: same digits, same order, same t and noise.
    Every model of every seed gets its timed warm-up (``config.warmup_steps``) before its
    run, so compile and capture time never lands in a run's ``seconds``; the first seed's
    warm-ups also print the estimated total time (when ``verbose``).
    ``after_run(label, seed, model)``, when given, is called with each trained model
    (e.g. to evaluate it on held-out data or save its weights) before the next is trained.
    On CUDA with ``config.compile == "auto"`` the run is compiled or not, whichever is predicted to
    finish first (:func:`~course_utils.lessons.lesson04.compile_choice.choose_compile`), and the
    returned comparison's ``config`` says which.
    """
    if not builders:
        raise ValueError("builders must name at least one model, e.g. {'simple': UNetSimple}")
    if not seeds or any(not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of ints >= 0, got {seeds!r}")
    if after_run is not None and not callable(after_run):
        raise TypeError("after_run must be a function (label, seed, model) -> None, or None")
    device = torch.device(device) if device is not None else pick_device()
    try:
        images, profile = _images_for(data, profile, device)
        source = data.source if isinstance(data, MnistSplit) else "uint8 tensor"
        result = Comparison(
            profile, config, tuple(seeds), describe_device(device), source, {label: [] for label in builders}
        )
        schedule = linear_schedule(config.num_timesteps, config.beta_start, config.beta_end, device)
        if config.compile == "auto" and device.type == "cuda" and config.warmup_steps:
            config = _decide_compile(builders, images, profile, config, seeds, device, schedule, verbose)
            result.config = config
        for i, seed in enumerate(seeds):
            cfg = config.with_seed(seed)
            runners = {}
            for label, build in builders.items():
                torch.manual_seed(seed)
                runners[label] = StepRunner(_prepare(build(), cfg, device), cfg, device, schedule, verbose)
            # Warm up (compile / capture / allocate) every runner of every seed before its run.
            per_step = {
                label: measure_step_time(runner, images, profile.batch_size) if cfg.warmup_steps else float("nan")
                for label, runner in runners.items()
            }
            if i == 0 and verbose:
                print(profile.describe())
                for label, runner in runners.items():
                    print(
                        f"  {label}: {count_parameters(runner.model):,} parameters, "
                        f"{per_step[label]:.3f} s/step in the warm-up ({runner.describe()})"
                    )
                total = sum(per_step.values()) * profile.total_steps * len(seeds)
                print(
                    f"Estimated training time: about {_duration(total)} for "
                    f"{len(runners)} models x {len(seeds)} seed(s) x {profile.total_steps:,} "
                    f"steps on {result.device}."
                )
            for label, runner in runners.items():
                batches = DeviceBatches(images, profile.batch_size, cfg.data_seed)
                name = f"{label} (seed {seed})" if len(seeds) > 1 else label
                result.runs[label].append(_run(runner, batches, profile, name, progress))
                if after_run is not None:
                    after_run(label, seed, runner.model)
    except _OOM:
        raise _oom_error(device, profile.batch_size) from None
    return result
