"""Lesson 04's U-Nets: shapes, the fixed seed bug, time conditioning, parameter counts."""

from __future__ import annotations

import pytest
import torch

from course_utils import reference
from course_utils.reference import UNetSimple as RefSimple, UNetSinusoidal as RefSinusoidal
from course_utils.components.unets import UNetAdaGN, UNetScalar, UNetSimple, UNetSinusoidal, count_parameters

MODELS = [UNetSimple, UNetSinusoidal, UNetScalar, UNetAdaGN]


pytestmark = pytest.mark.usefixtures("one_cpu_thread")  # see conftest.py


@pytest.mark.parametrize("cls", MODELS)
def test_output_shape(cls):
    torch.manual_seed(0)
    out = cls()(torch.randn(3, 1, 28, 28), torch.tensor([0, 500, 999]))
    assert out.shape == (3, 1, 28, 28) and out.dtype == torch.float32


@pytest.mark.parametrize("cls", MODELS)
def test_backward_works(cls):
    """The original notebook's UNetSimple failed here (in-place write into a ReLU output)."""
    torch.manual_seed(0)
    model = cls()
    loss = model(torch.randn(4, 1, 28, 28), torch.tensor([1, 2, 3, 4])).square().mean()
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.time_embed.mlp[0].weight.grad.abs().sum() > 0  # time layers are trained too
    if cls is UNetAdaGN:  # every block's AdaGN projection receives a gradient
        projections = [m.proj for m in model.modules() if isinstance(m, reference.AdaGN)]
        assert len(projections) == 13 and all(p.weight.grad.abs().sum() > 0 for p in projections)


def test_the_seed_inplace_version_really_breaks_backward():
    """Documents the bug the course fixes: same network, the original notebook's in-place addition."""

    class SeedStyle(UNetSimple):
        def forward(self, x, t):
            e1 = self.enc1(x)
            e2 = self.enc2(self.pool1(e1))
            b = self.bottleneck(self.enc3(self.pool2(e2)))
            b[:, :128, :, :] = b[:, :128, :, :] + self.time_embed(t).view(-1, 128, 1, 1)
            d3 = self.dec3(torch.cat([self.up3(b), e2], dim=1))
            return self.final(self.dec2(torch.cat([self.up2(d3), e1], dim=1)))

    out = SeedStyle()(torch.randn(2, 1, 28, 28), torch.tensor([3, 7]))
    with pytest.raises(RuntimeError, match="inplace"):
        out.sum().backward()


@pytest.mark.parametrize("cls", MODELS)
def test_different_t_gives_different_output(cls):
    torch.manual_seed(0)
    model = cls().eval()
    x = torch.randn(1, 1, 28, 28).repeat(2, 1, 1, 1)  # (1, ...) -> (2, ...): same image twice
    with torch.no_grad():
        out = model(x, torch.tensor([10, 900]))
    assert (out[0] - out[1]).abs().max() > 1e-4


def test_where_each_model_injects_time():
    torch.manual_seed(0)
    t = torch.tensor([5, 600])
    simple = UNetSimple().time_offset(t)
    sinus = UNetSinusoidal().time_offset(t)
    assert simple.shape == sinus.shape == (2, 256)
    assert torch.all(simple[:, 128:] == 0) and simple[:, :128].abs().sum() > 0
    assert torch.all(sinus.abs().sum(dim=0) > 0)  # all 256 channels receive time


def test_parameter_counts_and_seed_names():
    assert count_parameters(UNetSimple()) == 1_834_913  # the original notebook's model
    assert count_parameters(UNetSinusoidal()) == 2_343_713  # + TimestepEmbedding + Linear(512, 256)
    keys = UNetSinusoidal().state_dict().keys()
    assert {
        "time_embed.mlp.0.weight",
        "time_proj.weight",
        "enc1.conv.0.weight",
        "bottleneck.conv.3.weight",
        "final.3.bias",
    } <= set(keys)
    with pytest.raises(TypeError, match="nn.Module"):
        count_parameters("not a model")


def test_same_seed_gives_identical_backbones():
    torch.manual_seed(7)
    a = UNetSimple().state_dict()
    torch.manual_seed(7)
    b = UNetSinusoidal().state_dict()
    shared = [k for k in a if not k.startswith("time_")]
    assert len(shared) > 50 and all(torch.equal(a[k], b[k]) for k in shared)


def test_inputs_are_checked_with_useful_messages():
    model = UNetSimple()
    with pytest.raises(ValueError, match=r"t must be 1-D \[batch\], got shape \(4, 1\)"):
        model(torch.randn(4, 1, 28, 28), torch.zeros(4, 1))
    with pytest.raises(ValueError, match="batch 4"):
        model(torch.randn(4, 1, 28, 28), torch.zeros(3))
    with pytest.raises(ValueError, match=r"x must be \[B, 1, H, W\]"):
        model(torch.randn(4, 3, 28, 28), torch.zeros(4))


def test_reference_exports():
    assert RefSimple is UNetSimple and RefSinusoidal is UNetSinusoidal


def _shapes(model):
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_scalar_and_sinusoidal_differ_only_in_the_time_paths_first_linear():
    """The fair pair: same names and shapes everywhere except time_embed.mlp.0.weight."""
    scalar, sinus = _shapes(UNetScalar()), _shapes(UNetSinusoidal())
    assert scalar.keys() == sinus.keys()
    differing = {k for k in scalar if scalar[k] != sinus[k]}
    assert differing == {"time_embed.mlp.0.weight"}
    assert scalar["time_embed.mlp.0.weight"] == (512, 1) and sinus["time_embed.mlp.0.weight"] == (512, 256)
    assert count_parameters(UNetSinusoidal()) - count_parameters(UNetScalar()) == 512 * 255
    assert isinstance(UNetScalar().time_embed.mlp[1], torch.nn.GELU)  # the same activation
    assert UNetScalar().time_embed.mlp[1].approximate == "none"


def test_same_seed_gives_the_fair_pair_identical_backbones():
    torch.manual_seed(3)
    a = UNetScalar().state_dict()
    torch.manual_seed(3)
    b = UNetSinusoidal().state_dict()
    shared = [k for k in a if not k.startswith("time_")]
    assert len(shared) > 50 and all(torch.equal(a[k], b[k]) for k in shared)


@pytest.mark.parametrize("cls", [UNetScalar, UNetSinusoidal])
def test_only_t_changes_all_256_bottleneck_channels(cls):
    """Same image, two timesteps: every bottleneck channel (after the time offset) differs."""
    torch.manual_seed(0)
    model = cls().eval()
    seen = {}
    model.up3.register_forward_hook(lambda mod, inp, out: seen.setdefault("b", []).append(inp[0]))
    x = torch.randn(1, 1, 28, 28).repeat(2, 1, 1, 1)  # (1, ...) -> (2, ...): same image twice
    with torch.no_grad():
        model(x, torch.tensor([10, 700]))
    b = seen["b"][0]  # (2, 256, 7, 7): the bottleneck with its time offset, as up3 receives it
    assert b.shape == (2, 256, 7, 7)
    changed = (b[0] - b[1]).abs().amax(dim=(1, 2))  # (256, 7, 7) -> (256,)
    assert bool(torch.all(changed > 0)), f"{int((changed == 0).sum())} channels ignore t"


def test_simple_changes_only_half_the_bottleneck_channels():
    """The contrast that makes UNetSimple unfair: channels 128..255 never see t."""
    torch.manual_seed(0)
    model = UNetSimple().eval()
    seen = []
    model.up3.register_forward_hook(lambda mod, inp, out: seen.append(inp[0]))
    x = torch.randn(1, 1, 28, 28).repeat(2, 1, 1, 1)  # (1, ...) -> (2, ...)
    with torch.no_grad():
        model(x, torch.tensor([10, 700]))
    changed = (seen[0][0] - seen[0][1]).abs().amax(dim=(1, 2))  # (256, 7, 7) -> (256,)
    assert bool(torch.all(changed[:128] > 0)) and bool(torch.all(changed[128:] == 0))


def test_adagn_unet_uses_group_norm_only_and_conditions_every_block():
    model = UNetAdaGN()
    kinds = {type(m).__name__ for m in model.modules()}
    assert "BatchNorm2d" not in kinds and "GroupNorm" in kinds
    blocks = ["enc1", "enc2", "enc3", "bottleneck", "dec3", "dec2"]
    assert all(isinstance(getattr(model, b).norm1, reference.AdaGN) for b in blocks)
    # GroupNorm works per sample: a sample's output does not depend on the rest of the batch
    model.train()
    torch.manual_seed(0)
    x, t = torch.randn(4, 1, 28, 28), torch.tensor([1, 200, 400, 999])
    with torch.no_grad():
        full = model(x, t)
        alone = model(x[:1], t[:1])
    assert torch.allclose(full[:1], alone, atol=1e-5)
    with pytest.raises(ValueError, match="num_groups must be a positive int dividing"):
        UNetAdaGN(num_groups=5)
    with pytest.raises(ValueError, match=r"x must be \[B, 1, H, W\]"):
        model(torch.randn(2, 1, 30, 30), torch.zeros(2))
    with pytest.raises(ValueError, match="batch 2"):
        model(torch.randn(2, 1, 28, 28), torch.zeros(3))


def test_new_arms_are_exported_from_reference():
    assert reference.UNetScalar is UNetScalar and reference.UNetAdaGN is UNetAdaGN
    assert {"UNetScalar", "UNetAdaGN"} <= set(reference.__all__)
