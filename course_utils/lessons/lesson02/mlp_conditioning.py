"""Lesson 02's measured comparison: how t enters a small score network, and what that changes.

The networks are the reference note's 2-D score MLP and its two rivals, from
:mod:`course_utils.components.score2d` (concatenate the time embedding to the input, add a
projected embedding after each hidden layer, FiLM after each hidden layer). This
module trains each one for a few steps of denoising score matching on the
eight-Gaussians toy data (:mod:`course_utils.diffusion.toy2d`, :mod:`course_utils.diffusion.vpsde`)
and measures, before and after, how much its output changes between two times
(:func:`course_utils.components.time_checks.output_change_with_t`). Lesson 05 trains the same
networks to convergence and compares their samples; this is the quick look.

Everything runs on the CPU, on one thread (:mod:`course_utils.cpu_threads`), in a
few seconds, and is seeded: the same call gives the same numbers on the same
machine. Under ``COURSE_GRADING=1`` or ``COURSE_SMOKE=1`` (the autograder and the
test-suite) :func:`compare_mlp_conditioning` trains for at most
:data:`QUICK_STEPS` steps and says so: the autograder does not grade these numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import torch
from torch import nn

from course_utils.cpu_threads import limit_threads
from course_utils.runtime import modes
from course_utils.components.time_checks import TimeChange, output_change_with_t
from course_utils.diffusion.timesteps import as_times
from course_utils.diffusion.toy2d import eight_gaussians, eight_gaussians_means
from course_utils.diffusion.vpsde import VPSDE, dsm_loss, gaussian_mixture_score

__all__ = [
    "ComparisonRow",
    "probe_points",
    "true_score_change",
    "train_dsm",
    "held_out_loss",
    "compare_mlp_conditioning",
    "format_comparison",
    "QUICK_STEPS",
]

QUICK_STEPS = 20  # training steps under COURSE_GRADING / COURSE_SMOKE
_STD = 0.15  # the eight Gaussians' standard deviation (toy2d's default)


def probe_points(n: int = 512, seed: int = 1) -> torch.Tensor:
    """Fixed standard-normal points ``[n, 2]`` at which outputs are compared."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))


def true_score_change(t_a: float = 0.1, t_b: float = 0.9, n: int = 512) -> TimeChange:
    """The same measurement on the exact score of the noised eight-Gaussians data.

    This is what a perfect network would output, so it says how much a trained
    network's output *should* change between ``t_a`` and ``t_b``.
    """
    x = probe_points(n)
    sde = VPSDE()
    means = eight_gaussians_means()

    def exact(x_, t_):
        return gaussian_mixture_score(x_, t_, sde, means, _STD)

    ta, tb = (as_times(v, kind="continuous", batch=n) for v in (t_a, t_b))
    return output_change_with_t(exact, x, ta, tb)


def train_dsm(
    model: nn.Module, steps: int, *, batch: int = 256, lr: float = 2e-3, seed: int = 0, n_data: int = 4096
) -> list[float]:
    """Train ``model(x [B, 2], t [B]) -> score [B, 2]`` for ``steps`` Adam steps; return the losses.

    Denoising score matching on the VP SDE (:func:`course_utils.diffusion.vpsde.dsm_loss`),
    batches drawn with a generator seeded by ``seed``.
    """
    if steps < 0 or batch < 1:
        raise ValueError(f"need steps >= 0 and batch >= 1, got {steps}, {batch}")
    data = eight_gaussians(n_data, seed=seed)
    sde = VPSDE()
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    model.train()
    with limit_threads(1):
        for _ in range(steps):
            idx = torch.randint(0, n_data, (batch,), generator=gen)  # (batch,)
            loss = dsm_loss(model, data[idx], sde, generator=gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses


def held_out_loss(model: nn.Module, n: int = 2048, repeats: int = 4, seed: int = 123) -> float:
    """The DSM loss on held-out points with fixed times and noise (lower is better)."""
    data = eight_gaussians(n, seed=seed)
    sde = VPSDE()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return sum(dsm_loss(model, data, sde, generator=gen).item() for _ in range(repeats)) / repeats


@dataclass(frozen=True)
class ComparisonRow:
    """One network of the comparison."""

    name: str
    params: int
    change_at_init: TimeChange
    change_trained: TimeChange
    loss_trained: float
    losses: tuple[float, ...]  # the training loss of every step
    model: nn.Module = field(repr=False, compare=False)  # the trained network (in eval mode)


def compare_mlp_conditioning(
    builders: Mapping[str, Callable[[], nn.Module]],
    *,
    steps: int = 300,
    seed: int = 0,
    t_a: float = 0.1,
    t_b: float = 0.9,
    quick: bool | None = None,
) -> list[ComparisonRow]:
    """Build (after ``torch.manual_seed(seed)``), measure, train ``steps`` steps, measure again.

    Args:
        builders: name -> a function returning a fresh network ``model(x, t)``.
        steps: training steps per network (300 take one or two seconds per network on a CPU).
        seed: seeds the initial weights and the training batches, the same for each network.
        t_a, t_b: the two continuous times of the "does the output change with t?" check.
        quick: train at most ``QUICK_STEPS`` steps (default: :func:`course_utils.runtime.modes`,
            i.e. ``COURSE_GRADING=1`` or ``COURSE_SMOKE=1``; pass ``RUN.quick`` from the setup cell).
    """
    if modes().quick if quick is None else quick:
        if steps > QUICK_STEPS:
            print(
                f"(grading/smoke mode: training {QUICK_STEPS} steps instead of {steps}; "
                "these numbers are not the lesson's)"
            )
        steps = min(steps, QUICK_STEPS)
    x = probe_points()
    ta, tb = (as_times(v, kind="continuous", batch=x.shape[0]) for v in (t_a, t_b))
    rows = []
    for name, build in builders.items():
        torch.manual_seed(seed)
        model = build()
        params = sum(p.numel() for p in model.parameters())
        before = output_change_with_t(model, x, ta, tb)
        losses = train_dsm(model, steps, seed=seed)
        model.eval()
        after = output_change_with_t(model, x, ta, tb)
        rows.append(ComparisonRow(name, params, before, after, held_out_loss(model), tuple(losses), model))
    return rows


def format_comparison(rows: list[ComparisonRow], truth: TimeChange | None = None, steps: int | None = None) -> str:
    """A plain-text table of :func:`compare_mlp_conditioning`'s rows."""
    after = f"after {steps} steps" if steps is not None else "after training"
    w = max(len(after), 12)
    head = (
        f"{'network':<30} {'params':>7} | {'relative change with t':^{10 + w}} | {'held-out':>8}\n"
        f"{'':<30} {'':>7} | {'at init':>9} {after:>{w}} | {'loss':>8}"
    )
    lines = [head, "-" * len(head.splitlines()[0])]
    for r in rows:
        lines.append(
            f"{r.name:<30} {r.params:>7,} | {r.change_at_init.relative:>9.3f} "
            f"{r.change_trained.relative:>{w}.3f} | {r.loss_trained:>8.3f}"
        )
    if truth is not None:
        lines.append(f"{'exact score (the target)':<30} {'':>7} | {'':>9} {truth.relative:>{w}.3f} |")
    return "\n".join(lines)
