"""The variance-preserving SDE in continuous time: noising, the training loss, sampling.

Follows Song et al., "Score-Based Generative Modeling through Stochastic
Differential Equations" (ICLR 2021), the VP SDE with a linear schedule::

    dx = -1/2 beta(t) x dt + sqrt(beta(t)) dw,   beta(t) = beta_min + t (beta_max - beta_min),

for t in [0, 1] with beta_min = 0.1 and beta_max = 20. Its marginal given x(0) is
Gaussian: ``x_t = alpha(t) x_0 + sigma(t) z`` with
``log alpha(t) = -t^2 (beta_max - beta_min) / 4 - t beta_min / 2`` and
``sigma(t)^2 = 1 - alpha(t)^2``.

Training is denoising score matching (Vincent, "A Connection Between Score Matching
and Denoising Autoencoders", Neural Computation 2011): the score of the Gaussian
kernel at ``x_t`` is ``-z / sigma(t)``. Weighting convention used throughout the
course: lambda(t) = sigma(t)^2, so the per-example loss is
``sigma^2 * || s(x_t, t) + z / sigma ||^2 = || sigma * s(x_t, t) + z ||^2``,
summed over data dimensions and averaged over the batch, with ``t ~ U[eps, 1]``.

Sampling runs time backwards, from t = 1 to t = eps, either along the reverse-time
SDE (Euler-Maruyama) or along the probability-flow ODE (Euler). Sign convention for
every step function here: ``dt > 0`` is the size of the step and the function
returns the state at time ``t - dt``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from course_utils.diffusion.timesteps import as_times

__all__ = [
    "VPSDE",
    "dsm_loss",
    "reverse_sde_step",
    "probability_flow_step",
    "SampleResult",
    "sample_reverse_sde",
    "sample_probability_flow",
    "gaussian_mixture_score",
]

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _check_x(x: torch.Tensor, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a tensor [batch, data_dim], got {shape}")


@dataclass(frozen=True)
class VPSDE:
    """The VP SDE with a linear beta schedule on continuous time t in [0, 1].

    ``eps`` is the smallest time used in training and sampling: sigma(t) -> 0 as
    t -> 0, so the score's scale (``1 / sigma``) blows up and t = 0 is never used.
    """

    beta_min: float = 0.1
    beta_max: float = 20.0
    eps: float = 1e-3

    def __post_init__(self) -> None:
        if not 0 <= self.beta_min < self.beta_max:
            raise ValueError(f"need 0 <= beta_min < beta_max, got {self.beta_min}, {self.beta_max}")
        if not 0 < self.eps < 1:
            raise ValueError(f"eps must be in (0, 1), got {self.eps}")

    def beta(self, t: torch.Tensor) -> torch.Tensor:
        """beta(t) = beta_min + t (beta_max - beta_min), same shape as ``t``."""
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def log_alpha(self, t: torch.Tensor) -> torch.Tensor:
        """log of the mean coefficient: -t^2 (beta_max - beta_min) / 4 - t beta_min / 2."""
        return -0.25 * t**2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        """Mean coefficient alpha(t): E[x_t | x_0] = alpha(t) x_0."""
        return torch.exp(self.log_alpha(t))

    def marginal_std(self, t: torch.Tensor) -> torch.Tensor:
        """sigma(t) = sqrt(1 - alpha(t)^2), the std of x_t given x_0 (0 at t = 0, ~1 at t = 1)."""
        return torch.sqrt(-torch.expm1(2.0 * self.log_alpha(t)))  # expm1: exact near t = 0

    def perturb(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Sample the forward marginal: ``alpha(t) x0 + sigma(t) noise`` for ``x0 [B, D]``, ``t [B]``."""
        _check_x(x0, "x0")
        t = as_times(t, kind="continuous", batch=x0.shape[0], device=x0.device, dtype=None, check_range=False)
        if noise.shape != x0.shape:
            raise ValueError(f"noise must have x0's shape {tuple(x0.shape)}, got {tuple(noise.shape)}")
        a = self.alpha(t)[:, None]  # (B,) -> (B, 1)
        s = self.marginal_std(t)[:, None]  # (B,) -> (B, 1)
        return a * x0 + s * noise

    def sample_time(self, batch: int, *, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """``batch`` training times drawn uniformly from [eps, 1], float32 ``[batch]``."""
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be a positive int, got {batch!r}")
        u = torch.rand(batch, device=device, generator=generator)
        return self.eps + (1.0 - self.eps) * u

    def prior_sample(
        self, n: int, data_dim: int = 2, *, device=None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``n`` draws of the t = 1 marginal, which for this schedule is N(0, I) to within 1e-4."""
        return torch.randn(n, data_dim, device=device, generator=generator)


def dsm_loss(
    model: ScoreFn,
    x0: torch.Tensor,
    sde: VPSDE,
    t: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Denoising score matching loss with weighting lambda(t) = sigma(t)^2 (a scalar tensor).

    ``mean_b sum_d (sigma(t_b) * model(x_t, t)_bd + z_bd)^2`` with
    ``x_t = alpha(t) x0 + sigma(t) z``. A perfect score gives ``-z / sigma`` at ``x_t``
    for a point mass, and the loss is then exactly 0.

    Args:
        model: called as ``model(x_t [B, D], t [B])``, returns the score ``[B, D]``.
        x0: clean data ``[B, D]``.
        sde: the :class:`VPSDE`.
        t: times ``[B]`` in [0, 1]; drawn from U[eps, 1] when omitted.
        noise: the standard normal draw ``z`` ``[B, D]``; drawn when omitted.
            With both ``t`` and ``noise`` given the loss is deterministic.
        generator: the RNG for whatever is drawn.
    """
    _check_x(x0, "x0")
    batch = x0.shape[0]
    if t is None:
        t = sde.sample_time(batch, device=x0.device, generator=generator)
    t = as_times(t, kind="continuous", batch=batch, device=x0.device, dtype=None)
    if noise is None:
        noise = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=generator)
    x_t = sde.perturb(x0, t, noise)
    sigma = sde.marginal_std(t)[:, None]  # (B,) -> (B, 1)
    score = model(x_t, t)
    if score.shape != x0.shape:
        raise ValueError(f"model must return a score of x0's shape {tuple(x0.shape)}, got {tuple(score.shape)}")
    return (sigma * score + noise).pow(2).sum(dim=1).mean()


def _check_step(x: torch.Tensor, dt: float) -> None:
    _check_x(x)
    if not float(dt) > 0:
        raise ValueError(f"dt must be > 0 (the step goes from t to t - dt), got {dt!r}")


def reverse_sde_step(
    model: ScoreFn, x: torch.Tensor, t, dt: float, sde: VPSDE, noise: torch.Tensor | None
) -> torch.Tensor:
    """One Euler-Maruyama step of the reverse-time SDE, from time ``t`` to ``t - dt``.

    The reverse SDE is ``dx = [f(x, t) - g(t)^2 s(x, t)] dt + g(t) dw_bar`` with
    ``f = -beta x / 2`` and ``g = sqrt(beta)``, run with a negative time increment.
    Writing the step size as ``dt > 0``::

        x_{t - dt} = x_t - [f(x_t, t) - g(t)^2 s(x_t, t)] dt + g(t) sqrt(dt) noise

    i.e. ``x + (beta/2 x + beta s) dt + sqrt(beta dt) noise``.

    Args:
        model: score model, ``model(x [B, D], t [B]) -> [B, D]``.
        x: current state ``[B, D]`` at time ``t``.
        t: current time, a number or a ``[B]`` (or 0-d) float tensor.
        dt: positive step size.
        sde: the :class:`VPSDE`.
        noise: standard normal ``[B, D]``; ``None`` takes the noise-free (mean) step.
    """
    _check_step(x, dt)
    t_b = as_times(t, kind="continuous", batch=x.shape[0], device=x.device, dtype=x.dtype, check_range=False)  # (B,)
    beta = sde.beta(t_b)[:, None]  # (B,) -> (B, 1)
    score = model(x, t_b)
    drift = -0.5 * beta * x - beta * score  # f - g^2 s
    x_next = x - drift * dt
    if noise is not None:
        if noise.shape != x.shape:
            raise ValueError(f"noise must have x's shape {tuple(x.shape)}, got {tuple(noise.shape)}")
        x_next = x_next + torch.sqrt(beta * dt) * noise
    return x_next


def probability_flow_step(model: ScoreFn, x: torch.Tensor, t, dt: float, sde: VPSDE) -> torch.Tensor:
    """One Euler step of the probability-flow ODE ``dx/dt = f - g^2 s / 2`` from ``t`` to ``t - dt``."""
    _check_step(x, dt)
    t_b = as_times(t, kind="continuous", batch=x.shape[0], device=x.device, dtype=x.dtype, check_range=False)  # (B,)
    beta = sde.beta(t_b)[:, None]  # (B,) -> (B, 1)
    drift = -0.5 * beta * x - 0.5 * beta * model(x, t_b)
    return x - drift * dt


@dataclass
class SampleResult:
    """Final samples ``[N, D]`` and the states recorded on the way, keyed by requested time."""

    samples: torch.Tensor
    snapshots: dict[float, torch.Tensor] = field(default_factory=dict)


def _integrate(
    step: Callable,
    model: ScoreFn,
    sde: VPSDE,
    n: int,
    data_dim: int,
    steps: int,
    seed: int,
    snapshot_times: Sequence[float],
    device,
    stochastic: bool,
) -> SampleResult:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if any(not 0.0 <= float(s) <= 1.0 for s in snapshot_times):
        raise ValueError(f"snapshot_times must lie in [0, 1], got {list(snapshot_times)}")
    g = torch.Generator(device=device or "cpu").manual_seed(seed)
    grid = torch.linspace(1.0, sde.eps, steps + 1).tolist()  # t_0 = 1 > t_1 > ... > t_steps = eps
    # Each requested time is recorded at the grid index nearest to it.
    wanted: dict[int, list[float]] = {}
    for s in snapshot_times:
        k = min(range(len(grid)), key=lambda i: abs(grid[i] - float(s)))
        wanted.setdefault(k, []).append(float(s))
    result = SampleResult(samples=torch.empty(0))
    x = sde.prior_sample(n, data_dim, device=device, generator=g)
    with torch.no_grad():
        for k in range(steps + 1):
            for s in wanted.get(k, []):
                result.snapshots[s] = x.detach().cpu().clone()
            if k == steps:
                break
            dt = grid[k] - grid[k + 1]
            if stochastic:
                last = k == steps - 1  # the last step is taken without noise (Song et al.'s "denoise")
                z = None if last else torch.randn(x.shape, device=x.device, generator=g)
                x = step(model, x, grid[k], dt, sde, z)
            else:
                x = step(model, x, grid[k], dt, sde)
    result.samples = x.detach().cpu()
    return result


def sample_reverse_sde(
    model: ScoreFn,
    sde: VPSDE,
    n: int,
    *,
    data_dim: int = 2,
    steps: int = 500,
    seed: int = 0,
    snapshot_times: Sequence[float] = (),
    device=None,
) -> SampleResult:
    """Draw ``n`` samples by Euler-Maruyama on the reverse SDE from t = 1 down to t = eps.

    ``snapshot_times`` (e.g. ``(1.0, 0.5, 0.1, 0.0)``) are recorded at the nearest grid
    time; 0 means the final samples. The final step adds no noise.
    """
    return _integrate(reverse_sde_step, model, sde, n, data_dim, steps, seed, snapshot_times, device, stochastic=True)


def sample_probability_flow(
    model: ScoreFn,
    sde: VPSDE,
    n: int,
    *,
    data_dim: int = 2,
    steps: int = 500,
    seed: int = 0,
    snapshot_times: Sequence[float] = (),
    device=None,
) -> SampleResult:
    """Draw ``n`` samples by integrating the probability-flow ODE (Euler) from t = 1 to eps.

    Only the prior draw is random: the same ``seed`` gives the same samples.
    """
    return _integrate(
        probability_flow_step, model, sde, n, data_dim, steps, seed, snapshot_times, device, stochastic=False
    )


def gaussian_mixture_score(
    x: torch.Tensor, t: torch.Tensor, sde: VPSDE, means: torch.Tensor, std: float
) -> torch.Tensor:
    """The exact score of ``p_t`` when the data are an equal-weight mixture of isotropic Gaussians.

    Under the VP SDE each component ``N(mu_k, std^2 I)`` becomes
    ``N(alpha mu_k, (alpha^2 std^2 + sigma^2) I)``, so the score is a softmax-weighted
    average of the component scores. Useful as a ground truth: a sampler fed this
    function should reproduce the mixture with no training at all.

    Args:
        x: points ``[B, D]``; t: times ``[B]``; means: component means ``[K, D]``; std: component std.
    """
    _check_x(x)
    t = as_times(t, kind="continuous", batch=x.shape[0], device=x.device, dtype=None, check_range=False)
    a = sde.alpha(t)[:, None, None]  # (B,) -> (B, 1, 1)
    var = a**2 * std**2 + sde.marginal_std(t)[:, None, None] ** 2  # (B, 1, 1)
    diff = x[:, None, :] - a * means[None, :, :].to(x)  # (B, 1, D) - (1, K, D) -> (B, K, D)
    logits = -0.5 * diff.pow(2).sum(-1) / var[:, :, 0]  # (B, K)
    w = torch.softmax(logits, dim=1)[:, :, None]  # (B, K) -> (B, K, 1)
    return (w * (-diff / var)).sum(dim=1)  # (B, K, D) -> (B, D)
