"""One rule for turning a user's ``t`` into a batch of times: :func:`as_times`.

Every network and sampler of the course takes a time ``t`` per example, and learners pass
it in many forms: ``0.5``, ``torch.tensor(0.5)``, ``torch.full((B,), 0.5)``,
``torch.randint(0, 1000, (B,))``. The course uses two time scales (see lesson 01 and
Song et al., "Score-Based Generative Modeling through Stochastic Differential Equations",
ICLR 2021, for the continuous one):

* ``kind="discrete"``: DDPM step indices ``0..T-1`` (Ho et al., 2020), the input of the
  sinusoidal embedding and the MNIST U-Nets. Any real dtype is accepted, integer or float;
  a fractional value is kept, never rounded (the embedding is defined for every real t).
* ``kind="continuous"``: SDE times in ``[0, 1]`` (the 2-D score networks, the VP SDE).
  The tensor must be floating point: an integer tensor is almost always a step index ``k``,
  whose time is ``k / T``, and the error says so. With ``check_range`` the values must lie
  in ``[0, 1]``.

Shared rules: a Python number (not a bool) or a 0-d tensor is one time; otherwise ``t``
must be 1-D ``[B]``; complex and bool tensors are refused. With ``batch`` given, one time
is repeated to ``[batch]`` and ``B`` entries must equal ``batch``. The result is on
``device`` (default: ``t``'s own) in ``dtype`` (default float32; ``None`` keeps a floating
``t``'s dtype). Messages name the argument (``name``) and say what to fix.
"""

from __future__ import annotations

from numbers import Real
from typing import Literal

import torch

__all__ = ["as_times", "KINDS"]

KINDS = ("discrete", "continuous")
_WHAT = {
    "discrete": "timesteps (step indices 0..T-1, any real dtype)",
    "continuous": "continuous times in [0, 1] (a float tensor)",
}


def as_times(
    t: torch.Tensor | float | int,
    *,
    kind: Literal["discrete", "continuous"],
    batch: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = torch.float32,
    name: str = "t",
    check_range: bool = True,
) -> torch.Tensor:
    """``t`` as a 1-D tensor of times ``[B]`` (``[batch]`` when ``batch`` is given).

    Args:
        t: a Python number, a 0-d tensor or a 1-d tensor ``[B]``.
        kind: ``"discrete"`` (step indices, any real value) or ``"continuous"`` (float times in [0, 1]).
        batch: the batch size the times must match; one time is repeated to it.
        device: where the result lives (default: ``t``'s device, the CPU for a number).
        dtype: the result's dtype; ``None`` keeps a floating ``t``'s dtype (float32 otherwise).
        name: the argument's name in error messages.
        check_range: for continuous times, refuse values outside [0, 1].

    Raises:
        TypeError: ``t`` is not a number or a real tensor, or continuous times are integers.
        ValueError: ``t`` is not 0-d or 1-d, its length is not ``batch``, or a continuous
            time lies outside [0, 1].
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    if isinstance(t, Real) and not isinstance(t, bool):
        t = torch.tensor([float(t)], dtype=dtype or torch.float32, device=device)
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a number or a torch.Tensor of {_WHAT[kind]}, got {type(t).__name__}")
    if t.dim() == 0:
        t = t.reshape(1)  # () -> (1,)
    if t.dim() != 1:
        raise ValueError(f"{name} must be 1-D [batch], got shape {tuple(t.shape)}")
    if t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"{name} must be real-valued {_WHAT[kind]}, got dtype {t.dtype}")
    if kind == "continuous" and not t.is_floating_point():
        raise TypeError(
            f"{name} must be a float tensor of continuous times in [0, 1], got dtype {t.dtype}; "
            "an integer step index k corresponds to t = k / T"
        )
    if batch is not None and t.shape[0] != batch:
        if t.shape[0] != 1:
            raise ValueError(
                f"{name} has {t.shape[0]} entries but x has batch size {batch}; "
                "give one time per example, or a single time for all"
            )
        t = t.expand(batch)  # (1,) -> (batch,)
    if kind == "continuous" and check_range and t.numel() and bool(((t < 0) | (t > 1)).any()):
        raise ValueError(f"{name} must lie in [0, 1] (continuous time), got values in [{t.min():.4g}, {t.max():.4g}]")
    out_dtype = dtype if dtype is not None else (t.dtype if t.is_floating_point() else torch.float32)
    return t.to(device=device if device is not None else t.device, dtype=out_dtype)
