"""The discrete DDPM forward process and its epsilon-prediction loss.

Follows Ho, Jain and Abbeel, "Denoising Diffusion Probabilistic Models" (NeurIPS
2020): T = 1000 steps, betas rising linearly from 1e-4 to 0.02,
``alpha_bar_t = prod_{s<=t} (1 - beta_s)``, the closed-form forward sample
``x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps`` and the "simple" loss
``|| eps - eps_theta(x_t, t) ||^2`` with t drawn uniformly (Algorithm 1). Timesteps
are 0-based here (0..T-1), as in the original notebook and most codebases.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DDPMSchedule", "linear_schedule", "q_sample", "draw_t_and_noise", "epsilon_loss_at", "epsilon_loss"]


@dataclass(frozen=True)
class DDPMSchedule:
    """The noise schedule: ``betas`` and ``alpha_bars``, both float32 ``[T]`` on one device."""

    betas: torch.Tensor
    alpha_bars: torch.Tensor

    @property
    def num_timesteps(self) -> int:
        return int(self.betas.shape[0])

    def to(self, device: str | torch.device) -> "DDPMSchedule":
        return DDPMSchedule(self.betas.to(device), self.alpha_bars.to(device))


def linear_schedule(
    num_timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02, device: str | torch.device = "cpu"
) -> DDPMSchedule:
    """DDPM's linear beta schedule (computed in float64, stored as float32)."""
    if not isinstance(num_timesteps, int) or num_timesteps < 2:
        raise ValueError(f"num_timesteps must be an int >= 2, got {num_timesteps!r}")
    if not 0.0 < beta_start < beta_end < 1.0:
        raise ValueError(f"need 0 < beta_start < beta_end < 1, got {beta_start}, {beta_end}")
    betas = torch.linspace(beta_start, beta_end, num_timesteps, dtype=torch.float64)
    alpha_bars = torch.cumprod(1.0 - betas, dim=0)
    return DDPMSchedule(betas.float().to(device), alpha_bars.float().to(device))


def q_sample(x0: torch.Tensor, t: torch.Tensor, schedule: DDPMSchedule, noise: torch.Tensor) -> torch.Tensor:
    """Noisy images ``x_t`` for clean images ``x0`` ``[B, C, H, W]`` at timesteps ``t`` ``[B]``."""
    if x0.dim() != 4:
        raise ValueError(f"x0 must be [B, C, H, W], got shape {tuple(x0.shape)}")
    if t.dim() != 1 or t.shape[0] != x0.shape[0]:
        raise ValueError(f"t must be 1-D [batch] with batch {x0.shape[0]}, got shape {tuple(t.shape)}")
    if noise.shape != x0.shape:
        raise ValueError(f"noise must match x0's shape {tuple(x0.shape)}, got {tuple(noise.shape)}")
    a_bar = schedule.alpha_bars[t].view(-1, 1, 1, 1)  # (B,) -> (B, 1, 1, 1)
    return a_bar.sqrt() * x0 + (1.0 - a_bar).sqrt() * noise


def draw_t_and_noise(
    x0: torch.Tensor, num_timesteps: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Algorithm 1's random draws for clean images ``x0``: t ~ U{0..T-1} ``[B]``, then eps ~ N(0, I).

    Always in this order from ``generator`` (on ``x0``'s device), so every code path that
    uses it sees the same t and noise for the same generator state.
    """
    batch = x0.shape[0]
    t = torch.randint(0, num_timesteps, (batch,), device=x0.device, generator=generator)
    noise = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=generator)
    return t, noise


def epsilon_loss_at(
    model: nn.Module, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, schedule: DDPMSchedule
) -> torch.Tensor:
    """The simple loss for given draws: noise ``x0`` to ``x_t``, regress ``noise`` (MSE in float32)."""
    eps_hat = model(q_sample(x0, t, schedule, noise), t)
    return F.mse_loss(eps_hat.float(), noise.float())


def epsilon_loss(
    model: nn.Module, x0: torch.Tensor, schedule: DDPMSchedule, generator: torch.Generator | None = None
) -> torch.Tensor:
    """DDPM's simple loss for one batch: draw t and eps, noise x0, regress eps (MSE).

    ``generator`` (on ``x0``'s device) makes the draws reproducible without touching
    the global RNG; the loss is computed in float32 even under autocast.
    """
    t, noise = draw_t_and_noise(x0, schedule.num_timesteps, generator)
    return epsilon_loss_at(model, x0, t, noise, schedule)
