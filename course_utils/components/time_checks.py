"""The "does the output change with t?" check, measured instead of eyeballed.

A time-conditioned network that silently ignores ``t`` still trains (it learns the
average denoiser over all noise levels) and its loss looks plausible, so the bug
is easy to miss. The reference note's check runs the model twice on the same
input with two different times and prints the mean absolute difference. This
module does that, and also reports the difference *relative to the size of the
output*, because an absolute threshold such as "> 0.1" means nothing without
knowing the output's scale.

Two facts to keep in mind when reading the number:

* a FiLM layer with the identity initialisation (weight 0, bias ``[1..., 0...]``)
  makes the output exactly independent of ``t`` *at initialisation*: a 0 there is
  expected, not a bug. Run the check again after a few training steps;
* a 0 (to rounding) after training means that ``t`` never reaches the output: an
  embedding that is computed but not used, a detached branch, a constant ``t``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

__all__ = ["TimeChange", "output_change_with_t", "VarianceSplit", "variance_split"]


@dataclass(frozen=True)
class TimeChange:
    """How much a model's output moves when only its time input changes."""

    mean_abs_diff: float  # mean |f(x, t_a) - f(x, t_b)| over every output number
    mean_abs_output: float  # mean of |f(x, t_a)| and |f(x, t_b)|: the output's scale
    relative: float  # mean_abs_diff / mean_abs_output (0 when the output is all zeros)

    def __str__(self) -> str:
        return (
            f"mean |out(t_a) - out(t_b)| = {self.mean_abs_diff:.4g}  "
            f"(output scale {self.mean_abs_output:.4g}, relative {self.relative:.3g})"
        )


def output_change_with_t(model: Callable[..., torch.Tensor], x: torch.Tensor, t_a: Any, t_b: Any) -> TimeChange:
    """Run ``model(x, t_a)`` and ``model(x, t_b)`` without gradients and compare the outputs.

    Args:
        model: any callable ``model(x, t)`` returning a tensor; ``t`` is passed through
            unchanged, so it may be timesteps, continuous times or embeddings.
        x: the input, the same for both calls.
        t_a, t_b: the two time inputs (each a tensor or number the model accepts).

    Returns:
        a :class:`TimeChange`. ``relative`` near 0 means the output ignores ``t``.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    with torch.no_grad():
        out_a = model(x, t_a)
        out_b = model(x, t_b)
    if not isinstance(out_a, torch.Tensor) or not isinstance(out_b, torch.Tensor):
        raise TypeError("model must return a torch.Tensor")
    if out_a.shape != out_b.shape:
        raise ValueError(f"the two outputs differ in shape: {tuple(out_a.shape)} vs {tuple(out_b.shape)}")
    out_a, out_b = out_a.double(), out_b.double()
    diff = (out_a - out_b).abs().mean().item()
    scale = 0.5 * (out_a.abs().mean().item() + out_b.abs().mean().item())
    return TimeChange(diff, scale, diff / scale if scale > 0 else 0.0)


@dataclass(frozen=True)
class VarianceSplit:
    """Where the variation of a model's output over a grid of inputs ``x`` and times ``t`` comes from."""

    x_share: float  # variance of the output averaged over t, as a share of the total: the part due to x alone
    t_share: float  # variance of the output averaged over x, as a share of the total: the part due to t alone
    total_variance: float  # the output's variance over the whole grid (summed over output dims)

    @property
    def interaction_share(self) -> float:
        """What neither part explains: x and t acting together."""
        return max(0.0, 1.0 - self.x_share - self.t_share)

    def __str__(self) -> str:
        return (
            f"from x alone {100 * self.x_share:5.1f}%, from t alone {100 * self.t_share:5.1f}%, "
            f"together {100 * self.interaction_share:5.1f}%  (total variance {self.total_variance:.3g})"
        )


def variance_split(model: Callable[..., torch.Tensor], x: torch.Tensor, times: Sequence[Any]) -> VarianceSplit:
    """Run ``model(x, t)`` for every ``t`` in ``times`` and split the output's variance (two-way ANOVA).

    With ``out[t, n]`` the output for time ``t`` and input ``x[n]``, the part "from
    x alone" is the variance over ``n`` of the mean over ``t``, and the part "from t
    alone" the variance over ``t`` of the mean over ``n``. A network that ignores
    ``t`` has ``t_share == 0``; one whose output is a function of ``t`` only has
    ``x_share == 0``.
    """
    if len(times) < 2:
        raise ValueError("need at least two times")
    with torch.no_grad():
        outs = [model(x, t) for t in times]
    if any(not isinstance(o, torch.Tensor) or o.shape != outs[0].shape for o in outs):
        raise ValueError("model must return tensors of the same shape for every t")
    out = torch.stack(outs).double().flatten(2)  # (T, N, ...) -> (T, N, D)
    total = out.var(dim=(0, 1), unbiased=False).sum().item()
    if total == 0.0:
        return VarianceSplit(0.0, 0.0, 0.0)
    x_part = out.mean(dim=0).var(dim=0, unbiased=False).sum().item()  # (N, D): averaged over t
    t_part = out.mean(dim=1).var(dim=0, unbiased=False).sum().item()  # (T, D): averaged over x
    return VarianceSplit(x_part / total, t_part / total, total)
