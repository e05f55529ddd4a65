"""Lesson 04's solution UNetSinusoidal is the course's reference UNetSinusoidal.

The solution cell is executed on its own (with the names the notebook's setup cell provides);
the two networks must have the same weight names and shapes, start from the same weights under
the same seed, and give the same outputs and gradients once they hold the same weights.
"""

import math

import torch
import torch.nn.functional as F

from gradekit import solution_source
from course_utils import reference
from course_utils.reference import TimestepEmbedding
from course_utils.components.unets import ConvBlock, SimpleTimestepEmbed, UNetSimple, count_parameters

A = "04_mnist_simple_vs_sinusoidal"


def _solution_class():
    ns = {
        "torch": torch,
        "nn": torch.nn,
        "F": F,
        "math": math,
        "ConvBlock": ConvBlock,
        "TimestepEmbedding": TimestepEmbedding,
        "SimpleTimestepEmbed": SimpleTimestepEmbed,
        "UNetSimple": UNetSimple,
    }
    exec(compile(solution_source(A, "unet_sinusoidal_impl"), f"<{A}>", "exec"), ns)
    return ns["UNetSinusoidal"]


def test_same_weight_names_shapes_and_initialisation():
    ours = _solution_class()
    torch.manual_seed(5)
    mine = ours()
    torch.manual_seed(5)
    ref = reference.UNetSinusoidal()
    a, b = mine.state_dict(), ref.state_dict()
    assert list(a) == list(b)
    for k in a:
        assert a[k].shape == b[k].shape, k
        assert torch.equal(a[k], b[k]), f"{k} differs at initialisation under the same seed"
    assert count_parameters(mine) == count_parameters(ref) == 2_343_713


def test_same_outputs_and_gradients_with_copied_weights():
    ours = _solution_class()
    torch.manual_seed(0)
    ref = reference.UNetSinusoidal()
    torch.manual_seed(123)  # a different initialisation, then overwritten
    mine = ours()
    mine.load_state_dict(ref.state_dict())
    g = torch.Generator().manual_seed(7)
    x = torch.randn(6, 1, 28, 28, generator=g)
    t = torch.randint(0, 1000, (6,), generator=g)
    for mode in ("eval", "train"):
        getattr(mine, mode)()
        getattr(ref, mode)()
        mine.zero_grad()
        ref.zero_grad()
        out_mine, out_ref = mine(x, t), ref(x, t)
        torch.testing.assert_close(out_mine, out_ref, atol=1e-5, rtol=1e-5)
        out_mine.square().mean().backward()
        out_ref.square().mean().backward()
        grads_ref = dict(ref.named_parameters())
        for name, p in mine.named_parameters():
            torch.testing.assert_close(p.grad, grads_ref[name].grad, atol=1e-5, rtol=1e-4, msg=name)
