"""course_utils.diffusion.timesteps.as_times: the one rule for discrete and continuous t, and its callers."""

import pytest
import torch

from course_utils import mlp_conditioning, score2d, sinusoidal, unets, vpsde
from course_utils.diffusion.timesteps import as_times


@pytest.mark.parametrize("t", [3, 3.0, torch.tensor(3), torch.tensor([3.0])])
def test_one_time_in_any_form_is_one_entry(t):
    out = as_times(t, kind="discrete")
    assert out.shape == (1,) and out.dtype == torch.float32 and float(out[0]) == 3.0


def test_discrete_keeps_fractions_and_integer_dtypes():
    assert as_times(torch.tensor([0, 999]), kind="discrete").tolist() == [0.0, 999.0]
    assert as_times(torch.tensor([2.5]), kind="discrete").tolist() == [2.5]  # not rounded
    assert as_times(torch.tensor([5000.0]), kind="discrete").tolist() == [5000.0]  # no range


def test_continuous_refuses_step_indices_and_out_of_range():
    with pytest.raises(TypeError, match="t = k / T"):
        as_times(torch.arange(4), kind="continuous")
    with pytest.raises(ValueError, match=r"t must lie in \[0, 1\]"):
        as_times(torch.tensor([0.5, 2.0]), kind="continuous")
    assert as_times(torch.tensor([2.0]), kind="continuous", check_range=False).tolist() == [2.0]


def test_batch_broadcasts_one_time_and_checks_the_length():
    assert as_times(0.25, kind="continuous", batch=3).tolist() == [0.25] * 3
    assert as_times(torch.tensor([0.5]), kind="continuous", batch=2).shape == (2,)
    with pytest.raises(ValueError, match="t has 3 entries but x has batch size 4"):
        as_times(torch.rand(3), kind="continuous", batch=4)


@pytest.mark.parametrize(
    "bad, err, msg",
    [
        (torch.zeros(4, 1), ValueError, r"t must be 1-D \[batch\], got shape \(4, 1\)"),
        ("3", TypeError, "t must be a number or a torch.Tensor"),
        (True, TypeError, "got bool"),
        (torch.tensor([True]), TypeError, "got dtype torch.bool"),
        (torch.zeros(2, dtype=torch.complex64), TypeError, "real-valued"),
    ],
)
def test_bad_inputs_say_what_to_fix(bad, err, msg):
    for kind in ("discrete", "continuous"):
        with pytest.raises(err, match=msg):
            as_times(bad, kind=kind)


def test_dtype_none_keeps_float64_and_device_moves():
    t = torch.tensor([0.5], dtype=torch.float64)
    assert as_times(t, kind="continuous", dtype=None).dtype == torch.float64
    assert as_times(1, kind="discrete", dtype=None).dtype == torch.float32
    assert as_times(t, kind="continuous", device="meta").device.type == "meta"


def test_the_old_normalisers_are_gone_and_callers_use_this_one():
    """One rule: the five private helpers it replaced must not come back."""
    for module, name in [
        (sinusoidal, "as_timestep_batch"),
        (score2d, "_time_batch"),
        (vpsde, "_check_t"),
        (vpsde, "_time_column"),
    ]:
        assert not hasattr(module, name), f"{module.__name__}.{name} duplicates as_times"
    assert not hasattr(mlp_conditioning, "_times")
    for module in (sinusoidal, score2d, vpsde, unets, mlp_conditioning):
        assert module.as_times is as_times
