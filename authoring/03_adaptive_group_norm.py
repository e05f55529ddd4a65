# %% [markdown]
# # Lesson 03 · Adaptive group normalization
#
# **Estimated time:** 45–55 minutes · **GPU:** not needed · **Level:** one [Supported] exercise, the rest [Guided]
#
# In lesson 02 a FiLM layer scaled and shifted features by amounts computed from `t`. Diffusion U-Nets
# since Dhariwal & Nichol (2021) do the same thing one step later: they first *normalise* the
# features, then let `t` choose the scale and shift. That is adaptive group normalization, AdaGN.
# It is a small change to code you know (GroupNorm), and it changes how the network behaves in ways
# you can measure.
#
# **You will:**
# 1. implement `AdaGN` by filling in five TODOs, in two places (graded);
# 2. feed one feature map through it at different timesteps and look at what changes;
# 3. plot `gamma(t)` and `beta(t)` for every channel and timestep;
# 4. measure why the formula says `(1 + gamma)` and not `gamma`;
# 5. put FiLM and AdaGN into the reference note's conv block, and see what the normalisation buys;
# 6. meet time-modulated skip connections;
# 7. measure parameters and time per forward pass of five conditioning methods, side by side;
# 8. drag a `t` slider and watch gamma, beta and the feature map move.
#
# Before each code cell marked **Predict before running**, write your guess down first.

# %% [setup] needs_gpu=no
import math

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F

# Lesson 02's modules, finished: the course's reference versions (same conventions as yours).
from course_utils.reference import FiLM, TimestepEmbedding

# This lesson's models are tiny: one CPU thread runs them faster than several threads
# competing for the cores (see course_utils/cpu_threads.py). Results are the same.
torch.set_num_threads(1)

# %% [markdown]
# ## 1 · From GroupNorm to AdaGN
#
# **GroupNorm** (Wu & He, 2018) splits the `C` channels of each sample into `G` groups of `C / G`
# channels, and normalises each group to mean 0 and variance 1 over its channels and pixels:
#
# $$\hat h = \frac{h - \mu_{\text{group}}}{\sqrt{\sigma^2_{\text{group}} + \epsilon}}, \qquad \epsilon = 10^{-5}.$$
#
# The statistics come from **one sample at a time**: unlike BatchNorm, nothing depends on the other
# images in the batch, so training with batch 2 and sampling with batch 1 behave the same. (The
# reference note's table says AdaGN "requires batch statistics": it does not; that is BatchNorm.)
# Plain GroupNorm then applies a learned per-channel scale and shift, the same for every input.
#
# **AdaGN** removes those fixed parameters and computes the scale and shift from the time embedding:
#
# $$\text{AdaGN}(h, t) = (1 + \gamma(t)) \odot \hat h + \beta(t), \qquad [\gamma(t), \beta(t)] = W\,t_\text{emb} + b .$$
#
# One Linear layer produces both (`2C` numbers per sample), `gamma` first. They are reshaped to
# `[B, C, 1, 1]` so that each channel gets one scale and one shift for all its pixels. The `1 +` means
# that a projection that outputs zeros leaves the normalised features unchanged; section 4 measures
# why that matters.
#
# **Which AdaGN this is.** The course's layer matches diffusers' `AdaGroupNorm(act_fn=None)`: GroupNorm
# without affine parameters, then one Linear on the embedding as it arrives. Dhariwal & Nichol's code
# (guided-diffusion, `use_scale_shift_norm=True`) differs in two details: it applies SiLU to the
# embedding before the projection, and it keeps GroupNorm's own learned scale and shift, applying
# `(1 + gamma(t))` and `beta(t)` after them. Nor is this what every well-known model does: the
# reference note lists AdaGN/FiLM as "used in Stable Diffusion", but Stable Diffusion v1's ResBlocks
# *add* the projected time embedding to the features (`use_scale_shift_norm=False`), DDPM's choice.
#
# ### Exercise 1 [Supported] — fill in the TODOs of `AdaGN`
#
# Hints, if you want them:
# * `nn.GroupNorm(num_groups, num_channels, eps=1e-5, affine=False)`: `affine=False` removes GroupNorm's own
#   scale and shift, which AdaGN replaces;
# * `nn.Linear(d_emb, 2 * num_channels)`;
# * `out.chunk(2, dim=-1)` splits `[B, 2C]` into two `[B, C]` tensors, the first one is gamma;
# * `gamma[:, :, None, None]` (or `gamma.reshape(B, C, 1, 1)`) turns `[B, C]` into `[B, C, 1, 1]`;
# * no activation on `t_emb` inside this layer: the projection is linear.

# %% [solution] id=adagn_impl
class AdaGN(nn.Module):
    """Adaptive group normalization: (1 + gamma(t)) * GroupNorm(x) + beta(t)."""

    def __init__(self, num_channels, d_emb, num_groups=32):
        super().__init__()
        # TODO 1: self.norm = a GroupNorm with num_groups groups over num_channels channels,
        #         WITHOUT its own learnable scale and shift, and eps=1e-5
        # TODO 2: self.proj = one Linear layer from d_emb to 2 * num_channels (gamma and beta together)
        # (replace the raise below with both lines)
        ### BEGIN SOLUTION
        self.norm = nn.GroupNorm(num_groups, num_channels, eps=1e-5, affine=False)
        self.proj = nn.Linear(d_emb, 2 * num_channels)
        ### END SOLUTION

    def forward(self, x, t_emb):
        h = self.norm(x)                                   # [B, C, H, W], normalised per group
        # TODO 3: gamma, beta = self.proj(t_emb) split in two along the last dim (gamma first)
        # TODO 4: reshape gamma and beta from [B, C] to [B, C, 1, 1]
        # TODO 5: return (1 + gamma) * h + beta
        # (replace the raise below with your lines: AdaGN(...) can be built once TODOs 1-2 are done)
        ### BEGIN SOLUTION
        gamma, beta = self.proj(t_emb).chunk(2, dim=-1)    # (B, 2C) -> 2 x (B, C)
        gamma = gamma[:, :, None, None]                    # (B, C) -> (B, C, 1, 1)
        beta = beta[:, :, None, None]                      # (B, C) -> (B, C, 1, 1)
        return (1 + gamma) * h + beta
        ### END SOLUTION

# %% [tests] id=check_adagn points=2
# Visible checks: run this cell. Each message starts with [the mistake it found] and says what you
# should have seen. Some checks set the projection to designed weights, so gamma and beta are known.
torch.manual_seed(0)
_ada = AdaGN(64, 512)
# Channels with different means and spreads, so that normalising over the wrong axes shows.
_x = (torch.randn(2, 64, 8, 8) + torch.arange(64.0)[None, :, None, None] * 0.1) * torch.linspace(0.5, 3.0, 64)[None, :, None, None]
_e = torch.randn(2, 512)
try:
    _out = _ada(_x, _e)
except RuntimeError as _err:
    raise AssertionError(
        "[broadcast] AdaGN on x [2, 64, 8, 8] raised an error: reshape gamma and beta from [B, C] to [B, C, 1, 1] "
        f"(the channel axis stays in position 1). PyTorch said: {_err}") from None
assert isinstance(_out, torch.Tensor), f"[return type] forward should return a torch.Tensor, got {type(_out).__name__}"
assert tuple(_out.shape) == (2, 64, 8, 8), (
    f"[broadcast] the output should keep the input's shape (2, 64, 8, 8), got {tuple(_out.shape)}. "
    "Reshape gamma and beta to [B, C, 1, 1].")
_n = sum(p.numel() for p in _ada.parameters())
assert _n != 512 * 128 + 128 + 128, (
    "[affine=False] AdaGN(64, 512) has 65,792 parameters: the GroupNorm still has its own scale and shift. "
    "Use affine=False: gamma and beta come from t_emb instead.")
assert _n == 512 * 128 + 128, (
    f"[one Linear] AdaGN(64, 512) should have 65,664 parameters (only one Linear(512, 128)), got {_n:,}")
_lin = [m for m in _ada.modules() if isinstance(m, nn.Linear)]
assert len(_lin) == 1, f"[one Linear] AdaGN should hold exactly one nn.Linear, found {len(_lin)}"
_plain = F.group_norm(_x, 32, eps=1e-5)  # what GroupNorm(32 groups, eps=1e-5) without affine gives
# Designed weights 1: a zero projection, so gamma = beta = 0 and AdaGN must return plain GroupNorm(x).
with torch.no_grad():
    _lin[0].weight.zero_()
    _lin[0].bias.zero_()
    _z = _ada(_x, _e)
assert _z.abs().max() > 0, "[1 + gamma] with a zero projection the output is all zeros: did you forget the '1 +' in (1 + gamma)?"
assert torch.allclose(_z, _plain, atol=1e-4), (
    "[groups] with a zero projection AdaGN should return plain GroupNorm(x) with 32 groups (of 2 channels each) "
    f"and eps=1e-5; the largest difference is {(_z - _plain).abs().max().item():.3g}. Check num_groups (the "
    "default is 32), that you normalise per group (not per channel, not over the whole sample) and eps.")
# Designed weights 2: weight 0 and bias [gamma..., beta...]: every sample gets these 64 gammas and 64 betas.
_gamma, _beta = torch.linspace(-0.5, 1.5, 64), torch.linspace(1.0, -1.0, 64)
_c = lambda v: v[None, :, None, None]  # (C,) -> (1, C, 1, 1)
with torch.no_grad():
    _lin[0].bias.copy_(torch.cat([_gamma, _beta]))
    _got = _ada(_x, _e)
assert not torch.allclose(_got, _c(1 + _beta) * _plain + _c(_gamma), atol=1e-4), (
    "[gamma first] gamma and beta are swapped: the first half of the projection is gamma (the scale), "
    "the second half beta (the shift).")
assert not torch.allclose(_got, _c(_gamma) * _plain + _c(_beta), atol=1e-4), (
    "[1 + gamma] your AdaGN computes gamma * h + beta: AdaGN's scale is (1 + gamma), so that a zero projection "
    "leaves GroupNorm(x) unchanged.")
assert torch.allclose(_got, _c(1 + _gamma) * _plain + _c(_beta), atol=1e-4), (
    "[(1 + gamma) * h + beta] with weight 0 and bias [gamma..., beta...] the output should be "
    "(1 + gamma) * GroupNorm(x) + beta, channel by channel; the largest difference is "
    f"{(_got - (_c(1 + _gamma) * _plain + _c(_beta))).abs().max().item():.3g}. Is the channel axis in position 1?")
# Designed weights 3: gamma and beta depend on t_emb. The projection is linear in t_emb: no activation on t_emb.
with torch.no_grad():
    _lin[0].weight.copy_(0.05 * torch.cos(torch.arange(128.0)[:, None] + 0.3 * torch.arange(512.0)[None, :]))
    _got = _ada(_x, _e)
    _p = _e @ _lin[0].weight.T + _lin[0].bias  # (2, 512) @ (512, 128) -> (2, 128): [gamma, beta] per sample
_want = (1 + _p[:, :64, None, None]) * _plain + _p[:, 64:, None, None]  # (2, 64) -> (2, 64, 1, 1)
assert torch.allclose(_got, _want, atol=1e-4), (
    "[linear in t_emb] with designed weights, gamma and beta should be exactly the projection of t_emb "
    "(no SiLU or other activation on t_emb inside AdaGN, each sample its own t_emb); the largest difference is "
    f"{(_got - _want).abs().max().item():.3g}.")
print("Basic checks passed: shape, 65,664 parameters, plain GroupNorm at a zero projection, (1 + gamma) * h + beta.")
### BEGIN HIDDEN TESTS
from course_utils.grading import probe_helpers as _h
from course_utils.grading.probe import Probe as _Probe

_o = _Probe("check_adagn")
_o.call("linears", _h.linear_layout, _h.build(AdaGN, 8, 6, 2))
_o.emit()
### END HIDDEN TESTS

# %% [judgelib]
def expect_linears(key, sizes, owner):
    """The probe found exactly these Linear layers [(in, out), ...] in ``owner``, each with a bias."""
    found = obs.texts(key, f"the Linear layers of {owner}")
    names = [f"Linear({i}, {o})" for i, o in sizes]
    expect(sorted(found) == sorted(names),
           f"expected exactly {' and '.join(names)} inside {owner}, each with a bias; found {found or 'none'}")


def expect_designed(key, owner):
    """The probe could give ``owner``'s Linear layer its designed weights."""
    error = obs.failed(key)
    expect(error is None, f"the hidden checks could not prepare {owner} with designed weights: {error}")
    expect(obs.has(key), f"the hidden checks recorded no designed weights for {owner}")


def result(key, what, shape):
    """The tensor recorded under ``key``: a plain torch.Tensor of this shape."""
    t = obs.tensor(key, what)
    expect(t.type == "Tensor", f"{what} should be a plain torch.Tensor, got a {t.type}")
    expect_shape(t, shape, what)
    return t


def at(t, index):
    """One value of a recorded tensor, by its index (b, c, i, j)."""
    flat, stride = 0, 1
    for i, n in reversed(list(zip(index, t.shape))):
        flat += i * stride
        stride *= n
    return t.flat()[flat]


def channels(t):
    """The values of a [B, C, H, W] tensor, channel by channel: [B][C] lists of H * W floats."""
    B, C, H, W = t.shape
    v = t.flat()
    return [[v[(b * C + c) * H * W:(b * C + c + 1) * H * W] for c in range(C)] for b in range(B)]


def channel_sums(t):
    """Per-channel sums of a [B, C, H, W] tensor, as [B][C] floats (double precision)."""
    return [[sum(ch) for ch in sample] for sample in channels(t)]


def channel_squares(t):
    """Per-channel sums of squares of a [B, C, H, W] tensor, as [B][C] floats (double precision)."""
    return [[sum(x * x for x in ch) for ch in sample] for sample in channels(t)]

# %% [judge] id=check_adagn
expect_linears("linears", [(6, 16)], "AdaGN(8, 6, 2)")

# %% [tests] id=hidden_adagn_structure points=2
# Hidden tests: the parameters (only the projection) and the default of 32 groups.
### BEGIN HIDDEN TESTS
import torch as _torch
from course_utils.grading import probe_helpers as _h
from course_utils.grading.probe import Probe as _Probe

_o = _Probe("hidden_adagn_structure")
_a = _h.build(AdaGN, 8, 6, num_groups=2, seed=0)
_o.call("linears", _h.linear_layout, _a)
_o.call("params", _h.count_parameters, _a)
_a = _h.build(AdaGN, 64, 5, seed=0)
_o.record("designed", lambda: _h.set_linears(_a, "AdaGN", (_torch.zeros(128, 5), _torch.zeros(128))))
_o.call("out", _a, _h.wave_features(1, 64, 2, 2), _torch.ones(1, 5))
_o.emit()
### END HIDDEN TESTS

# %% [judge] id=hidden_adagn_structure
expect_linears("linears", [(6, 16)], "AdaGN(8, 6, num_groups=2)")
expect(obs.integer("params", "the parameter count of AdaGN(8, 6, num_groups=2)") == 112,
       "AdaGN(8, 6, num_groups=2) should have no parameters besides its Linear(6, 16)")
expect_designed("designed", "AdaGN(64, 5)")
_out = result("out", "AdaGN(64, 5) on x [1, 64, 2, 2]", (1, 64, 2, 2))
_sums = channel_sums(_out)
expect_close([_sums[0][c] for c in [0, 1, 10, 11, 40, 63]],
             [-2.86304003, 2.86304003, -3.59779903, 3.59779903, -3.57820261, 3.63378226], atol=1e-4,
             name="AdaGN(64, 5) with a zero projection (plain GroupNorm: default groups, eps)")
expect_close([at(_out, (0, 1, 0, 1)), at(_out, (0, 62, 1, 0))], [1.11761288, -0.880276917], atol=1e-4,
             name="AdaGN(64, 5) with a zero projection (plain GroupNorm: default groups, eps)")

# %% [tests] id=hidden_adagn_values points=4
# Hidden tests: gamma and beta (order, the 1 +, no activation) and the groups, with designed weights.
### BEGIN HIDDEN TESTS
import math as _math

from course_utils.grading import probe_helpers as _h
from course_utils.grading.probe import Probe as _Probe

_o = _Probe("hidden_adagn_values")
_a = _h.build(AdaGN, 8, 6, num_groups=2, seed=0)
_o.record("designed", lambda: _h.set_linears(
    _a, "AdaGN",
    (_h.grid((16, 6), lambda i, j: 0.3 * _math.sin(0.5 + 0.8 * i + 1.1 * j)),
     _h.grid((16,), lambda i: 0.2 * _math.cos(0.4 + 0.7 * i)))))
_o.call("out", _a, _h.wave_features(2, 8, 3, 3), _h.grid((2, 6), lambda b, j: 1.2 * _math.cos(0.6 + 1.4 * b + 0.9 * j)))
_o.emit()
### END HIDDEN TESTS

# %% [judge] id=hidden_adagn_values
expect_designed("designed", "AdaGN(8, 6, num_groups=2)")
_out = result("out", "AdaGN(8, 6, num_groups=2) on x [2, 8, 3, 3]", (2, 8, 3, 3))
expect_close(channel_sums(_out), [
    [6.93809807, 9.69644038, -6.53128117, 10.1050273, -5.04482461, -10.0416101, -9.38038028, 6.10446812],
    [-6.35208833, -5.01418406, 0.0404436641, 32.7428798, 4.81028381, -10.705627, -8.11286167, -8.90015881]],
    atol=1e-4, rtol=1e-4, name="per-channel sums of AdaGN's output with designed weights")
expect_close(channel_squares(_out), [
    [6.53300804, 30.0634076, 11.1070311, 30.2372781, 2.96625645, 11.2341378, 9.84068559, 9.39226496],
    [4.53177942, 4.11621603, 10.1147594, 132.726322, 11.8558043, 14.1543587, 8.22716843, 8.80981477]],
    atol=1e-4, rtol=1e-4, name="per-channel sums of squares of AdaGN's output with designed weights")
expect_close([at(_out, (0, 0, 0, 0)), at(_out, (1, 5, 2, 1)), at(_out, (0, 7, 1, 2))],
             [-0.0444482543, -1.37994021, 1.39317598], atol=1e-4,
             name="single values of AdaGN's output with designed weights")

# %% [tests] id=hidden_adagn_eps points=2
# Hidden tests: GroupNorm's eps on features whose std is about 1e-3, where eps matters.
### BEGIN HIDDEN TESTS
import torch as _torch
from course_utils.grading import probe_helpers as _h
from course_utils.grading.probe import Probe as _Probe

_o = _Probe("hidden_adagn_eps")
_a = _h.build(AdaGN, 4, 3, num_groups=2, seed=0)
_o.record("designed", lambda: _h.set_linears(_a, "AdaGN", (_torch.zeros(8, 3), _torch.zeros(8))))
_o.call("out", _a, _h.wave_features(1, 4, 3, 3, scale=1e-3), _torch.ones(1, 3))  # features with a std of about 1e-3
_o.emit()
### END HIDDEN TESTS

# %% [judge] id=hidden_adagn_eps
expect_designed("designed", "AdaGN(4, 3, num_groups=2)")
_out = result("out", "AdaGN(4, 3, num_groups=2) on x [1, 4, 3, 3]", (1, 4, 3, 3))
expect_close([at(_out, (0, 0, 0, 0)), at(_out, (0, 1, 2, 2)), at(_out, (0, 2, 1, 0)), at(_out, (0, 3, 0, 2))],
             [-0.102625586, -0.263187035, -0.234920414, 0.0975121478], atol=1e-4,
             name="AdaGN with a zero projection on features of std ~1e-3 (GroupNorm's eps)")
expect_close(channel_squares(_out), [[0.0221590663, 0.226358068, 0.387469035, 0.943524594]], atol=1e-4,
             name="AdaGN with a zero projection on features of std ~1e-3 (GroupNorm's eps)")

# %% [markdown]
# ## 2 · One feature map, different timesteps
#
# Take one feature map: 64 channels of 16 × 16 stripes with different directions, sizes and offsets
# (a stand-in for what a conv layer produces). Feed it through an (untrained) AdaGN with the
# embeddings of `t = 50` and `t = 950`.
#
# **Predict before running.** The input is identical and the network is untrained. Will the two outputs
# be identical, barely different, or very different? Which parts of the picture will differ: the
# stripe patterns, or their contrast and brightness?

# %%
g = torch.Generator().manual_seed(0)
yy, xx = torch.meshgrid(torch.linspace(-1, 1, 16), torch.linspace(-1, 1, 16), indexing="ij")
freq = torch.rand(64, 2, generator=g) * 6 - 3              # stripe direction and frequency per channel
phase = torch.rand(64, generator=g) * 2 * math.pi
amp = torch.rand(64, generator=g) * 2 + 0.5
offset = torch.randn(64, generator=g)
waves = torch.sin(math.pi * (freq[:, 0, None, None] * xx + freq[:, 1, None, None] * yy) + phase[:, None, None])
feature_map = (amp[:, None, None] * waves + offset[:, None, None])[None]   # [1, 64, 16, 16]

torch.manual_seed(0)
t_embed = TimestepEmbedding(256, 512)
adagn = AdaGN(64, 512)                                     # your class, 32 groups of 2 channels

with torch.no_grad():
    emb = t_embed(torch.tensor([50, 950]))                 # [2, 512]
    out = adagn(feature_map.expand(2, -1, -1, -1), emb)    # same x twice, two timesteps -> [2, 64, 16, 16]
diff = (out[0] - out[1]).abs()
print(f"identical outputs?           {torch.equal(out[0], out[1])}")
print(f"mean |out(50) - out(950)|    {diff.mean():.4f}")
print(f"max  |out(50) - out(950)|    {diff.max():.4f}")
print(f"mean |out|                   {out.abs().mean():.4f}")

channels = [0, 1, 2, 3]
fig, axes = plt.subplots(len(channels), 4, figsize=(10, 9.5))
for row, c in enumerate(channels):
    panels = [(feature_map[0, c], "input x"), (out[0, c], "AdaGN, t = 50"), (out[1, c], "AdaGN, t = 950"),
              (out[1, c] - out[0, c], "t = 950 minus t = 50")]
    for col, (img, title) in enumerate(panels):
        lim = 0.5 if col == 3 else 3.0
        axes[row, col].imshow(img.numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
        axes[row, col].set_xticks([])
        axes[row, col].set_yticks([])
        if row == 0:
            axes[row, col].set_title(title)
    axes[row, 0].set_ylabel(f"channel {c}")
fig.suptitle("Same feature map, two timesteps (colour range ±3, difference column ±0.5)")
plt.tight_layout()
plt.show()

# %% [markdown]
# **What just happened.** The outputs differ, although `x` and every weight are the same: only `t_emb`
# changed, so only `gamma` and `beta` changed. Look at *how* they differ. Within a channel, the stripe
# pattern is the same at both timesteps; what moves is the contrast (`1 + gamma` multiplies the whole
# channel) and the brightness (`beta` adds to the whole channel). The difference column is therefore
# a faint copy of the stripes (the change of scale) on top of a flat tint (the change of shift): AdaGN
# cannot move a stripe or change its shape, it can only say, per channel, "louder", "quieter",
# "brighter", "darker". Every bit of spatial processing is left to the convolutions.
#
# Also compare the input column with the outputs. The input's offsets are gone, but channel 0 stays
# much weaker than channel 1: with 32 groups for 64 channels, channels 0 and 1 form one group and
# share one mean and one variance, and channel 1's strong stripes dominate them. GroupNorm equalises
# *groups*, not individual channels; the per-channel gains are exactly what `gamma` is for.
#
# At initialisation the modulation is gentle (a few percent to a few tens of percent, see the
# numbers): the `+ 1` keeps the layer close to plain GroupNorm, and training decides how strong the
# time dependence becomes.
#
# ## 3 · gamma(t) and beta(t), for every channel and timestep
#
# **Predict before running.** As `t` goes from 0 to 999, will a channel's `gamma` drift smoothly, or
# jitter? (Think back to lesson 01: how fast does the fastest sine of the embedding turn?) Will
# neighbouring channels behave alike?

# %%
t_all = torch.arange(0, 1000, 5)                           # 200 timesteps
with torch.no_grad():
    gamma_all, beta_all = adagn.proj(t_embed(t_all)).chunk(2, dim=-1)   # each [200, 64]

from course_utils.plotting import heatmap

fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
lim = float(max(gamma_all.abs().max(), beta_all.abs().max()))
im = heatmap(axes[0], gamma_all.numpy(), title="gamma(t)", xlabel="channel", ylabel="timestep t",
             vmin=-lim, vmax=lim, extent=[0, 64, 1000, 0])
heatmap(axes[1], beta_all.numpy(), title="beta(t)", xlabel="channel", ylabel="timestep t",
        vmin=-lim, vmax=lim, extent=[0, 64, 1000, 0])
fig.colorbar(im, ax=axes[:2].tolist(), shrink=0.8)
for c in [0, 1, 2, 3]:
    axes[2].plot(t_all.numpy(), 1 + gamma_all[:, c].numpy(), label=f"channel {c}")
axes[2].axhline(1.0, color="gray", linestyle="--", linewidth=1)
axes[2].set_xlabel("timestep t")
axes[2].set_ylabel("1 + gamma(t): the channel's gain")
axes[2].legend()
plt.show()

with torch.no_grad():
    gamma_fine = adagn.proj(t_embed(torch.arange(1000))).chunk(2, dim=-1)[0]   # [1000, 64], every t
step = (gamma_fine[1:] - gamma_fine[:-1]).abs().mean().item()
spread = gamma_fine.std(dim=0).mean().item()
print(f"gamma: typical change from t to t + 1 = {step:.4f}; typical spread over all t = {spread:.4f}")
for t_val in [0, 250, 500, 750, 999]:
    row = t_val // 5 if t_val < 999 else -1
    print(f"t = {t_val:>3}: gain 1 + gamma for channels 0-3 = "
          f"{', '.join(f'{1 + v:.3f}' for v in gamma_all[row, :4].tolist())}   "
          f"beta = {', '.join(f'{v:+.3f}' for v in beta_all[row, :4].tolist())}")

# %% [markdown]
# **What just happened.** Each column of the heatmaps is one channel, each row one timestep. Down a
# column you see two things at once: a slow drift (some channels are warmer in the first half, cooler
# in the second) and a fast jitter from row to row. Both come from the embedding. `gamma` and `beta`
# are linear in `t_emb`, and the untrained MLP passes on every frequency of the sinusoidal encoding,
# including the fastest ones that turn a full circle every 6 timesteps. Sampled every 5 steps, those
# look like noise. The printout puts numbers on it: from one timestep to the next, `gamma` moves by a
# fraction of its total spread, so neighbouring timesteps get *similar*, not identical, modulation,
# the same 0.97-not-1.0 similarity you measured in lessons 01 and 02.
#
# Across columns there is no pattern: channel 5 and channel 6 have nothing to do with each other,
# because the projection's rows are independent random vectors. That is the untrained state. Training
# gives each channel its own schedule, and can weight the fast and slow parts of the embedding as the
# data requires: a channel that detects fine texture might be turned up at small `t` (little noise,
# details matter) and down at large `t` (pure noise has no texture to find).
#
# ## 4 · Why `1 + gamma`?
#
# Plain GroupNorm starts with scale 1 and shift 0. AdaGN's projection starts with small random weights,
# so `gamma` starts near 0. With `(1 + gamma)` the layer starts near plain GroupNorm; with `gamma` alone
# it starts near *multiplying every feature by almost nothing*.
#
# **Predict before running.** Without the `+ 1`, at initialisation: what is the output's standard
# deviation? How much of it still carries the input `x`? How large is the gradient that flows back to `x`?
# And if the projection is initialised to exactly zero (a common trick to start blocks as identities)?

# %%
def adagn_parts(module, x, t_emb):
    """Normalised features and gamma, beta from an AdaGN-shaped module."""
    h = module.norm(x)
    gamma, beta = module.proj(t_emb).chunk(2, dim=-1)
    return h, gamma[:, :, None, None], beta[:, :, None, None]

def measure(form, module, x, t_emb, weights):
    x = x.clone().requires_grad_(True)
    h, gamma, beta = adagn_parts(module, x, t_emb)
    carries_x = (1 + gamma) * h if form == "1 + gamma" else gamma * h   # the term that depends on x
    t_only = beta.expand_as(h)                                          # the term that ignores x
    out = carries_x + t_only
    (out * weights).sum().backward()                       # a fixed random "loss" to get a gradient
    return out.std().item(), carries_x.std().item(), t_only.std().item(), x.grad.norm().item()

x_in = feature_map.expand(2, -1, -1, -1).contiguous()
with torch.no_grad():
    emb = t_embed(torch.tensor([50, 950]))
weights = torch.randn(x_in.shape, generator=torch.Generator().manual_seed(1))
zero_adagn = AdaGN(64, 512)
with torch.no_grad():
    for p in zero_adagn.proj.parameters():
        p.zero_()

print(f"{'projection':<13} {'form':<10} | {'output std':>10} | {'std of the x part':>17} "
      f"{'std of beta(t)':>14} | {'|grad x|':>9}")
print("-" * 84)
for label, module in [("default init", adagn), ("zero init", zero_adagn)]:
    for form in ["1 + gamma", "gamma"]:
        std, x_part, t_part, grad = measure(form, module, x_in, emb, weights)
        print(f"{label:<13} {form:<10} | {std:>10.3f} | {x_part:>17.3f} {t_part:>14.3f} | {grad:>9.3f}")

# %% [markdown]
# **What just happened.** The output is the sum of a part that carries `x` (`(1 + gamma) * h`, or
# `gamma * h`) and a part that only depends on `t` (`beta`, the same number for every pixel of a
# channel). With `1 + gamma` the `x` part has about unit standard deviation and `beta` is a small tint
# on top: the layer starts as GroupNorm. Without the `+ 1`, the `x` part shrinks to the size of
# `gamma`, more than ten times smaller, and is now no larger than `beta(t)`: a good part of what the next
# layer receives is a function of time that says nothing about the input. The gradient reaching `x`
# shrinks by the same factor (see `|grad x|`), and in a network that stacks dozens of
# these layers the factors multiply.
#
# The zero-initialised projection makes the contrast absolute: with `1 + gamma` the layer is *exactly*
# GroupNorm; without it the output is exactly 0, nothing flows back to `x`, and the block is switched
# off until the projection learns its way out. The `+ 1` is a reparameterisation that costs nothing
# and puts the starting point where a normalisation layer should be. It is also why lesson 02's FiLM,
# which has no `+ 1`, needs its bias initialised to 1 instead.
#
# ## 5 · FiLM vs AdaGN inside a conv block
#
# The reference note's `UNetBlock` is `conv → FiLM → SiLU`, twice. Swapping FiLM for AdaGN gives the
# block `conv → AdaGN → SiLU` in the manner of guided-diffusion (with the differences of section 1). Both are in `course_utils/lessons/lesson03/conv_conditioning.py` as
# `ConditionedConvBlock(in_ch, out_ch, time_dim, method)`; here the AdaGN version uses **your** class.
# To compare only the normalisation, the two blocks get the same conv weights, and the FiLM block's
# projection is set to the AdaGN block's, with 1 added to the scale's bias: so FiLM's `scale` equals
# AdaGN's `1 + gamma` and the two differ *only* in whether the features are normalised first.
#
# **Predict before running.** Multiply the input by 100. What happens to each block's output? And to
# how much the output changes between `t = 50` and `t = 950`? Now multiply it by 0.01.

# %%
from course_utils.lessons.lesson03.conv_conditioning import ConditionedConvBlock
from course_utils.components.time_checks import output_change_with_t

torch.manual_seed(0)
film_block = ConditionedConvBlock(64, 64, 512, "film")
adagn_block = ConditionedConvBlock(64, 64, 512, "adagn", adagn_cls=AdaGN)
with torch.no_grad():
    for conv in ["conv1", "conv2"]:
        getattr(film_block, conv).load_state_dict(getattr(adagn_block, conv).state_dict())
    for cond in ["cond1", "cond2"]:
        film_proj, ada_proj = getattr(film_block, cond).proj, getattr(adagn_block, cond).proj
        film_proj.weight.copy_(ada_proj.weight)
        film_proj.bias.copy_(ada_proj.bias)
        film_proj.bias[:64] += 1.0                         # FiLM's scale = AdaGN's 1 + gamma

emb_a, emb_b = emb[:1], emb[1:]                            # t = 50 and t = 950, [1, 512] each
scales = [0.01, 0.1, 1.0, 10.0, 100.0]
results = {"FiLM": [], "AdaGN": []}
print(f"{'input scale':>11} | {'FiLM out std':>12} {'AdaGN out std':>13} | "
      f"{'FiLM change with t':>18} {'AdaGN change with t':>19}")
print("-" * 82)
for s in scales:
    x_s = s * feature_map
    row = []
    for name, block in [("FiLM", film_block), ("AdaGN", adagn_block)]:
        with torch.no_grad():
            std = block(x_s, emb_a).std().item()
        change = output_change_with_t(block, x_s, emb_a, emb_b).relative
        results[name].append(change)
        row.append((std, change))
    print(f"{s:>11g} | {row[0][0]:>12.4g} {row[1][0]:>13.4g} | {row[0][1]:>18.3f} {row[1][1]:>19.3f}")

fig, ax = plt.subplots(figsize=(6, 3.5))
for name, marker in [("FiLM", "o"), ("AdaGN", "s")]:
    ax.plot(scales, results[name], marker=marker, label=name)
ax.set_xscale("log")
ax.set_xlabel("input scale (feature map multiplied by)")
ax.set_ylabel("relative change, t = 50 vs 950")
ax.legend()
plt.show()

# %% [markdown]
# **What just happened.** The FiLM block passes the input's scale straight through: its output grows
# with the input (the SiLU is close to linear for large values). And the *influence of `t`* depends on
# that scale too. For a small input the conv output is small, so the shift dominates and the block's
# output is mostly a function of `t`; for a large input the shift is negligible and only the scale
# still acts. The same `t` means different things depending on how large the activations happen to be,
# and activations drift a lot during training and from layer to layer.
#
# The AdaGN block normalises first, so its output has the same size and the same relative sensitivity
# to `t` whatever the input's scale (the small deviations at the smallest scales come from the conv's
# bias, which the normalisation sees as part of the signal). `gamma` and `beta` always act on features
# of unit size, so a shift of 0.1 always means the same thing. That is what the normalisation buys:
# a time signal whose effect does not depend on the scale of the activations.
#
# ## 6 · Time-modulated skip connections
#
# A U-Net's decoder adds (or concatenates) the encoder's features through skip connections. The reference
# note sketches letting `t` modulate those too: `scale(t) * skip + up + shift(t)`. The encoder's
# features carry fine detail; at large `t` the input is almost pure noise and that "detail" is noise too,
# so a network might learn to pass less of the skip at large `t` and more at small `t`.
# `course_utils.lessons.lesson03.conv_conditioning.ModulatedSkip` implements it as a FiLM layer on the skip branch, with
# FiLM's identity initialisation.
#
# **Predict before running.** At initialisation, how does `ModulatedSkip` differ from `skip + up`?
# What does it cost?

# %%
from course_utils.lessons.lesson03.conv_conditioning import ModulatedSkip

torch.manual_seed(0)
skip_mod = ModulatedSkip(64, 512)
skip = torch.randn(2, 64, 16, 16)
up = torch.randn(2, 64, 16, 16)
with torch.no_grad():
    at_init = (skip_mod(skip, up, emb) - (skip + up)).abs().max().item()
print(f"max |ModulatedSkip - (skip + up)| at initialisation: {at_init}")
print(f"extra parameters per skip connection: {sum(p.numel() for p in skip_mod.parameters()):,} "
      "(a Linear(512, 2 x 64))")

# What a trained skip *could* look like: give the projection small random weights and read the
# per-channel gain scale(t) that each skip channel would get, for every timestep.
with torch.no_grad():
    nn.init.normal_(skip_mod.film.proj.weight, std=0.02)
    gains, _ = skip_mod.film.proj(t_embed(t_all)).chunk(2, dim=-1)        # [200, 64]
fig, ax = plt.subplots(figsize=(7, 3.5))
for c in range(3):
    ax.plot(t_all.numpy(), gains[:, c].numpy(), label=f"skip channel {c}")
ax.axhline(1.0, color="gray", linestyle="--", linewidth=1)
ax.set_xlabel("timestep t")
ax.set_ylabel("scale(t) on the skip")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# **What just happened.** At initialisation the modulated skip is *exactly* the plain skip connection
# (difference 0), thanks to the identity initialisation: adding it to a working U-Net changes nothing
# until training finds a use for it. It costs one `Linear(512, 2C)` per skip connection. The plot shows
# the kind of freedom it adds: each skip channel gets its own gain as a function of `t` (here from
# small random weights, so the curves are mostly the embedding's jitter from section 3; training
# decides their real shape). Whether a network *uses* that freedom to damp noisy
# skips at large `t` is an empirical question that this lesson does not settle; most published
# diffusion U-Nets leave the skips unmodulated and condition only the blocks.
#
# ## 7 · Conditioning methods compared, with measured costs
#
# Five ways to let `t_emb` (512 wide) into the same conv block (64 → 64 channels, two 3 × 3 convs),
# plus the unconditioned block as a baseline. `compare_block_costs` builds each block, counts its
# parameters, and times a forward pass on a batch of 8 feature maps of 16 × 16 on this machine's CPU
# (one thread, fastest of several calls, interleaved so that a busy moment hits every method alike).
#
# **Predict before running.** Which method costs the most parameters? Which is slowest? Will AdaGN cost
# noticeably more time than FiLM?

# %%
from course_utils.lessons.lesson03.conv_conditioning import compare_block_costs, format_costs, single_token_attention_is_additive

cost_rows = compare_block_costs(["none", "concat", "additive", "film", "adagn", "cross_attention"])
print(format_costs(cost_rows))
print()
print(f"cross-attention to a single time token vs the same thing as an additive shift: "
      f"max |difference| = {single_token_attention_is_additive():.1e}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.5))
names = [r.method for r in cost_rows]
ax1.bar(names, [r.conditioning_params for r in cost_rows])
ax1.set_ylabel("parameters for t (per block)")
ax1.tick_params(axis="x", rotation=20)
ax2.bar(names, [r.ratio_to_none for r in cost_rows])
ax2.axhline(1.0, color="gray", linestyle="--", linewidth=1)
ax2.set_ylabel("time per forward / unconditioned")
ax2.tick_params(axis="x", rotation=20)
plt.tight_layout()
plt.show()

# %%
from course_utils.lessons.lesson03.conv_conditioning import describe_costs

print("The times, in words chosen from the ratios just measured:")
for line in describe_costs(cost_rows):
    print("  " + line)

# %% [markdown]
# **What just happened.** The parameter counts are exact and machine-independent; the times are
# ratios measured just now on this machine, and the lines above word them from those numbers. Two
# methods whose ratios are close (the last line names them) can swap places on another machine or
# in another run. Reading both:
#
# | method | what `t` can do to a channel | parameters for `t` per block | time, relative to no `t` | verdict |
# |---|---|---|---|---|
# | concatenation | enter the convs as 512 constant extra input channels | by far the most: the convs read 512 extra channels at every pixel | by far the slowest | wasteful in a conv net unless `t_emb` is first projected to a few channels |
# | additive | shift it (`h + Linear(t_emb)`) | `512·C + C` per conditioning layer | see the printout | DDPM's choice: cheap, shift only |
# | FiLM | scale and shift it | `512·2C + 2C` per layer (twice additive) | see the printout | the note's choice: adds a multiplicative path |
# | AdaGN | normalise, then scale and shift it | same as FiLM (GroupNorm has no parameters here) | see the printout: GroupNorm's extra pass over every pixel | guided diffusion's choice: `t`'s effect independent of activation scale (section 5) |
# | cross-attention to one token | exactly what additive does (softmax over one key is 1) | more than FiLM | see the printout | no gain: attention needs *several* tokens to choose between, as for text prompts |
#
# The last line corrects the reference note, which calls attention to time "very expressive". The
# printed check shows the output of cross-attention to a single time token equals an additive shift
# to rounding error: every pixel's attention weight on the one key is exactly 1. Cross-attention
# earns its cost when there are many tokens, such as the words of a text prompt; the timestep is one
# vector.
#
# Per block, the compute that conditioning on `t` costs is what the printout says for this machine; its parameters
# (`512 × 2C` per layer) grow with the channel count, and in a big U-Net with hundreds of such layers
# the time projections add up to a noticeable share of all parameters, all of it computed once per
# forward pass on `[B, 512]` rather than at every pixel.
#
# ## 8 · Explore: drag `t`
#
# The static row below always renders (also on GitHub); with a live kernel a slider follows it. Each
# panel shows channel 1 of your AdaGN's output for the feature map of section 2, with the gain
# `1 + gamma` and the shift `beta` of channels 0–7 as bars underneath.

# %%
from course_utils.widgets import explore

def draw_adagn(ax, t_value):
    with torch.no_grad():
        e = t_embed(torch.tensor([t_value]))
        o = adagn(feature_map, e)[0, 1]
        gam, bet = adagn.proj(e).chunk(2, dim=-1)
    ax.imshow(o.numpy(), cmap="RdBu_r", vmin=-3, vmax=3)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"t = {t_value}: channel 1, gain {1 + gam[0, 1].item():.2f}")
    inset = ax.inset_axes([0.0, -0.55, 1.0, 0.45])
    pos = torch.arange(8).float()
    inset.bar((pos - 0.2).numpy(), 1 + gam[0, :8].numpy(), width=0.4, label="1 + gamma")
    inset.bar((pos + 0.2).numpy(), bet[0, :8].numpy(), width=0.4, label="beta")
    inset.set_ylim(-0.4, 1.4)
    inset.set_xticks(range(8))
    inset.set_xlabel("channel", fontsize=8)
    inset.tick_params(labelsize=7)
    if t_value == 0:
        inset.legend(fontsize=7, loc="upper right")

explore(draw_adagn, (0, 999), label="t", snapshots=[0, 250, 500, 750, 999], figsize=(14, 4.5))

# %% [markdown]
# ## Key takeaways
#
# 1. AdaGN = GroupNorm without its own affine parameters, then `(1 + gamma(t)) * h + beta(t)` with
#    `gamma, beta` from one `Linear(d_emb, 2C)`, reshaped to `[B, C, 1, 1]`.
# 2. GroupNorm's statistics are per sample (no batch statistics), so AdaGN behaves the same at any batch size.
# 3. Per channel, `t` can only change gain and offset; the spatial work stays with the convolutions.
# 4. The `+ 1` makes the layer start as plain GroupNorm: without it the input is drowned by `beta(t)`
#    and the gradient to `x` shrinks; with a zero-initialised projection the block would be switched off.
# 5. Normalising before modulating makes `t`'s effect independent of the activations' scale — the
#    measured difference between AdaGN and FiLM inside a conv block.
# 6. Additive, FiLM and AdaGN cost little compute per block; concatenating a 512-wide embedding to a conv's
#    input is expensive, and cross-attention to a single time token is additive conditioning in disguise.
#
# **Next:** lesson 04 puts the sinusoidal embedding and its MLP into a U-Net and trains it on MNIST.
