"""Lesson 05: toy data, the VP SDE, the DSM loss and the reverse-time steps.

Besides checking the reference, these tests demonstrate that each check catches a
learner mistake: every check is run on the reference (must pass) and on a mutant
that makes one typical mistake (must fail). The notebook's hidden tests reuse the
same checks.
"""

from __future__ import annotations

import math

import pytest
import torch

from course_utils.cpu_threads import limit_threads
from course_utils.diffusion.metrics2d import sliced_wasserstein
from course_utils.diffusion.toy2d import EIGHT_GAUSSIANS_STD, TOY_DATASETS, eight_gaussians_means, sample_toy
from course_utils.diffusion.vpsde import (
    VPSDE,
    dsm_loss,
    gaussian_mixture_score,
    probability_flow_step,
    reverse_sde_step,
    sample_probability_flow,
    sample_reverse_sde,
)

SDE = VPSDE()


@pytest.fixture(autouse=True, scope="module")
def _one_cpu_thread():
    """Tiny models: one thread is fastest, and immune to a busy machine (see course_utils.cpu_threads)."""
    with limit_threads(1):
        yield


# ----------------------------------------------------------------------------- toy data


@pytest.mark.parametrize("name", sorted(TOY_DATASETS))
def test_toy_data_shape_seed_and_scale(name):
    a, b, c = sample_toy(name, 1000, seed=0), sample_toy(name, 1000, seed=0), sample_toy(name, 1000, seed=1)
    assert a.shape == (1000, 2) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert 0.5 < float(a.std(dim=0).mean()) < 2.5  # the scale of the N(0, I) prior
    assert float(a.abs().max()) < 4.0


def test_toy_data_input_checks():
    with pytest.raises(ValueError, match="unknown toy dataset"):
        sample_toy("swiss_roll", 10)
    with pytest.raises(ValueError, match="n must be a positive int"):
        sample_toy("two_moons", 0)
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        sample_toy("spiral", 10, seed=-1)


def test_eight_gaussians_sit_on_their_means():
    x = sample_toy("eight_gaussians", 4000, seed=3)
    d = torch.cdist(x, eight_gaussians_means()).min(dim=1).values  # (4000, 8) -> (4000,)
    assert float(d.mean()) == pytest.approx(0.15 * math.sqrt(math.pi / 2), rel=0.05)  # mean of a 2-D Rayleigh


# ----------------------------------------------------------------------------- the SDE


def test_vpsde_literal_values():
    t = torch.tensor([0.0, 0.1, 0.5, 1.0], dtype=torch.float64)
    assert SDE.beta(t).tolist() == pytest.approx([0.1, 2.09, 10.05, 20.0])
    assert SDE.alpha(t).tolist() == pytest.approx(
        [1.0, 0.946721798820598, 0.2811828807967524, 0.006571586494929619], rel=1e-9
    )
    assert SDE.marginal_std(t).tolist() == pytest.approx(
        [0.0, 0.3220525355247045, 0.9596542020680363, 0.9999784068923386], rel=1e-9
    )
    assert torch.allclose(SDE.alpha(t) ** 2 + SDE.marginal_std(t) ** 2, torch.ones(4, dtype=torch.float64))


def test_marginal_matches_a_simulated_forward_sde():
    """Euler-Maruyama on dx = -beta x / 2 dt + sqrt(beta) dw from x0 = (1, -1) up to t = 0.3."""
    g = torch.Generator().manual_seed(0)
    x = torch.tensor([[1.0, -1.0]]).repeat(20000, 1)  # (1, 2) -> (20000, 2)
    n, t_end = 300, 0.3
    for k in range(n):
        beta = SDE.beta(torch.tensor(k * t_end / n))
        x = x - 0.5 * beta * x * (t_end / n) + torch.sqrt(beta * t_end / n) * torch.randn(x.shape, generator=g)
    t = torch.tensor([t_end])
    assert x.mean(0).tolist() == pytest.approx([float(SDE.alpha(t)), -float(SDE.alpha(t))], abs=0.02)
    assert x.std(0).tolist() == pytest.approx([float(SDE.marginal_std(t))] * 2, abs=0.02)


def test_vpsde_config_checks():
    with pytest.raises(ValueError, match="beta_min < beta_max"):
        VPSDE(beta_min=5.0, beta_max=1.0)
    with pytest.raises(ValueError, match="eps must be in"):
        VPSDE(eps=0.0)


# ----------------------------------------------------------------------------- DSM loss: checks


def point_mass_oracle(mu: torch.Tensor):
    """The exact score of p_t when the data are the single point ``mu``: -(x - alpha mu) / sigma^2."""
    return lambda x, t: -(x - SDE.alpha(t)[:, None] * mu) / SDE.marginal_std(t)[:, None] ** 2


def check_oracle_gives_zero(loss_fn) -> bool:
    """Wrong target scale or sign: the exact score of a point mass must have loss 0."""
    g = torch.Generator().manual_seed(1)
    mu = torch.tensor([0.7, -1.2])
    x0 = mu.repeat(256, 1)  # (2,) -> (256, 2)
    t = SDE.sample_time(256, generator=g)
    noise = torch.randn(256, 2, generator=g)
    return float(loss_fn(point_mass_oracle(mu), x0, SDE, t, noise)) < 1e-6


def check_zero_score_gives_noise_energy(loss_fn) -> bool:
    """Wrong weighting: with lambda = sigma^2 a zero score costs exactly mean ||z||^2, whatever t."""
    g = torch.Generator().manual_seed(2)
    x0, noise = torch.randn(64, 2, generator=g), torch.randn(64, 2, generator=g)
    t = torch.linspace(0.01, 1.0, 64)
    got = float(loss_fn(lambda x, t: torch.zeros_like(x), x0, SDE, t, noise))
    return got == pytest.approx(float(noise.pow(2).sum(1).mean()), rel=1e-5)


def check_literal_value(loss_fn) -> bool:
    """A constant score of ones at t = (0.1, 0.5, 1) with fixed noise: a literal number."""
    t = torch.tensor([0.1, 0.5, 1.0])
    noise = torch.tensor([[0.5, -1.0], [1.5, 0.25], [-0.5, 2.0]])
    got = float(loss_fn(lambda x, t: torch.ones_like(x), torch.zeros(3, 2), SDE, t, noise))
    return got == pytest.approx(5.966131355753926, rel=1e-5)  # mean_b sum_d (sigma_b + z_bd)^2


def check_time_sampling(loss_fn) -> bool:
    """With t omitted the loss must draw float t ~ U[eps, 1]; a spy model records what it gets."""
    seen = []

    def spy(x, t):
        seen.append(t)
        return torch.zeros_like(x)

    torch.manual_seed(0)
    loss_fn(spy, torch.zeros(20000, 2), SDE)
    t = seen[0]
    return (
        t.is_floating_point()
        and t.shape == (20000,)
        and float(t.min()) >= SDE.eps
        and float(t.max()) <= 1.0
        and abs(float(t.mean()) - (1 + SDE.eps) / 2) < 0.01
        and t.unique().numel() > 19000
    )


DSM_CHECKS = [check_oracle_gives_zero, check_zero_score_gives_noise_energy, check_literal_value, check_time_sampling]


def make_dsm_mutant(target: str = "ok", times: str = "ok"):
    """A learner's ``dsm_loss`` with one mistake in the target/weighting or in how t is drawn."""

    def loss(model, x0, sde, t=None, noise=None):
        b = x0.shape[0]
        if t is None:
            t = {
                "ok": lambda: sde.eps + (1 - sde.eps) * torch.rand(b),
                "no_eps": lambda: torch.rand(b),
                "integer": lambda: torch.randint(0, 1000, (b,)),
                "integer_over_T": lambda: torch.randint(0, 1000, (b,)).float() / 1000,
            }[times]()
        noise = torch.randn_like(x0) if noise is None else noise
        tf = t.float()
        sigma = sde.marginal_std(tf)[:, None]  # (B,) -> (B, 1)
        s = model(sde.alpha(tf)[:, None] * x0 + sigma * noise, t)
        residual = {
            "ok": sigma * s + noise,
            "no_inv_sigma": s + noise,  # target -z instead of -z / sigma
            "sigma_sq_weight": sigma**2 * s + noise,  # sigma^2 applied to the score, not the loss
            "unweighted": s + noise / sigma,  # lambda = 1 instead of sigma^2
            "wrong_sign": sigma * s - noise,
        }[target]
        return residual.pow(2).sum(1).mean()

    return loss


@pytest.mark.parametrize("check", DSM_CHECKS, ids=lambda c: c.__name__)
def test_reference_dsm_loss_passes_every_check(check):
    assert check(dsm_loss)
    assert check(make_dsm_mutant())  # the mutant factory itself is right when told to be


@pytest.mark.parametrize(
    "mutant, caught_by",
    [
        (dict(target="no_inv_sigma"), check_oracle_gives_zero),
        (dict(target="sigma_sq_weight"), check_oracle_gives_zero),
        (dict(target="wrong_sign"), check_oracle_gives_zero),
        (dict(target="unweighted"), check_zero_score_gives_noise_energy),
        (dict(target="unweighted"), check_literal_value),
        (dict(target="no_inv_sigma"), check_literal_value),
        (dict(times="no_eps"), check_time_sampling),
        (dict(times="integer"), check_time_sampling),
        (dict(times="integer_over_T"), check_time_sampling),
    ],
)
def test_each_dsm_mistake_is_caught(mutant, caught_by):
    assert not caught_by(make_dsm_mutant(**mutant))


def test_dsm_loss_is_deterministic_given_t_and_noise():
    net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.SiLU(), torch.nn.Linear(16, 2))
    model = lambda x, t: net(x) * t[:, None]  # noqa: E731
    x0, t, z = torch.randn(32, 2), torch.rand(32) * 0.9 + 0.1, torch.randn(32, 2)
    with torch.no_grad():
        assert float(dsm_loss(model, x0, SDE, t, z)) == float(dsm_loss(model, x0, SDE, t, z))


def test_dsm_loss_input_checks():
    zero = lambda x, t: torch.zeros_like(x)  # noqa: E731
    with pytest.raises(ValueError, match=r"t must be 1-D \[batch\], got shape \(4, 1\)"):
        dsm_loss(zero, torch.zeros(4, 2), SDE, torch.rand(4, 1))
    with pytest.raises(TypeError, match="float tensor"):
        dsm_loss(zero, torch.zeros(4, 2), SDE, torch.arange(4))
    with pytest.raises(ValueError, match=r"t must lie in \[0, 1\]"):
        dsm_loss(zero, torch.zeros(4, 2), SDE, torch.tensor([1.0, 2.0, 3.0, 500.0]))
    with pytest.raises(ValueError, match="noise must have x0's shape"):
        dsm_loss(zero, torch.zeros(4, 2), SDE, torch.rand(4), torch.zeros(4, 3))


# ----------------------------------------------------------------------------- reverse step: checks


def _zero(x, t):
    return torch.zeros_like(x)


def check_step_zero_score(step) -> bool:
    """Score 0, no noise: only the drift f = -beta x / 2 acts, reversed: x (1 + beta dt / 2)."""
    out = step(_zero, torch.tensor([[1.0, -2.0]]), 0.5, 0.01, SDE, torch.zeros(1, 2))
    return torch.allclose(out, torch.tensor([[1.05025, -2.1005]]), atol=1e-6)


def check_step_constant_score(step) -> bool:
    """x = 0, score (1, 0), no noise: x moves by + g^2 s dt = (0.1005, 0) (up the score)."""
    out = step(lambda x, t: torch.tensor([[1.0, 0.0]]), torch.zeros(1, 2), 0.5, 0.01, SDE, torch.zeros(1, 2))
    return torch.allclose(out, torch.tensor([[0.1005, 0.0]]), atol=1e-6)


def check_step_noise_scale(step) -> bool:
    """Score 0, x = 0, noise 1: the noise enters as g sqrt(dt) = sqrt(beta dt) = 0.3170..."""
    out = step(_zero, torch.zeros(1, 2), 0.5, 0.01, SDE, torch.ones(1, 2))
    return torch.allclose(out, torch.full((1, 2), 0.31701734968294715), atol=1e-6)


def check_step_contracts_to_data(step) -> bool:
    """With the exact score of a point mass at 0, a noise-free step moves every point towards 0."""
    x = torch.randn(100, 2, generator=torch.Generator().manual_seed(4))
    out = step(point_mass_oracle(torch.zeros(2)), x, 0.3, 0.002, SDE, torch.zeros(100, 2))
    return bool((out.norm(dim=1) < x.norm(dim=1)).all())


STEP_CHECKS = [check_step_zero_score, check_step_constant_score, check_step_noise_scale, check_step_contracts_to_data]


def make_step_mutant(mistake: str):
    def step(model, x, t, dt, sde, noise):
        tb = torch.full((x.shape[0],), float(t))
        beta = sde.beta(tb)[:, None]  # (B,) -> (B, 1)
        s = model(x, tb)
        drift = {
            "ok": -0.5 * beta * x - beta * s,
            "f_sign": 0.5 * beta * x - beta * s,
            "score_sign": -0.5 * beta * x + beta * s,
            "half_score": -0.5 * beta * x - 0.5 * beta * s,
        }.get(mistake, -0.5 * beta * x - beta * s)
        direction = 1.0 if mistake == "forward_in_time" else -1.0
        scale = beta * dt if mistake == "noise_scale" else torch.sqrt(beta * dt)
        return x + direction * drift * dt + scale * noise

    return step


@pytest.mark.parametrize("check", STEP_CHECKS, ids=lambda c: c.__name__)
def test_reference_reverse_step_passes_every_check(check):
    assert check(reverse_sde_step)
    assert check(make_step_mutant("ok"))


@pytest.mark.parametrize(
    "mistake, caught_by",
    [
        ("f_sign", check_step_zero_score),
        ("score_sign", check_step_constant_score),
        ("score_sign", check_step_contracts_to_data),
        ("forward_in_time", check_step_zero_score),
        ("forward_in_time", check_step_contracts_to_data),
        ("half_score", check_step_constant_score),
        ("noise_scale", check_step_noise_scale),
    ],
)
def test_each_reverse_step_mistake_is_caught(mistake, caught_by):
    assert not caught_by(make_step_mutant(mistake))


def test_reverse_step_accepts_a_number_or_a_time_tensor():
    x, z = torch.randn(5, 2), torch.randn(5, 2)
    model = lambda x, t: x * t[:, None]  # noqa: E731
    a = reverse_sde_step(model, x, 0.4, 0.01, SDE, z)
    b = reverse_sde_step(model, x, torch.full((5,), 0.4), 0.01, SDE, z)
    c = reverse_sde_step(model, x, torch.tensor(0.4), 0.01, SDE, z)
    assert torch.allclose(a, b) and torch.allclose(a, c)
    assert torch.equal(
        reverse_sde_step(model, x, 0.4, 0.01, SDE, None), reverse_sde_step(model, x, 0.4, 0.01, SDE, torch.zeros(5, 2))
    )
    with pytest.raises(ValueError, match="dt must be > 0"):
        reverse_sde_step(model, x, 0.4, -0.01, SDE, z)


def test_probability_flow_step_literal():
    # Score 0: the ODE drift is f = -beta x / 2 alone, run backwards: x (1 + beta dt / 2).
    out = probability_flow_step(_zero, torch.tensor([[1.0, -2.0]]), 0.5, 0.01, SDE)
    assert torch.allclose(out, torch.tensor([[1.05025, -2.1005]]), atol=1e-6)
    # x = 0, score (1, 0): half the SDE's score term, + g^2 s dt / 2.
    out = probability_flow_step(lambda x, t: torch.tensor([[1.0, 0.0]]), torch.zeros(1, 2), 0.5, 0.01, SDE)
    assert torch.allclose(out, torch.tensor([[0.05025, 0.0]]), atol=1e-6)


# ----------------------------------------------------------------------------- samplers


def _mixture_score(x, t):
    return gaussian_mixture_score(x, t, SDE, eight_gaussians_means(), EIGHT_GAUSSIANS_STD)


def test_gaussian_mixture_score_is_the_gradient_of_log_density():
    x = torch.randn(16, 2, dtype=torch.float64, requires_grad=True)
    t = torch.linspace(0.01, 1.0, 16, dtype=torch.float64)
    a, s = SDE.alpha(t)[:, None, None], SDE.marginal_std(t)[:, None, None]  # (16,) -> (16, 1, 1)
    var = a**2 * 0.15**2 + s**2
    mu = eight_gaussians_means().double()
    logp = torch.logsumexp(-0.5 * (x[:, None] - a * mu).pow(2).sum(-1) / var[..., 0] - torch.log(var[..., 0]), 1)
    (grad,) = torch.autograd.grad(logp.sum(), x)
    assert torch.allclose(_mixture_score(x.detach(), t), grad, atol=1e-8)


def test_samplers_with_the_exact_score_reproduce_eight_gaussians():
    held = sample_toy("eight_gaussians", 1000, seed=11)
    res = sample_reverse_sde(_mixture_score, SDE, 1000, steps=300, seed=0, snapshot_times=(1.0, 0.5, 0.0))
    assert res.samples.shape == (1000, 2) and sorted(res.snapshots) == [0.0, 0.5, 1.0]
    assert torch.equal(res.snapshots[0.0], res.samples)
    assert float(res.snapshots[1.0].std()) == pytest.approx(1.0, abs=0.1)  # the N(0, I) prior
    assert sliced_wasserstein(res.samples, held) < 0.08  # two real draws of 1000 differ by about 0.04
    ode = sample_probability_flow(_mixture_score, SDE, 1000, steps=300, seed=0)
    assert sliced_wasserstein(ode.samples, held) < 0.08
    assert torch.equal(ode.samples, sample_probability_flow(_mixture_score, SDE, 1000, steps=300, seed=0).samples)


def test_sampler_input_checks():
    with pytest.raises(ValueError, match="steps must be a positive int"):
        sample_reverse_sde(_zero, SDE, 10, steps=0)
    with pytest.raises(ValueError, match="snapshot_times must lie in"):
        sample_reverse_sde(_zero, SDE, 10, steps=5, snapshot_times=(2.0,))


# ----------------------------------------------------------------------------- pictures


def test_plot_helpers_draw_without_a_display(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_utils.diffusion.toy2d import plot_noising, plot_score_field, plot_snapshots

    monkeypatch.setenv("COURSE_NO_WIDGETS", "1")
    monkeypatch.setattr(plt, "show", lambda *a, **k: None)
    x0 = sample_toy("two_moons", 300)
    plot_noising(x0, SDE, times=(0.0, 0.5, 1.0))
    res = sample_reverse_sde(_mixture_score, SDE, 200, steps=20, snapshot_times=(1.0, 0.5, 0.0))
    fig = plot_snapshots(res.snapshots, data=x0)
    assert len([ax for ax in fig.axes if ax.has_data()]) == 3
    plot_score_field(_mixture_score, times=(0.1, 1.0), grid=5, interactive=False)
    with pytest.raises(ValueError, match="points must be"):
        plot_snapshots({0.0: torch.zeros(5, 3)})
    plt.close("all")
