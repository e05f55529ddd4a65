"""Lesson 05's solution components give the same outputs as the course's own implementations.

The solution cells are executed from the committed solution notebook; their outputs are compared,
on random inputs and with copied weights, with ``course_utils.reference.ScoreNetworkWithFiLM`` and
with ``dsm_loss`` / ``reverse_sde_step`` of ``course_utils.diffusion.vpsde``.
"""

import math

import pytest
import torch
from torch import nn

from gradekit import solution_source
from course_utils import reference
from course_utils.diffusion.vpsde import VPSDE, dsm_loss, reverse_sde_step

A = "05_film_score_network_2d"
SDE = VPSDE()


def _exec(grade_id: str) -> dict:
    ns = {"torch": torch, "nn": nn, "math": math, "sinusoidal_embedding": reference.sinusoidal_embedding}
    exec(compile(solution_source(A, grade_id), f"<{A}:{grade_id}>", "exec"), ns)
    return ns


def _reference_key(key: str) -> str:
    """The notebook's FiLM layers are plain Linears; the reference wraps each in a FiLM module (``.proj``)."""
    for i in (1, 2, 3):
        key = key.replace(f"film{i}.", f"film{i}.proj.")
    return key


@pytest.mark.parametrize("identity_init, t_scale", [(True, 1000.0), (False, 1000.0), (True, 1.0)])
def test_score_network_matches_reference(identity_init, t_scale):
    cls = _exec("film_forward_impl")["ScoreNetworkWithFiLM"]
    torch.manual_seed(0)
    ref = reference.ScoreNetworkWithFiLM(film_init="identity" if identity_init else "default", t_scale=t_scale)
    mine = cls(identity_init=identity_init, t_scale=t_scale)
    ref_state = ref.state_dict()
    mine_state = mine.state_dict()
    assert {_reference_key(k) for k in mine_state} == set(ref_state)
    # The freshly built networks agree in everything that is not random (the identity init).
    if identity_init:
        for k, v in mine_state.items():
            if k.startswith("film"):
                torch.testing.assert_close(v, ref_state[_reference_key(k)])
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for k, v in ref_state.items():
            v.copy_(0.3 * torch.randn(v.shape, generator=g))  # random weights, FiLM included
    mine.load_state_dict({k: ref_state[_reference_key(k)] for k in mine_state})
    x = 2.0 * torch.randn(64, 2, generator=g)
    t = SDE.eps + (1 - SDE.eps) * torch.rand(64, generator=g)
    torch.testing.assert_close(mine(x, t), ref(x, t), atol=1e-5, rtol=1e-5)
    assert sum(p.numel() for p in mine.parameters()) == sum(p.numel() for p in ref.parameters()) == 59_010


def test_dsm_loss_matches_vpsde():
    mine = _exec("dsm_loss_impl")["dsm_loss"]
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 32), nn.SiLU(), nn.Linear(32, 2))
    model = lambda x, t: net(torch.cat([x, t[:, None]], dim=1))  # noqa: E731
    g = torch.Generator().manual_seed(2)
    for _ in range(3):
        x0 = torch.randn(128, 2, generator=g)
        t = SDE.eps + (1 - SDE.eps) * torch.rand(128, generator=g)
        z = torch.randn(128, 2, generator=g)
        torch.testing.assert_close(mine(model, x0, SDE, t, z), dsm_loss(model, x0, SDE, t, z))
    # Drawn times and noise: same distribution of the loss as the course's version (a zero score: E|z|^2 = 2).
    zero = lambda x, t: torch.zeros_like(x)  # noqa: E731
    assert abs(float(mine(zero, torch.zeros(50_000, 2), SDE)) - 2.0) < 0.05


def test_reverse_step_matches_vpsde():
    step = _exec("reverse_step_impl")["reverse_sde_step"]
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 32), nn.SiLU(), nn.Linear(32, 2))
    model = lambda x, t: net(torch.cat([x, t[:, None]], dim=1))  # noqa: E731
    g = torch.Generator().manual_seed(3)
    for t, dt in [(1.0, 0.002), (0.5, 0.01), (0.01, 0.001)]:
        x = torch.randn(64, 2, generator=g)
        z = torch.randn(64, 2, generator=g)
        with torch.no_grad():
            torch.testing.assert_close(step(model, x, t, dt, SDE, z), reverse_sde_step(model, x, t, dt, SDE, z))
            torch.testing.assert_close(
                step(model, x, t, dt, SDE, torch.zeros_like(x)), reverse_sde_step(model, x, t, dt, SDE, None)
            )
