"""Unit tests of course_utils.components.sinusoidal against float64 truth."""

import math

import numpy as np
import pytest
import torch

from course_utils.reference import sinusoidal_embedding


def truth(t, d):
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    half = d // 2
    w = 10000.0 ** (-np.arange(half) / half)
    e = np.concatenate([np.sin(t[:, None] * w), np.cos(t[:, None] * w)], axis=1)
    return np.pad(e, ((0, 0), (0, d % 2)))


@pytest.mark.parametrize("d", [2, 7, 8, 256, 257])
def test_matches_float64_truth(d):
    t = torch.tensor([0, 1, 7.5, 500, 999.0])
    out = sinusoidal_embedding(t, d)
    assert out.shape == (5, d) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), truth(t.numpy(), d), atol=1e-4)


@pytest.mark.parametrize(
    "t",
    [
        3,
        2.5,
        torch.tensor(4),
        torch.tensor([1, 2], dtype=torch.int32),
        torch.tensor([999.0], dtype=torch.float16),
        torch.tensor([0.5], dtype=torch.float64),
    ],
)
def test_accepts_numbers_and_any_dtype(t):
    out = sinusoidal_embedding(t, 16)
    assert out.dtype == torch.float32 and out.dim() == 2 and out.shape[1] == 16
    ref = truth(torch.as_tensor(t).double().numpy() if isinstance(t, torch.Tensor) else t, 16)
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-4)


def test_stays_on_t_device():
    out = sinusoidal_embedding(torch.zeros(3, device="meta"), 9)
    assert out.device.type == "meta" and out.shape == (3, 9)


@pytest.mark.parametrize(
    "bad, msg",
    [
        (torch.zeros(4, 1), r"t must be 1-D \[batch\], got shape \(4, 1\)"),
        ("3", "t must be a number or a torch.Tensor"),
    ],
)
def test_rejects_bad_t_with_a_helpful_message(bad, msg):
    with pytest.raises((ValueError, TypeError), match=msg):
        sinusoidal_embedding(bad, 8)


@pytest.mark.parametrize("d", [0, 1, 2.0, True])
def test_rejects_bad_width(d):
    with pytest.raises(ValueError, match="d_emb must be an int >= 2"):
        sinusoidal_embedding(torch.zeros(2), d)


def test_max_period_changes_the_grid():
    out = sinusoidal_embedding(torch.tensor([1.0]), 4, max_period=100.0)
    np.testing.assert_allclose(out.numpy()[0], [math.sin(1), math.sin(0.1), math.cos(1), math.cos(0.1)], atol=1e-6)
