"""Two properties of the sinusoidal embedding that lesson 01 shows numerically.

* **Shift = rotation.** For each frequency ``omega_i`` the pair
  ``(sin(t omega_i), cos(t omega_i))`` moved by ``k`` timesteps is the same pair turned
  by the angle ``k omega_i`` (the angle-addition formulas). So ``gamma(t + k) = R(k) gamma(t)``
  with ``R(k)`` a fixed block-rotation matrix that does not depend on ``t``: the
  "relative positions are a linear function" property of Vaswani et al., "Attention Is All
  You Need" (2017), section 3.5. :func:`shift_matrix` builds ``R(k)`` in the course's
  ``[sin..., cos...]`` layout.
* **Periods.** Hand ``i`` repeats every ``2 pi / omega_i`` timesteps; the slowest hand
  decides over how long a range the embedding can still say *roughly where* a timestep
  is. :func:`hand_periods` lists them.

Both follow the course convention of :func:`course_utils.components.sinusoidal.sinusoidal_embedding`
(``omega_i = 10000 ** (-i / half)``).
"""

from __future__ import annotations

import math

import torch

__all__ = ["frequencies", "shift_matrix", "hand_periods", "nearest_lookalike"]


def frequencies(d_emb: int, max_period: float = 10000.0) -> torch.Tensor:
    """``omega_i = max_period ** (-i / half)`` for ``i = 0..half-1``, float64 ``[half]``."""
    if isinstance(d_emb, bool) or not isinstance(d_emb, int) or d_emb < 2:
        raise ValueError(f"d_emb must be an int >= 2, got {d_emb!r}")
    half = d_emb // 2
    return torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float64) / half)  # (half,)


def shift_matrix(k: float, d_emb: int, max_period: float = 10000.0) -> torch.Tensor:
    """The float64 matrix ``R [d_emb, d_emb]`` with ``gamma(t + k) = R @ gamma(t)`` for every ``t``.

    In the ``[sin..., cos...]`` layout: ``sin' = cos(k w) sin + sin(k w) cos`` and
    ``cos' = -sin(k w) sin + cos(k w) cos``, one 2x2 rotation per frequency. An odd
    ``d_emb``'s zero column maps to zero.
    """
    w = frequencies(d_emb, max_period)
    half = w.shape[0]
    c, s = torch.cos(k * w), torch.sin(k * w)  # (half,) each
    r = torch.zeros(d_emb, d_emb, dtype=torch.float64)
    idx = torch.arange(half)
    r[idx, idx] = c  # sin row <- sin column
    r[idx, idx + half] = s  # sin row <- cos column
    r[idx + half, idx] = -s  # cos row <- sin column
    r[idx + half, idx + half] = c  # cos row <- cos column
    return r


def hand_periods(d_emb: int, max_period: float = 10000.0) -> torch.Tensor:
    """Period in timesteps of each hand, ``2 pi / omega_i``, float64 ``[half]`` (fastest first)."""
    return 2.0 * math.pi / frequencies(d_emb, max_period)


def nearest_lookalike(
    t0: float, d_emb: int, horizon: int, min_gap: int = 20, chunk: int = 50_000, max_period: float = 10000.0
) -> tuple[int, float]:
    """The integer timestep ``s`` in ``[0, horizon)`` with ``|s - t0| >= min_gap`` whose embedding is most
    similar (cosine) to ``gamma(t0)``; returns ``(s, similarity)``. Computed in float64, ``chunk`` rows at a time."""
    if horizon < 1 or min_gap < 1 or chunk < 1:
        raise ValueError(f"horizon, min_gap and chunk must be >= 1, got {horizon}, {min_gap}, {chunk}")
    w = frequencies(d_emb, max_period)  # (half,)

    def gamma(t: torch.Tensor) -> torch.Tensor:
        a = t[:, None] * w[None, :]  # (B, 1) * (1, half) -> (B, half)
        e = torch.cat([torch.sin(a), torch.cos(a)], dim=1)  # (B, 2 half)
        return e / e.norm(dim=1, keepdim=True)

    ref = gamma(torch.tensor([float(t0)], dtype=torch.float64))[0]  # (2 half,)
    best_s, best_c = -1, -math.inf
    for lo in range(0, horizon, chunk):
        s = torch.arange(lo, min(lo + chunk, horizon), dtype=torch.float64)  # (B,)
        c = gamma(s) @ ref  # (B,)
        c[(s - t0).abs() < min_gap] = -math.inf
        i = int(c.argmax())
        if float(c[i]) > best_c:
            best_s, best_c = int(s[i]), float(c[i])
    if best_s < 0:
        raise ValueError(f"no timestep in [0, {horizon}) is at least {min_gap} away from {t0}")
    return best_s, best_c
