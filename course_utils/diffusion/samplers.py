"""Generate images from an epsilon-prediction network: DDPM's ancestral sampler and DDIM.

* :func:`ddpm_sample` is Algorithm 2 of Ho, Jain and Abbeel, "Denoising Diffusion
  Probabilistic Models" (NeurIPS 2020): from ``x_T ~ N(0, I)``, for t = T-1 .. 0,
  ``x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_bar_t) * eps(x_t, t)) / sqrt(alpha_t) + sigma_t z``
  with ``sigma_t^2 = beta_t`` (the paper's first choice; ``variance="posterior"`` gives its
  second, ``beta_tilde_t = beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)``) and no noise
  on the last step. T network evaluations.
* :func:`ddim_sample` is the deterministic sampler (eta = 0) of Song, Meng and Ermon,
  "Denoising Diffusion Implicit Models" (ICLR 2021), eq. 12: on a subsequence of
  timesteps tau_S > ... > tau_1, ``x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)``
  and ``x_prev = sqrt(alpha_bar_prev) x0_hat + sqrt(1 - alpha_bar_prev) eps``, with
  ``alpha_bar_prev = 1`` after the last step. About 50 network evaluations instead of 1000,
  and the same starting noise always gives the same image.

Timesteps are 0-based (0 .. T-1) as in :mod:`course_utils.diffusion.ddpm`. Both samplers run the
network without gradients and in eval mode (BatchNorm uses its running statistics),
restoring the mode afterwards; they work on whatever device ``x_T`` is on.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from course_utils.diffusion.ddpm import DDPMSchedule

__all__ = ["ddim_timesteps", "ddim_sample", "ddpm_sample"]

EpsModel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _check(model: EpsModel, schedule: DDPMSchedule, x_T: torch.Tensor) -> None:
    if not callable(model):
        raise TypeError("model must be callable as model(x_t, t) -> predicted noise")
    if not isinstance(schedule, DDPMSchedule):
        raise TypeError(
            f"schedule must be a course_utils.diffusion.ddpm.DDPMSchedule (linear_schedule()), "
            f"got {type(schedule).__name__}"
        )
    if not isinstance(x_T, torch.Tensor) or not x_T.is_floating_point() or x_T.dim() < 2:
        raise ValueError(
            "x_T must be a floating-point tensor [B, ...] of standard normal noise "
            "(e.g. torch.randn(16, 1, 28, 28)), got "
            f"{type(x_T).__name__} {tuple(getattr(x_T, 'shape', ()))}"
        )


class _EvalMode:
    """Eval mode and no gradients for the duration of sampling; the mode is restored after."""

    def __init__(self, model: EpsModel) -> None:
        self.module = model if isinstance(model, nn.Module) else None
        self.was_training = bool(self.module is not None and self.module.training)
        self.no_grad = torch.no_grad()

    def __enter__(self) -> None:
        self.no_grad.__enter__()
        if self.module is not None:
            self.module.eval()

    def __exit__(self, *exc) -> None:
        if self.module is not None:
            self.module.train(self.was_training)
        self.no_grad.__exit__(*exc)


def _eps(model: EpsModel, x: torch.Tensor, t: int) -> torch.Tensor:
    t_batch = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
    eps = model(x, t_batch)
    if eps.shape != x.shape:
        raise ValueError(
            f"model(x_t, t) must return the predicted noise with x_t's shape {tuple(x.shape)}, got {tuple(eps.shape)}"
        )
    return eps.to(x.dtype)


def ddim_timesteps(num_timesteps: int, steps: int) -> torch.Tensor:
    """The ``steps`` timesteps DDIM visits, descending from ``T - 1`` to ``0``, evenly spaced.

    ``ddim_timesteps(1000, 50)`` -> ``[999, 979, ..., 20, 0]`` (rounded linspace, long ``[steps]``).
    """
    if not isinstance(num_timesteps, int) or num_timesteps < 2:
        raise ValueError(f"num_timesteps must be an int >= 2, got {num_timesteps!r}")
    if not isinstance(steps, int) or not 1 <= steps <= num_timesteps:
        raise ValueError(
            f"steps must be an int between 1 and num_timesteps ({num_timesteps}), "
            f"got {steps!r}; about 50 is usual for DDIM"
        )
    return torch.linspace(num_timesteps - 1, 0, steps, dtype=torch.float64).round().long()


def ddim_sample(
    model: EpsModel, schedule: DDPMSchedule, x_T: torch.Tensor, *, steps: int = 50, clip: bool = False
) -> torch.Tensor:
    """Deterministic DDIM (eta = 0) from the noise ``x_T`` ``[B, ...]`` in ``steps`` network calls.

    Args:
        model: ``model(x_t, t)`` -> predicted noise, ``t`` a long tensor ``[B]`` in 0..T-1.
        schedule: the schedule the model was trained with (:func:`course_utils.diffusion.ddpm.linear_schedule`).
        x_T: standard normal noise; the same ``x_T`` always gives the same samples.
        steps: number of timesteps visited (1 .. T).
        clip: clamp each estimate of x0 to [-1, 1] (the image range) before stepping.

    Returns:
        The samples, shaped like ``x_T``.
    """
    _check(model, schedule, x_T)
    taus = ddim_timesteps(schedule.num_timesteps, steps).tolist()
    a_bars = schedule.alpha_bars.to(device=x_T.device, dtype=torch.float64)
    x = x_T.clone()
    with _EvalMode(model):
        for i, t in enumerate(taus):
            a_bar = a_bars[t]
            a_prev = a_bars[taus[i + 1]] if i + 1 < len(taus) else a_bars.new_tensor(1.0)
            eps = _eps(model, x, t)
            x0 = (x - (1 - a_bar).sqrt().to(x.dtype) * eps) / a_bar.sqrt().to(x.dtype)
            if clip:
                x0 = x0.clamp(-1.0, 1.0)
            x = a_prev.sqrt().to(x.dtype) * x0 + (1 - a_prev).sqrt().to(x.dtype) * eps
    return x


def ddpm_sample(
    model: EpsModel,
    schedule: DDPMSchedule,
    x_T: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    variance: str = "beta",
    clip: bool = False,
) -> torch.Tensor:
    """DDPM's ancestral sampler (Algorithm 2) from ``x_T`` ``[B, ...]``: T network calls.

    Args:
        model: ``model(x_t, t)`` -> predicted noise, ``t`` a long tensor ``[B]`` in 0..T-1.
        schedule: the schedule the model was trained with.
        x_T: standard normal noise to start from.
        generator: draws the noise added at each step (on ``x_T``'s device); the same
            generator state and ``x_T`` give the same samples.
        variance: ``"beta"`` (sigma_t^2 = beta_t) or ``"posterior"`` (beta_tilde_t).
        clip: clamp the final samples to [-1, 1].

    Returns:
        The samples, shaped like ``x_T``.
    """
    _check(model, schedule, x_T)
    if variance not in ("beta", "posterior"):
        raise ValueError(f"variance must be 'beta' or 'posterior', got {variance!r}")
    betas = schedule.betas.to(device=x_T.device, dtype=torch.float64)
    a_bars = schedule.alpha_bars.to(device=x_T.device, dtype=torch.float64)
    x = x_T.clone()
    with _EvalMode(model):
        for t in range(schedule.num_timesteps - 1, -1, -1):
            beta, a_bar = betas[t], a_bars[t]
            eps = _eps(model, x, t)
            coef = (beta / (1 - a_bar).sqrt()).to(x.dtype)
            x = (x - coef * eps) / (1 - beta).sqrt().to(x.dtype)
            if t > 0:
                var = beta if variance == "beta" else beta * (1 - a_bars[t - 1]) / (1 - a_bar)
                z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
                x = x + var.sqrt().to(x.dtype) * z
    return x.clamp(-1.0, 1.0) if clip else x
