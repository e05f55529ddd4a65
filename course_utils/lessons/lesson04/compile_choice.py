"""Compile or not: which way a CUDA training run of lesson 04 is predicted to finish first.

``torch.compile`` makes each step of these small U-Nets faster only once the whole step is
replayed as a CUDA graph, and it costs a compilation per network before the first step. For
lesson 04's run (4,680 steps per network) the compilation costs more than it saves, for a long
run it pays. :func:`choose_compile` decides for the run at hand: it takes the eager step time
*measured now* by the warm-up, the number of steps and networks of this run, and the cost and
speed-up of compiling measured on an H100 (``bench/RESULTS.md``, sections 1 and 2), and says
which finishes first, with the arithmetic in words so the notebook can print it.

The measurements (one H100 80GB, torch 2.11, bf16, channels-last):

* whole-step CUDA graph: 2.78 ms/step eager, 2.06 ms/step compiled (section 1's table), so a
  compiled graphed step takes 0.74 of the eager one; without a graph compiling is slower
  (bf16: 8.08 ms eager, 9.83 ms compiled), so it never pays there;
* compile time: the first seed of the three-seed ``gpu_shipped`` run took at most 63.6 s, of
  which 19.5 s was training, for two networks: about 22 s per network (imports, data loading
  and graph capture included, so this errs towards compiling).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GRAPHED_COMPILED_RATIO", "COMPILE_SECONDS_PER_NETWORK", "CompileChoice", "choose_compile"]

GRAPHED_COMPILED_RATIO = 2.06 / 2.78  # compiled / eager seconds per step, whole-step CUDA graph (H100)
UNGRAPHED_COMPILED_RATIO = 9.83 / 8.08  # compiled / eager without a graph (bf16, H100): slower
COMPILE_SECONDS_PER_NETWORK = 22.0  # (63.6 s - 19.5 s of training) / 2 networks (H100)


@dataclass(frozen=True)
class CompileChoice:
    """The decision and the numbers behind it (seconds for the whole run)."""

    compile: bool
    eager_seconds: float
    compiled_seconds: float
    reason: str


def choose_compile(
    eager_step_seconds: float, steps: int, networks: int, runs_per_network: int, graphed: bool
) -> CompileChoice:
    """Compile only when the run is predicted to finish sooner that way, compile time included.

    Args:
        eager_step_seconds: one eager training step, measured by the warm-up on this machine.
        steps: training steps of one run (``profile.total_steps``).
        networks: distinct networks to compile (each compiles once; later seeds reuse it).
        runs_per_network: runs of each network (seeds).
        graphed: whether the step is replayed as a whole-step CUDA graph.
    """
    if not (eager_step_seconds > 0 and eager_step_seconds != float("inf")):
        raise ValueError(f"eager_step_seconds must be a positive number from the warm-up, got {eager_step_seconds!r}")
    for name, value in (("steps", steps), ("networks", networks), ("runs_per_network", runs_per_network)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    step_count = steps * networks * runs_per_network
    eager = eager_step_seconds * step_count
    ratio = GRAPHED_COMPILED_RATIO if graphed else UNGRAPHED_COMPILED_RATIO
    compiled = COMPILE_SECONDS_PER_NETWORK * networks + ratio * eager
    winner = compiled < eager
    reason = (
        f"{step_count:,} steps x {eager_step_seconds * 1e3:.2f} ms (measured now, eager"
        f"{', CUDA graph' if graphed else ''}) = {eager:.0f} s eager; compiling: about "
        f"{COMPILE_SECONDS_PER_NETWORK:.0f} s per network x {networks} + {ratio:.2f} x {eager:.0f} s "
        f"= {compiled:.0f} s "
        "(compile time and speed-up measured on an H100, bench/RESULTS.md)"
    )
    return CompileChoice(winner, eager, compiled, reason)
