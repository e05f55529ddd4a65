"""What the setup cell of every notebook does: find the runtime, pick a device, seed.

The setup cell calls :func:`setup_lesson` once; everything a lesson needs to know
about where it runs is in the returned :class:`Runtime`. Four environment variables
change how cells behave; :func:`modes` is the one place in the package that reads them
(library functions take the mode as an argument and fall back to :func:`modes`), and
nothing reads notebook globals:

* ``COURSE_GRADING=1`` is set by the course's autograder: heavy experiments load
  their cached results instead of recomputing them, and widgets are not shown.
* ``COURSE_SMOKE=1`` is set by the test-suite: experiments run at a tiny size.
* ``COURSE_NO_WIDGETS=1`` is set for headless executions: explorers draw their static row only.
* ``COURSE_DEVICE`` (e.g. ``cpu``) overrides the automatic device choice.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import random
import sys
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "Modes",
    "modes",
    "Runtime",
    "setup_lesson",
    "pick_device",
    "seed_everything",
    "in_colab",
    "env_flag",
    "stale_modules",
    "enable_colab_widgets",
]


def env_flag(name: str) -> bool:
    """True when the environment variable ``name`` is set to 1/true/yes."""
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Modes:
    """How the course's cells behave here, as the environment says (see the module docstring)."""

    grading: bool = False
    smoke: bool = False
    no_widgets: bool = False
    device: str = ""

    @property
    def quick(self) -> bool:
        """Grading or smoke: heavy experiments load their cache or run at a tiny size."""
        return self.grading or self.smoke

    @property
    def widgets(self) -> bool:
        """Whether a live kernel may show widgets (never while grading, testing or headless)."""
        return not (self.quick or self.no_widgets)


def modes() -> Modes:
    """The modes of this process, read from ``COURSE_GRADING``, ``COURSE_SMOKE``,
    ``COURSE_NO_WIDGETS`` and ``COURSE_DEVICE`` (the only place the package reads them)."""
    return Modes(
        grading=env_flag("COURSE_GRADING"),
        smoke=env_flag("COURSE_SMOKE"),
        no_widgets=env_flag("COURSE_NO_WIDGETS"),
        device=os.environ.get("COURSE_DEVICE", "").strip(),
    )


def in_colab() -> bool:
    """True inside a Google Colab runtime."""
    if "google.colab" in sys.modules:
        return True
    try:
        return importlib.util.find_spec("google.colab") is not None
    except ModuleNotFoundError:  # no "google" package at all
        return False


def pick_device(prefer: str | None = None) -> torch.device:
    """CUDA if available, else CPU; ``prefer`` or ``$COURSE_DEVICE`` overrides.

    Apple's MPS backend is used only when asked for explicitly: some float64 and
    GroupNorm paths the lessons rely on are not supported there.
    """
    choice = prefer or modes().device
    if choice:
        dev = torch.device(choice)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"device {choice!r} was requested but this machine has no CUDA GPU; "
                "unset COURSE_DEVICE or pick 'cpu' (in Colab: Runtime > Change runtime type > GPU)"
            )
        return dev
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (all devices)."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def stale_modules(names=("torch", "numpy", "matplotlib", "ipywidgets", "tqdm")) -> list[str]:
    """Packages whose imported version differs from the one now installed, as readable notes.

    A ``pip install`` in a running kernel (the setup cell on Colab) that upgrades a package the
    kernel had already imported leaves the old version in memory: only a restart loads the new
    one. Empty when nothing of ``names`` is stale.
    """
    from importlib.metadata import PackageNotFoundError, version

    stale = []
    for name in names:
        module = sys.modules.get(name)
        loaded = getattr(module, "__version__", None)
        if loaded is None:
            continue
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue
        if str(loaded).split("+")[0] != installed.split("+")[0]:
            stale.append(f"{name} {loaded} is loaded but {installed} is installed")
    return stale


def enable_colab_widgets() -> bool:
    """On Colab with ipywidgets 8, switch on Colab's custom widget manager; True if it did.

    Colab's built-in widget manager renders ipywidgets 7.x (what Colab ships); 8.x widgets
    need ``google.colab.output.enable_custom_widget_manager()`` (googlecolab/colabtools,
    ``google/colab/output/_widgets.py``). Nothing to do elsewhere or with 7.x.
    """
    if not in_colab():
        return False
    try:
        import ipywidgets
        from google.colab import output
    except ImportError:
        return False
    if int(str(ipywidgets.__version__).split(".")[0]) < 8:
        return False
    output.enable_custom_widget_manager()
    return True


@dataclass(frozen=True)
class Runtime:
    """Where a lesson runs. Read it; do not build one by hand (use :func:`setup_lesson`)."""

    lesson: str
    device: torch.device
    colab: bool
    gpu_name: str | None
    seed: int
    grading: bool
    smoke: bool

    @property
    def quick(self) -> bool:
        """Grading or smoke: pass it to the library functions that take ``quick=``."""
        return self.grading or self.smoke

    @property
    def on_gpu(self) -> bool:
        return self.device.type == "cuda"

    def describe(self, needs_gpu: str) -> str:
        where = "Google Colab" if self.colab else f"local Python {platform.python_version()}"
        dev = f"GPU ({self.gpu_name})" if self.on_gpu else "CPU"
        lines = [
            f"Lesson {self.lesson} | runtime: {where} | torch {torch.__version__} | device: {dev}",
            f"GPU for this lesson: {needs_gpu}",
        ]
        if self.grading:
            lines.append("Grading mode: heavy experiments load their cached results.")
        if self.smoke:
            lines.append("Smoke mode: experiments run at a tiny size (test-suite).")
        return "\n".join(lines)


_NEEDS_GPU = {
    "no": "not needed; everything runs on a CPU",
    "optional": "optional; a CPU runs a reduced profile and shows cached full-size results",
    "recommended": "recommended; a CPU runs a reduced profile and shows cached full-size results",
}


def setup_lesson(lesson: str, needs_gpu: str = "no", seed: int = 0, quiet: bool = False) -> Runtime:
    """Seed every RNG, pick the device, set the plot style and report what was found.

    Args:
        lesson: the lesson number as a string, e.g. ``"01"``.
        needs_gpu: ``"no"``, ``"optional"`` or ``"recommended"``.
        seed: the seed for Python, NumPy and torch.
        quiet: do not print the summary.
    """
    if needs_gpu not in _NEEDS_GPU:
        raise ValueError(f"needs_gpu must be one of {sorted(_NEEDS_GPU)}, got {needs_gpu!r}")
    seed_everything(seed)
    mode = modes()
    device = pick_device()
    gpu_name = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    rt = Runtime(
        lesson=lesson,
        device=device,
        colab=in_colab(),
        gpu_name=gpu_name,
        seed=seed,
        grading=mode.grading,
        smoke=mode.smoke,
    )
    from course_utils.plotting import use_course_style

    use_course_style()
    widget_manager = enable_colab_widgets()
    stale = stale_modules()
    if not quiet:
        print(rt.describe(_NEEDS_GPU[needs_gpu]))
        if needs_gpu == "recommended" and not rt.on_gpu and rt.colab:
            print("Tip: Runtime > Change runtime type > T4 GPU runs the full experiment in minutes.")
        if widget_manager:
            print("Colab: custom widget manager on (ipywidgets 8), so sliders and progress bars render.")
    if stale:
        print(
            "RESTART NEEDED: " + "; ".join(stale) + ". Restart the kernel "
            "(Colab: Runtime > Restart session), then run this cell again."
        )
    return rt
