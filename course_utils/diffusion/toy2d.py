"""Two-dimensional toy distributions for lesson 05, and the pictures drawn from them.

Three point clouds, generated in code from a seed (nothing is downloaded): two
interleaved half-circles ("two moons", the shape scikit-learn's ``make_moons``
popularised), a ring of eight small Gaussians (the standard 2-D benchmark of the
GAN literature, e.g. Metz et al., "Unrolled GANs", 2017) and a two-armed spiral.
Each is rescaled by fixed constants so that its spread is of order one, which is
the scale of the VP SDE's N(0, I) prior (Song et al., "Score-Based Generative
Modeling through Stochastic Differential Equations", ICLR 2021).

The drawing helpers at the bottom show the forward noising process, the
reverse-process snapshots and a learned score field; the sliders come from
:func:`course_utils.widgets.explore`, so they fall back to a static row of
pictures wherever no live kernel is attached.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

__all__ = [
    "TOY_DATASETS",
    "EIGHT_GAUSSIANS_STD",
    "two_moons",
    "eight_gaussians",
    "eight_gaussians_means",
    "spiral",
    "sample_toy",
    "scatter2d",
    "plot_noising",
    "plot_snapshots",
    "plot_score_field",
]


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int (number of points), got {n!r}")


def _generator(seed: int) -> torch.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return torch.Generator().manual_seed(seed)


def two_moons(n: int, seed: int = 0, noise: float = 0.08) -> torch.Tensor:
    """``n`` points on two interleaved half-circles with Gaussian jitter, float32 ``[n, 2]``."""
    _check_n(n)
    g = _generator(seed)
    angle = math.pi * torch.rand(n, generator=g)  # (n,)
    upper = torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)  # (n,) x2 -> (n, 2)
    lower = torch.stack([1.0 - torch.cos(angle), 0.5 - torch.sin(angle)], dim=1)  # (n, 2)
    # Exactly half on each moon, in random order (so that any slice x[:k] shows both).
    is_upper = (torch.randperm(n, generator=g) < (n + 1) // 2)[:, None]  # (n,) -> (n, 1)
    pts = torch.where(is_upper, upper, lower)
    pts = pts + noise * torch.randn(n, 2, generator=g)
    # Centre (0.5, 0.25) and stretch by 2 so the cloud spans roughly [-3, 3] x [-1.5, 1.5].
    return ((pts - torch.tensor([0.5, 0.25])) * 2.0).float()


EIGHT_GAUSSIANS_STD = 0.15  # width of each of the eight components


def eight_gaussians_means(radius: float = 2.0) -> torch.Tensor:
    """The 8 component means of :func:`eight_gaussians`, evenly spaced on a circle, ``[8, 2]``."""
    angle = torch.arange(8, dtype=torch.float32) * (2.0 * math.pi / 8.0)  # (8,)
    return radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)  # (8,) x2 -> (8, 2)


def eight_gaussians(n: int, seed: int = 0, radius: float = 2.0, std: float = EIGHT_GAUSSIANS_STD) -> torch.Tensor:
    """``n`` points from 8 equal-weight Gaussians on a circle of ``radius``, float32 ``[n, 2]``."""
    _check_n(n)
    g = _generator(seed)
    which = torch.randint(0, 8, (n,), generator=g)  # (n,)
    centres = eight_gaussians_means(radius)[which]  # (8, 2) indexed by (n,) -> (n, 2)
    return (centres + std * torch.randn(n, 2, generator=g)).float()


def spiral(n: int, seed: int = 0, noise: float = 0.05, turns: float = 1.5) -> torch.Tensor:
    """``n`` points on a two-armed spiral (radius grows with angle), float32 ``[n, 2]``."""
    _check_n(n)
    g = _generator(seed)
    s = torch.sqrt(torch.rand(n, generator=g))  # (n,), sqrt: uniform density along the arm
    angle = 2.0 * math.pi * turns * s
    arm = torch.randint(0, 2, (n,), generator=g).float() * math.pi  # second arm: rotated by pi
    r = 0.3 + 2.2 * s
    pts = r[:, None] * torch.stack([torch.cos(angle + arm), torch.sin(angle + arm)], dim=1)
    return (pts + noise * torch.randn(n, 2, generator=g)).float()


TOY_DATASETS: dict[str, Callable[..., torch.Tensor]] = {
    "two_moons": two_moons,
    "eight_gaussians": eight_gaussians,
    "spiral": spiral,
}


def sample_toy(name: str, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` points of the toy distribution ``name`` (a key of :data:`TOY_DATASETS`).

    The same ``(name, n, seed)`` always gives the same points; use different seeds
    for the training set and the held-out set.
    """
    if name not in TOY_DATASETS:
        raise ValueError(f"unknown toy dataset {name!r}; pick one of {sorted(TOY_DATASETS)}")
    return TOY_DATASETS[name](n, seed=seed)


# --------------------------------------------------------------------------- drawing


def _as_numpy_points(points) -> np.ndarray:
    arr = points.detach().cpu().numpy() if isinstance(points, torch.Tensor) else np.asarray(points)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"points must be [N, 2], got shape {arr.shape}")
    return arr


def scatter2d(ax, points, *, title: str = "", lim: float = 3.5, color: str = "C0", s: float = 2.0) -> None:
    """Scatter ``[N, 2]`` points (tensor or array) on ``ax`` with a square ``[-lim, lim]`` view."""
    arr = _as_numpy_points(points)
    ax.scatter(arr[:, 0], arr[:, 1], s=s, alpha=0.5, color=color, linewidths=0)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)


def plot_noising(
    x0: torch.Tensor,
    sde,
    times: Sequence[float] = (0.0, 0.1, 0.25, 0.5, 1.0),
    *,
    seed: int = 0,
    interactive: bool = True,
) -> None:
    """Show data ``x0`` pushed through the forward VP SDE to each of ``times``.

    ``sde`` is a :class:`course_utils.diffusion.vpsde.VPSDE`. The static row always appears;
    a slider over ``t`` is added when a widget frontend is live.
    """
    from course_utils.widgets import explore

    z = torch.randn(x0.shape, generator=_generator(seed))  # one noise draw, reused for every t

    def draw(ax, t: float) -> None:
        tt = torch.full((x0.shape[0],), float(t))  # () -> (N,)
        xt = sde.perturb(x0, tt, z)
        scatter2d(ax, xt, title=f"t = {t:.2f}, sigma = {float(sde.marginal_std(tt[:1])):.2f}")

    explore(
        draw,
        (0.0, 1.0),
        label="t",
        snapshots=list(times),
        slider_step=0.01,
        figsize=(2.6 * len(times), 2.8),
        interactive=interactive,
    )


def plot_snapshots(snapshots: Mapping[float, object], *, data=None, title: str = "", lim: float = 3.5):
    """A grid of reverse-process snapshots, one panel per recorded time (t = 1 first).

    ``snapshots`` maps a time to ``[N, 2]`` points, as recorded by the samplers of
    :mod:`course_utils.diffusion.vpsde`. ``data`` (optional) is drawn faintly behind every panel.
    Returns the figure.
    """
    import matplotlib.pyplot as plt

    if not snapshots:
        raise ValueError("snapshots is empty; record some with snapshot_times=...")
    keys = sorted(snapshots, reverse=True)
    cols = min(len(keys), 6)
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.5 * rows), squeeze=False)
    for ax in axes.ravel()[len(keys) :]:
        ax.axis("off")
    for ax, t in zip(axes.ravel(), keys):
        if data is not None:
            scatter2d(ax, data, color="0.8", lim=lim, s=1.0)
        scatter2d(ax, snapshots[t], title=f"t = {t:.3f}", lim=lim)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_score_field(
    score_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    times: Sequence[float] = (0.01, 0.1, 0.3, 1.0),
    *,
    data=None,
    lim: float = 3.0,
    grid: int = 17,
    interactive: bool = True,
) -> None:
    """Quiver plots of ``score_fn(x, t)`` on a ``grid x grid`` lattice at each of ``times``.

    ``score_fn`` takes ``x [M, 2]`` and ``t [M]`` and returns ``[M, 2]`` (a trained
    score network works as is). Every arrow has the same length and shows only the
    direction; the colour is ``log10 |s|``, because the score's size spans orders of
    magnitude (it grows like ``1 / sigma(t)`` near the data as t -> 0).
    """
    from course_utils.widgets import explore

    if grid < 2:
        raise ValueError(f"grid must be >= 2 points per side, got {grid}")
    axis = torch.linspace(-lim, lim, grid)
    gx, gy = torch.meshgrid(axis, axis, indexing="xy")  # 2 x (grid, grid)
    xs = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)  # (grid*grid,) x2 -> (grid*grid, 2)

    def draw(ax, t: float) -> None:
        with torch.no_grad():
            s = score_fn(xs, torch.full((xs.shape[0],), float(t))).detach().cpu()  # (M, 2)
        mag = s.norm(dim=1)  # (M,)
        u = s / mag.clamp_min(1e-12)[:, None]  # unit directions, (M, 2) / (M, 1)
        if data is not None:
            scatter2d(ax, data, color="0.8", lim=lim, s=1.0)
        ax.quiver(
            xs[:, 0].numpy(),
            xs[:, 1].numpy(),
            u[:, 0].numpy(),
            u[:, 1].numpy(),
            torch.log10(mag.clamp_min(1e-12)).numpy(),
            cmap="viridis",
            angles="xy",
            scale_units="xy",
            scale=grid / (1.5 * lim),
            width=0.006,
        )
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_title(f"score at t = {t:.2f}\n|s| from {float(mag.min()):.2g} to {float(mag.max()):.2g}")

    explore(
        draw,
        (0.0, 1.0),
        label="t",
        snapshots=list(times),
        slider_step=0.01,
        figsize=(3.0 * len(times), 3.2),
        interactive=interactive,
    )
