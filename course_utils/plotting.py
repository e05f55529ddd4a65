"""Plot style and the small plotting helpers several lessons share.

Matplotlib only. Heatmaps follow the original notebook's layout (rows = timesteps,
columns = embedding dimensions) with a diverging colour map centred on zero.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib
import numpy as np

__all__ = ["use_course_style", "heatmap", "similarity_matrix_plot", "loss_curves_with_band"]


def use_course_style() -> None:
    """A light, readable default style for every lesson's figures."""
    matplotlib.rcParams.update(
        {
            "figure.figsize": (10, 4),
            "figure.dpi": 90,
            "axes.grid": False,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.size": 10,
            "image.cmap": "RdBu_r",
        }
    )


def heatmap(
    ax,
    values,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    yticks: Sequence | None = None,
    vmin: float = -1.0,
    vmax: float = 1.0,
    extent=None,
):
    """Draw a 2-D array as a heatmap on ``ax`` and return the image (for a colour bar)."""
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"heatmap needs a 2-D array, got shape {values.shape}")
    im = ax.imshow(values, aspect="auto", cmap="RdBu_r", vmin=vmin, vmax=vmax, interpolation="nearest", extent=extent)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if yticks is not None:
        ax.set_yticks(range(len(yticks)))
        ax.set_yticklabels([str(v) for v in yticks])
    return im


def similarity_matrix_plot(axes, matrices: Sequence, titles: Sequence[str], extent=None):
    """Side-by-side cosine-similarity matrices with one shared colour scale in [-1, 1]."""
    if len(axes) != len(matrices) or len(matrices) != len(titles):
        raise ValueError("axes, matrices and titles must have the same length")
    im = None
    for ax, m, title in zip(axes, matrices, titles):
        im = heatmap(ax, m, title=title, xlabel="timestep", ylabel="timestep", extent=extent)
    return im


def loss_curves_with_band(ax, x, runs: dict, *, ylabel: str = "loss", colors: dict | None = None):
    """Plot the mean of several runs per label with a min-max band.

    ``runs`` maps a label to an array ``[n_seeds, n_points]``.
    """
    x = np.asarray(x)
    for label, arr in runs.items():
        arr = np.asarray(arr, dtype=float)
        if arr.ndim != 2 or arr.shape[1] != len(x):
            raise ValueError(f"runs[{label!r}] must be [n_seeds, {len(x)}], got {arr.shape}")
        color = (colors or {}).get(label)
        mean = arr.mean(axis=0)
        (line,) = ax.plot(x, mean, label=f"{label} (mean of {arr.shape[0]})", color=color)
        ax.fill_between(x, arr.min(axis=0), arr.max(axis=0), alpha=0.25, color=line.get_color())
    ax.set_ylabel(ylabel)
    ax.legend()
