"""How big lesson 04's training run is, and with which settings: frozen configuration.

A :class:`Profile` says how much data and how many epochs; a :class:`TrainConfig`
holds the optimisation and diffusion settings of the original notebook (Adam, lr 2e-4,
batch 128, DDPM's T = 1000 with linear betas 1e-4..0.02, Ho et al. 2020) plus the
seeds and the speed options. Both are frozen dataclasses: a notebook passes them
around instead of keeping globals, and both models of a comparison receive the
very same objects.

Profiles: ``gpu`` is the original notebook's full run (60,000 digits x 10 epochs); ``cpu`` is a
reduced run that trains both models within about five minutes on two CPU cores;
``smoke`` is a few steps for the test-suite (``COURSE_SMOKE=1``); ``cpu_medium``
is the budget of the shipped CPU results (all 10,000 shipped digits x 2 epochs);
``gpu_shipped`` is the ``gpu`` profile's 4,680 steps per model drawn from the
10,000 shipped digits (60 passes), for a GPU machine that cannot download the
60,000 training digits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from course_utils.lessons.lesson04.errors import ProfileError
from course_utils.runtime import modes

__all__ = ["Profile", "TrainConfig", "PROFILES", "FULL_PROFILE", "choose_profile"]


@dataclass(frozen=True)
class Profile:
    """The size of one training run (identical for every model it is used with)."""

    name: str
    n_images: int  # first n_images digits of the loaded split
    epochs: int
    batch_size: int = 128
    log_every: int = 10  # steps per point of the loss curve

    def __post_init__(self) -> None:
        for field in ("n_images", "epochs", "batch_size", "log_every"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Profile.{field} must be a positive int, got {value!r}")
        if self.batch_size > self.n_images:
            raise ValueError(f"Profile.batch_size ({self.batch_size}) cannot exceed n_images ({self.n_images})")

    @property
    def steps_per_epoch(self) -> int:
        return self.n_images // self.batch_size  # the last partial batch is dropped

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.epochs

    def fit_to(self, n_available: int) -> "Profile":
        """The same profile on at most ``n_available`` images (prints when it shrinks)."""
        if n_available >= self.n_images:
            return self
        if n_available < self.batch_size:
            raise ProfileError(
                f"only {n_available} images are loaded but profile "
                f"{self.name!r} needs at least one batch of {self.batch_size}"
            )
        fitted = replace(self, n_images=n_available)
        print(
            f"{self.name} profile: only {n_available:,} images are available, so each epoch "
            f"has {fitted.steps_per_epoch} steps instead of {self.steps_per_epoch} "
            f"({fitted.total_steps:,} steps in all instead of {self.total_steps:,})."
        )
        return fitted

    def describe(self) -> str:
        """One line: the size of the run and, when reduced, what it was reduced from."""
        line = (
            f"{self.name} profile: {self.n_images:,} images x {self.epochs} epochs, "
            f"batch {self.batch_size} ({self.total_steps:,} steps per model)"
        )
        full = FULL_PROFILE
        if (self.n_images, self.epochs) == (full.n_images, full.epochs):
            return line
        if self.total_steps == full.total_steps:
            line += (
                f" - as many steps as the full {full.n_images:,} x {full.epochs}, "
                f"over {full.n_images // self.n_images}x fewer distinct digits"
            )
        else:
            line += f" - reduced from {full.n_images:,} x {full.epochs}"
        return line


FULL_PROFILE = Profile("gpu", n_images=60_000, epochs=10, log_every=50)
PROFILES: dict[str, Profile] = {
    "gpu": FULL_PROFILE,
    "cpu": Profile("cpu", n_images=6_400, epochs=2, log_every=5),
    "cpu_medium": Profile("cpu_medium", n_images=10_000, epochs=2, log_every=6),
    "smoke": Profile("smoke", n_images=64, epochs=1, batch_size=16, log_every=1),
    # 78 steps x 60 epochs = 4,680 steps, exactly the gpu profile's 468 x 10.
    "gpu_shipped": Profile("gpu_shipped", n_images=10_000, epochs=60, log_every=50),
}


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, diffusion and speed settings shared by every model of a comparison.

    ``seed`` seeds the model's initial weights and the draws of t and noise;
    ``data_seed`` seeds the order in which the digits are visited.
    ``precision``: ``"auto"`` (bf16 autocast on GPUs that support it, fp16 with a
    GradScaler on older GPUs such as the T4, fp32 on CPU), or ``"fp32"``/``"bf16"``/``"fp16"``
    (``"bf16"`` also runs on the CPU, as autocast; ``"fp16"`` needs CUDA).
    ``compile``: ``"auto"`` (torch.compile on CUDA only), ``"on"`` or ``"off"``.
    ``cuda_graph``: ``"auto"`` (capture each whole training step in a CUDA graph on
    CUDA, except fp16 whose GradScaler syncs every step), ``"on"`` or ``"off"``; see
    :mod:`course_utils.lessons.lesson04.graphed_step`.
    """

    lr: float = 2e-4
    num_timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    seed: int = 0
    data_seed: int = 0
    precision: str = "auto"
    compile: str = "auto"
    compile_mode: str = "default"
    cuda_graph: str = "auto"
    channels_last: bool = True
    warmup_steps: int = 2  # timed before training to estimate the run time; 0 = skip

    def __post_init__(self) -> None:
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {self.precision!r}")
        if self.compile not in ("auto", "on", "off"):
            raise ValueError(f"compile must be auto, on or off, got {self.compile!r}")
        if self.cuda_graph not in ("auto", "on", "off"):
            raise ValueError(f"cuda_graph must be auto, on or off, got {self.cuda_graph!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")
        for field in ("seed", "data_seed", "warmup_steps"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"TrainConfig.{field} must be an int >= 0, got {value!r}")

    def with_seed(self, seed: int) -> "TrainConfig":
        """The same settings with ``seed`` and ``data_seed`` both set to ``seed``."""
        return replace(self, seed=seed, data_seed=seed)


def choose_profile(
    name: str | None = None, device: torch.device | str | None = None, *, smoke: bool | None = None
) -> Profile:
    """The profile to train with.

    Args:
        name: a key of :data:`PROFILES` (``"gpu"``, ``"cpu"``, ...); ``None`` picks
            ``smoke`` under ``COURSE_SMOKE=1``, else ``gpu`` on a CUDA device and ``cpu``
            otherwise.
        device: the training device (default: CUDA when available).
        smoke: pick ``smoke`` when ``name`` is ``None`` (default: ``COURSE_SMOKE=1``, read by
            :func:`course_utils.runtime.modes`; pass ``RUN.smoke`` from the setup cell).

    Raises:
        ProfileError: a gpu profile was asked for on a machine without CUDA.
    """
    device = (
        torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    )
    if name is None:
        smoke = modes().smoke if smoke is None else smoke
        name = "smoke" if smoke else ("gpu" if device.type == "cuda" else "cpu")
    if name not in PROFILES:
        raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {name!r}")
    if name.startswith("gpu") and device.type != "cuda":
        prof = PROFILES[name]
        raise ProfileError(
            f"The {name} profile ({prof.n_images:,} images x {prof.epochs} epochs, twice) "
            "needs a CUDA GPU and this "
            "runtime trains on the CPU. In Colab choose Runtime > Change runtime type > T4 GPU "
            "and run the notebook again, or use choose_profile('cpu') for the reduced run "
            "(the notebook also shows cached results of the full run)."
        )
    return PROFILES[name]
