"""DDPM ancestral and DDIM samplers: closed-form Gaussian case, determinism, modes, input checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.diffusion.ddpm import linear_schedule
from course_utils.diffusion.samplers import ddim_sample, ddim_timesteps, ddpm_sample

MU, SD = 0.3, 0.5  # the data set: every coordinate ~ N(MU, SD^2)
SCHEDULE = linear_schedule()


def exact_eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The optimal noise prediction for Gaussian data: x_t ~ N(sqrt(a) MU, a SD^2 + 1 - a).

    eps* = -sqrt(1 - a) * score = sqrt(1 - a) (x_t - sqrt(a) MU) / (a SD^2 + 1 - a).
    """
    a = SCHEDULE.alpha_bars[t].to(x.dtype).view(-1, *([1] * (x.dim() - 1)))  # (B,) -> (B, 1, ...)
    return (1 - a).sqrt() * (x - a.sqrt() * MU) / (a * SD**2 + 1 - a)


def _noise(n: int = 20_000, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(n, 4, generator=torch.Generator().manual_seed(0), dtype=dtype)


@pytest.mark.parametrize("steps, std_tol", [(50, 0.06), (1000, 0.01)])
def test_ddim_with_the_exact_epsilon_lands_on_the_gaussian(steps, std_tol):
    x = ddim_sample(exact_eps, SCHEDULE, _noise(), steps=steps)
    assert x.mean().item() == pytest.approx(MU, abs=0.01)
    assert x.std().item() == pytest.approx(SD, rel=std_tol)


def test_ddim_converges_as_steps_grow():
    errors = [abs(ddim_sample(exact_eps, SCHEDULE, _noise(4000), steps=s).std().item() - SD) for s in (10, 50, 250)]
    assert errors[0] > errors[1] > errors[2], errors


@pytest.mark.parametrize("variance", ["beta", "posterior"])
def test_ancestral_with_the_exact_epsilon_lands_on_the_gaussian(variance):
    x = ddpm_sample(exact_eps, SCHEDULE, _noise(), generator=torch.Generator().manual_seed(1), variance=variance)
    assert x.mean().item() == pytest.approx(MU, abs=0.01)
    assert x.std().item() == pytest.approx(SD, rel=0.02)


def test_the_wrong_epsilon_does_not_land_there():
    """The test above can fail: a zero prediction leaves the noise's N(0, 1) statistics (scaled)."""
    x = ddim_sample(lambda x, t: torch.zeros_like(x), SCHEDULE, _noise(4000), steps=50)
    assert abs(x.mean().item() - MU) > 0.2 or abs(x.std().item() - SD) > 0.2


def test_float32_works_and_ddim_is_deterministic():
    x_T = _noise(256, torch.float32)
    a = ddim_sample(exact_eps, SCHEDULE, x_T, steps=20)
    b = ddim_sample(exact_eps, SCHEDULE, x_T, steps=20)
    assert a.dtype == torch.float32 and torch.equal(a, b)
    c = ddpm_sample(exact_eps, SCHEDULE, x_T, generator=torch.Generator().manual_seed(3))
    d = ddpm_sample(exact_eps, SCHEDULE, x_T, generator=torch.Generator().manual_seed(3))
    assert torch.equal(c, d) and not torch.equal(a, c)
    assert ddpm_sample(exact_eps, SCHEDULE, 3 * x_T, clip=True).abs().max() <= 1.0


class _Recorder(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls, self.modes, self.grad = [], [], []

    def forward(self, x, t):
        self.calls.append(t.clone())
        self.modes.append(self.training)
        self.grad.append(torch.is_grad_enabled())
        return torch.zeros_like(x)


def test_samplers_visit_the_right_timesteps_in_eval_mode_and_restore_it():
    model = _Recorder().train()
    ddim_sample(model, SCHEDULE, torch.randn(3, 1, 4, 4), steps=50)
    visited = [int(t[0]) for t in model.calls]
    assert visited == ddim_timesteps(1000, 50).tolist() and visited[0] == 999 and visited[-1] == 0
    assert all(t.shape == (3,) and t.dtype == torch.long for t in model.calls)
    assert not any(model.modes) and not any(model.grad) and model.training
    model = _Recorder().eval()
    ddpm_sample(model, SCHEDULE, torch.randn(2, 1, 4, 4))
    assert [int(t[0]) for t in model.calls] == list(range(999, -1, -1)) and not model.training


def test_ddim_timesteps():
    grid = ddim_timesteps(1000, 50)
    assert grid.shape == (50,) and grid[0] == 999 and grid[-1] == 0
    assert torch.all(grid[:-1] > grid[1:])
    assert ddim_timesteps(1000, 1).tolist() == [999]
    assert ddim_timesteps(10, 10).tolist() == list(range(9, -1, -1))


def test_inputs_are_checked_with_messages_that_say_what_to_fix():
    x = torch.randn(2, 1, 4, 4)
    with pytest.raises(ValueError, match="steps must be an int between 1 and num_timesteps"):
        ddim_sample(exact_eps, SCHEDULE, x, steps=0)
    with pytest.raises(ValueError, match="steps must be an int between 1 and num_timesteps"):
        ddim_sample(exact_eps, SCHEDULE, x, steps=1001)
    with pytest.raises(ValueError, match="x_T must be a floating-point tensor"):
        ddim_sample(exact_eps, SCHEDULE, torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(TypeError, match="schedule must be a course_utils.diffusion.ddpm.DDPMSchedule"):
        ddpm_sample(exact_eps, "linear", x)
    with pytest.raises(TypeError, match="model must be callable"):
        ddim_sample(None, SCHEDULE, x)
    with pytest.raises(ValueError, match="variance must be 'beta' or 'posterior'"):
        ddpm_sample(exact_eps, SCHEDULE, x, variance="learned")
    with pytest.raises(ValueError, match="must return the predicted noise with x_t's shape"):
        ddim_sample(lambda x, t: x[:, :1, :2], SCHEDULE, torch.randn(2, 3, 4, 4), steps=5)
    with pytest.raises(ValueError, match="num_timesteps must be an int >= 2"):
        ddim_timesteps(1, 1)
