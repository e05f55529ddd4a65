"""Lesson 04's held-out evaluation: a fixed split of the digits and the loss by timestep on it.

The training loss of DDPM (Ho, Jain and Abbeel, 2020, Algorithm 1) draws a fresh t and a
fresh noise for every digit, so two networks' training losses are never measured on the
same inputs, and they are measured on digits the networks train on. Here:

* :func:`train_and_heldout` fixes which digits are held out. Offline (the 10,000 digits
  of the MNIST test split shipped in ``data/mnist-t10k``) a fixed permutation
  (seed :data:`SPLIT_SEED`) holds out 1,000 digits and trains on the other 9,000; online
  (torchvision's 60,000 training digits) the network trains on all 60,000 and the *same*
  1,000 test digits are held out, so both settings score the same held-out digits.
* :func:`heldout_triples` fixes what each network is scored on: ``n_digits`` held-out
  digits at every timestep of a fixed grid (:data:`T_GRID`), each (digit, t) pair with its
  own noise drawn once from a fixed seed, so every arm and seed sees the very same
  (digit, t, noise) triples and their losses can be compared pair by pair.
* :func:`heldout_loss_by_t` is DDPM's simple loss (MSE between the noise and the
  prediction, eval mode) on those triples, averaged over digits at each t.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from course_utils.diffusion.ddpm import DDPMSchedule, q_sample
from course_utils.lessons.lesson04.mnist import MnistSplit, load_shipped_split, to_model_range

__all__ = [
    "SPLIT_SEED",
    "N_HELDOUT",
    "T_GRID",
    "split_digits",
    "train_and_heldout",
    "HeldoutTriples",
    "heldout_triples",
    "heldout_loss_by_t",
]

SPLIT_SEED = 2024  # the permutation that picks the held-out digits (never change: results depend on it)
N_HELDOUT = 1_000
# Denser where the loss changes fastest (small t: the network must find faint noise).
T_GRID: tuple[int, ...] = (0, 5, 10, 25, 50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 999)


def _check_split(data: MnistSplit, what: str = "data") -> None:
    if not isinstance(data, MnistSplit):
        raise TypeError(
            f"{what} must be an MnistSplit (course_utils.lessons.lesson04.mnist.load_mnist), got {type(data).__name__}"
        )


def split_digits(data: MnistSplit, n_heldout: int = N_HELDOUT, seed: int = SPLIT_SEED) -> tuple[MnistSplit, MnistSplit]:
    """``(train, heldout)``: a fixed permutation of ``data`` (seed ``seed``) holds out ``n_heldout`` digits.

    Both parts keep the original order of the digits they contain; together they hold every
    digit once. The same ``data``, ``n_heldout`` and ``seed`` always give the same split.
    """
    _check_split(data)
    if not isinstance(n_heldout, int) or not 1 <= n_heldout < len(data):
        raise ValueError(
            f"n_heldout must be an int between 1 and {len(data) - 1} (the digits "
            f"available minus one), got {n_heldout!r}"
        )
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    held = perm[:n_heldout].sort().values.to(data.images.device)
    keep = perm[n_heldout:].sort().values.to(data.images.device)
    return (
        MnistSplit(
            data.images[keep], data.labels[keep], f"{data.source}, minus {n_heldout:,} held out (split seed {seed})"
        ),
        MnistSplit(
            data.images[held],
            data.labels[held],
            f"{n_heldout:,} digits held out of the {data.source} (split seed {seed})",
        ),
    )


def train_and_heldout(data: MnistSplit, n_heldout: int = N_HELDOUT) -> tuple[MnistSplit, MnistSplit]:
    """The digits to train on and the digits held out, for the split ``data`` that was loaded.

    10,000 digits (the shipped test split): :func:`split_digits` (9,000 / 1,000). 60,000
    digits (torchvision's training split): train on all of them and hold out the same
    1,000 test digits as offline (the shipped test split, split by the same permutation).
    """
    _check_split(data)
    if len(data) == 10_000:
        return split_digits(data, n_heldout)
    if len(data) == 60_000:
        _, heldout = split_digits(load_shipped_split(device=data.images.device), n_heldout)
        return data, heldout
    raise ValueError(
        f"expected the 10,000-digit test split or the 60,000-digit training split "
        f"(course_utils.lessons.lesson04.mnist.load_mnist), got {len(data):,} digits; use "
        "split_digits for other data"
    )


@dataclass(frozen=True)
class HeldoutTriples:
    """The fixed (digit, t, noise) triples: ``images`` uint8 ``[N, 28, 28]``, ``t_grid`` ``[K]``,
    ``noise`` float32 ``[K, N, 1, 28, 28]`` (the noise of digit n at t_grid[k])."""

    images: torch.Tensor
    t_grid: tuple[int, ...]
    noise: torch.Tensor
    seed: int

    def describe(self) -> str:
        return (
            f"{self.images.shape[0]:,} held-out digits x {len(self.t_grid)} timesteps "
            f"(t = {', '.join(map(str, self.t_grid))}), noise seed {self.seed}"
        )


def heldout_triples(
    heldout: MnistSplit, n_digits: int = 256, t_grid: tuple[int, ...] = T_GRID, seed: int = 0, num_timesteps: int = 1000
) -> HeldoutTriples:
    """The first ``n_digits`` held-out digits at every t of ``t_grid``, with noise drawn from ``seed``.

    The noise is drawn on the CPU from its own generator, so it is the same on any device
    and untouched by the global RNG.
    """
    _check_split(heldout, "heldout")
    if not isinstance(n_digits, int) or not 1 <= n_digits <= len(heldout):
        raise ValueError(
            f"n_digits must be an int between 1 and {len(heldout)} (the held-out digits), got {n_digits!r}"
        )
    grid = tuple(int(t) for t in t_grid)
    if not grid or any(not 0 <= t < num_timesteps for t in grid) or len(set(grid)) != len(grid):
        raise ValueError(f"t_grid must be distinct timesteps in 0..{num_timesteps - 1}, got {t_grid!r}")
    noise = torch.randn(len(grid), n_digits, 1, 28, 28, generator=torch.Generator().manual_seed(seed))
    return HeldoutTriples(heldout.images[:n_digits].cpu(), grid, noise, seed)


def heldout_loss_by_t(
    model: nn.Module, triples: HeldoutTriples, schedule: DDPMSchedule, batch_size: int = 256
) -> dict[str, list]:
    """``{"t": [...], "loss": [...]}``: DDPM's simple loss at each t of the grid, mean over the digits.

    The model runs in eval mode without gradients on the device of its parameters (its
    training mode is restored afterwards); every call on the same ``triples`` scores the
    same (digit, t, noise) triples.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(triples, HeldoutTriples):
        raise TypeError("triples must come from heldout_triples(heldout)")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if max(triples.t_grid) >= schedule.num_timesteps:
        raise ValueError(
            f"the t grid reaches {max(triples.t_grid)} but the schedule has {schedule.num_timesteps} steps"
        )
    device = next(model.parameters()).device
    schedule = schedule.to(device)
    x0_all = to_model_range(triples.images).to(device)  # (N, 28, 28) -> (N, 1, 28, 28)
    was_training = model.training
    model.eval()
    losses = []
    try:
        with torch.no_grad():
            for k, t in enumerate(triples.t_grid):
                total = 0.0
                for i in range(0, x0_all.shape[0], batch_size):
                    x0 = x0_all[i : i + batch_size]
                    noise = triples.noise[k, i : i + batch_size].to(device)
                    tt = torch.full((x0.shape[0],), t, dtype=torch.long, device=device)
                    eps = model(q_sample(x0, tt, schedule, noise), tt).float()
                    # per-digit MSE, summed: (b, 1, 28, 28) -> (b,) -> ()
                    total += (eps - noise).square().mean(dim=(1, 2, 3)).sum().item()
                losses.append(total / x0_all.shape[0])
    finally:
        model.train(was_training)
    return {"t": list(triples.t_grid), "loss": [float(np.round(v, 6)) for v in losses]}
