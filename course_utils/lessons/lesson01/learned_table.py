"""Lesson 01's measurement: a learned ``nn.Embedding`` table against the sinusoidal embedding.

The alternative to a fixed encoding is to learn one vector per timestep
(``nn.Embedding(1000, d)``, as in learned positional embeddings). A table row is
trained only when its timestep is drawn, so a timestep never seen in training keeps
its random initial row. This module measures what that costs on a task a diffusion
network must solve: from the embedding of ``t``, predict DDPM's noise level
``(sqrt(alpha_bar_t), sqrt(1 - alpha_bar_t))`` (Ho et al., 2020, linear schedule,
:func:`course_utils.diffusion.ddpm.linear_schedule`). Both embeddings feed the same small MLP,
are trained on a random subset of timesteps and are scored on the others.

:func:`compare` runs both for several seeds (a second or two each on a CPU);
:func:`held_out_sentence` words the outcome from the numbers.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from course_utils.diffusion.ddpm import linear_schedule
from course_utils.components.sinusoidal import sinusoidal_embedding

__all__ = ["TableStudyConfig", "noise_level_target", "train_and_score", "compare", "held_out_sentence"]


@dataclasses.dataclass(frozen=True)
class TableStudyConfig:
    """Sizes and budget; ``n_train`` of the ``num_timesteps`` timesteps are seen in training."""

    num_timesteps: int = 1000
    n_train: int = 200
    d_emb: int = 64
    hidden: int = 64
    steps: int = 300
    lr: float = 1e-2
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)

    def __post_init__(self) -> None:
        if not 1 <= self.n_train < self.num_timesteps:
            raise ValueError(f"n_train must be in [1, num_timesteps), got {self.n_train}")
        if self.steps < 1 or self.d_emb < 2 or self.hidden < 1 or len(self.seeds) < 1:
            raise ValueError("need steps >= 1, d_emb >= 2, hidden >= 1 and at least one seed")


def noise_level_target(num_timesteps: int = 1000) -> torch.Tensor:
    """``[T, 2]``: ``(sqrt(alpha_bar_t), sqrt(1 - alpha_bar_t))`` of DDPM's linear schedule."""
    a = linear_schedule(num_timesteps).alpha_bars  # (T,)
    return torch.stack([a.sqrt(), (1 - a).sqrt()], dim=1)  # (T,) x2 -> (T, 2)


class _Regressor(nn.Module):
    def __init__(self, kind: str, cfg: TableStudyConfig) -> None:
        super().__init__()
        self.kind, self.d_emb = kind, cfg.d_emb
        self.table = nn.Embedding(cfg.num_timesteps, cfg.d_emb) if kind == "learned" else None
        self.mlp = nn.Sequential(nn.Linear(cfg.d_emb, cfg.hidden), nn.SiLU(), nn.Linear(cfg.hidden, 2))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        emb = self.table(t) if self.table is not None else sinusoidal_embedding(t, self.d_emb)  # (B, d_emb)
        return self.mlp(emb)


def train_and_score(kind: str, seed: int, cfg: TableStudyConfig = TableStudyConfig()) -> dict:
    """Train ``kind`` ("learned" or "sinusoidal") with ``seed`` and return its mean squared errors.

    The seed draws the training timesteps, the initialisation and nothing else (full-batch
    Adam). Returns ``{"train_mse", "held_out_mse"}``.
    """
    if kind not in ("learned", "sinusoidal"):
        raise ValueError(f"kind must be 'learned' or 'sinusoidal', got {kind!r}")
    target = noise_level_target(cfg.num_timesteps)  # (T, 2)
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(cfg.num_timesteps, generator=g)
    seen, unseen = order[: cfg.n_train], order[cfg.n_train :]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _Regressor(kind, cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    for _ in range(cfg.steps):
        loss = (model(seen) - target[seen]).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        train = float((model(seen) - target[seen]).pow(2).mean())
        held = float((model(unseen) - target[unseen]).pow(2).mean())
    return {"train_mse": train, "held_out_mse": held}


def compare(cfg: TableStudyConfig = TableStudyConfig()) -> dict[str, dict[str, list[float]]]:
    """Both embeddings for every seed: ``{kind: {"train_mse": [...], "held_out_mse": [...]}}``."""
    out: dict[str, dict[str, list[float]]] = {}
    for kind in ("sinusoidal", "learned"):
        rows = [train_and_score(kind, s, cfg) for s in cfg.seeds]
        out[kind] = {k: [r[k] for r in rows] for k in ("train_mse", "held_out_mse")}
    return out


def held_out_sentence(learned: list[float], sinusoidal: list[float]) -> str:
    """Word the held-out comparison from per-seed errors (lower is better), by the ratio of means
    and whether every seed agrees."""
    a, b = np.asarray(learned, dtype=float), np.asarray(sinusoidal, dtype=float)
    if a.shape != b.shape or a.size < 1 or (a < 0).any() or (b < 0).any():
        raise ValueError("need two equally long, non-empty lists of non-negative errors (one per seed)")
    ratio = a.mean() / b.mean() if b.mean() > 0 else float("inf")
    every = "on every seed" if (a > b).all() or (a < b).all() else "but not on every seed"
    if ratio > 1:
        return (
            f"On timesteps it never saw, the learned table's error is {ratio:.3g} times the sinusoidal "
            f"embedding's ({every})."
        )
    if ratio < 1:
        return (
            f"On timesteps it never saw, the learned table's error is only {ratio:.3g} times the "
            f"sinusoidal embedding's ({every})."
        )
    return "On timesteps it never saw, both embeddings have the same mean error."
