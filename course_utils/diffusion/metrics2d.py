"""Distances between two sets of points, used to score generated 2-D samples.

Two sample-based distances, both zero when the sets come from the same
distribution (up to sampling noise) and growing as they differ:

* the sliced Wasserstein distance (Rabin et al., "Wasserstein Barycenter and Its
  Application to Texture Mixing", SSVM 2011; Bonneel et al., 2015): project both
  sets on many directions and average the 1-D optimal-transport cost, which is a
  sort. It is in the data's own units, which makes it easy to read.
* the maximum mean discrepancy with a sum of RBF kernels (Gretton et al., "A Kernel
  Two-Sample Test", JMLR 2012), unbiased estimate of MMD^2 (it can dip slightly
  below 0 for matching sets).

Neither number means much alone: compare it with the same distance between two
independent draws of the real data (the "noise floor" the experiment reports).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

__all__ = ["sliced_wasserstein", "mmd_rbf"]


def _as_points(a, name: str) -> torch.Tensor:
    t = a.detach() if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a))
    if t.dim() != 2 or t.shape[0] < 2:
        raise ValueError(f"{name} must be [N, D] with N >= 2 points, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf; a diverged sampler cannot be scored")
    return t.to(device="cpu", dtype=torch.float64)


def _pair(x, y) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _as_points(x, "x"), _as_points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same dimension, got {x.shape[1]} and {y.shape[1]}")
    return x, y


def _directions(dim: int, n: int, seed: int) -> torch.Tensor:
    """``n`` unit vectors ``[n, dim]``: evenly spaced half-circle angles in 2-D, random otherwise."""
    if dim == 2:
        angle = torch.arange(n, dtype=torch.float64) * (math.pi / n)  # (n,)
        return torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)  # (n,) x2 -> (n, 2)
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(n, dim, generator=g, dtype=torch.float64)
    return v / v.norm(dim=1, keepdim=True)  # (n, dim) / (n, 1)


def sliced_wasserstein(x, y, n_projections: int = 256, p: int = 1, seed: int = 0) -> float:
    """Sliced Wasserstein-p distance between point sets ``x [N, D]`` and ``y [M, D]``.

    ``(mean over directions of W_p^p of the projected sets)^(1/p)``. Sets of different
    sizes are compared through 1000 matched quantiles.
    """
    x, y = _pair(x, y)
    if n_projections < 1 or p < 1:
        raise ValueError(f"need n_projections >= 1 and p >= 1, got {n_projections}, {p}")
    dirs = _directions(x.shape[1], n_projections, seed)  # (P, D)
    px = (x @ dirs.T).sort(dim=0).values  # (N, D) @ (D, P) -> (N, P)
    py = (y @ dirs.T).sort(dim=0).values  # (M, P)
    if px.shape[0] != py.shape[0]:
        q = (torch.arange(1000, dtype=torch.float64) + 0.5) / 1000  # (1000,)
        px, py = torch.quantile(px, q, dim=0), torch.quantile(py, q, dim=0)  # (1000, P) each
    cost = (px - py).abs().pow(p).mean(dim=0)  # (P,)
    return float(cost.mean() ** (1.0 / p))


def mmd_rbf(x, y, bandwidths: Sequence[float] = (0.1, 0.2, 0.5, 1.0, 2.0)) -> float:
    """Unbiased MMD^2 between ``x [N, D]`` and ``y [M, D]`` with a sum of RBF kernels.

    ``k(a, b) = sum_h exp(-|a - b|^2 / (2 h^2))`` over the ``bandwidths`` h, chosen to
    span the scales of the toy data (component width 0.15 up to the spread of ~2).
    """
    x, y = _pair(x, y)
    if not bandwidths or any(not h > 0 for h in bandwidths):
        raise ValueError(f"bandwidths must be positive numbers, got {list(bandwidths)}")

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        d2 = torch.cdist(a, b).pow(2)  # (len(a), len(b))
        return sum(torch.exp(-d2 / (2.0 * h * h)) for h in bandwidths)

    n, m = x.shape[0], y.shape[0]
    kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
    # Leave out the diagonals (a point compared with itself) for the unbiased estimate.
    term_x = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    term_y = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return float(term_x + term_y - 2.0 * kxy.mean())
