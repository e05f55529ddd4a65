# %% [markdown]
# # Lesson 02 · The timestep MLP and FiLM
#
# **Estimated time:** 50–60 minutes · **GPU:** not needed · **Level:** two [Supported] exercises, the rest [Guided]
#
# Lesson 01 turned a timestep `t` into 256 sines and cosines. Those numbers are fixed: nothing in them
# can learn which aspects of the noise level matter for denoising. Real diffusion networks therefore
# pass the encoding through a small MLP, and then hand the result to every block of the network. This
# lesson builds that MLP, and then the most common way a block *uses* the embedding: FiLM, a per-feature
# scale and shift computed from `t`.
#
# **You will:**
# 1. build `TimestepEmbedding`: sinusoidal encoding → Linear → GELU → Linear (graded), and count its parameters;
# 2. measure what an untrained MLP does to the similarity structure of the encoding;
# 3. build a `FiLM` layer to the course's convention, with the identity initialisation (graded);
# 4. put FiLM into the reference note's score MLP and measure why the identity initialisation matters;
# 5. compare concatenation, addition and FiLM on a small, real training run — with numbers, not adjectives;
# 6. learn the "does the output change with `t`?" check, and what its answer means.
#
# Before each code cell marked **Predict before running**, write your guess down first.

# %% [setup] needs_gpu=no
import math

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F

# Lesson 01's function, finished: the course's reference version (same convention as yours).
from course_utils.reference import sinusoidal_embedding

# This lesson's models are tiny: one CPU thread runs them faster than several threads
# competing for the cores (see course_utils/cpu_threads.py). Results are the same.
torch.set_num_threads(1)

# %% [markdown]
# ## 1 · From fixed waves to a learned embedding
#
# The sinusoidal encoding is a good *input*: smooth in `t`, different for every timestep, bounded.
# But it has no parameters, so it cannot adapt. The standard recipe (DDPM and almost every U-Net since)
# adds a two-layer MLP on top:
#
# ```
# t ──► sinusoidal_embedding(t, 256) ──► Linear(256, 512) ──► GELU ──► Linear(512, 512) ──► t_emb  [B, 512]
# ```
#
# The MLP runs **once per forward pass**; its 512-wide output is then read by every block of the
# network, each through its own small projection (you will write one of those in Exercise 2). So the
# MLP decides *which* features of time exist, and each block decides *how* to use them.
#
# Two details of the convention matter for the tests and for loading other people's weights:
# * the activation is the **exact** GELU, `nn.GELU()` — not `approximate="tanh"`, not SiLU or ReLU.
#   (Codebases differ here: DDPM's original code uses SiLU. The course fixes exact GELU so that its
#   tests and later lessons agree; a network trained from scratch works with either.)
# * both Linear layers have a bias, and there is **no** activation after the second one
#   (the blocks that read `t_emb` apply their own).
#
# ### Exercise 1 [Supported] — implement `TimestepEmbedding`
#
# Fill in the two marked places. Hints, if you want them:
# * use the `sinusoidal_embedding` imported in the setup cell; do not write your own copy of it;
# * `nn.Sequential(nn.Linear(...), nn.GELU(), nn.Linear(...))` keeps the three steps in order;
# * `forward` takes timesteps `t` of shape `[B]` (integers or floats) and returns `[B, d_emb]`.

# %% [solution] id=timestep_embedding_impl
class TimestepEmbedding(nn.Module):
    """t -> sinusoidal_embedding(t, d_sinusoidal) -> Linear -> GELU (exact) -> Linear -> [B, d_emb]."""

    def __init__(self, d_sinusoidal=256, d_emb=512):
        super().__init__()
        self.d_sinusoidal = d_sinusoidal
        # TODO: the MLP: Linear(d_sinusoidal, d_emb), exact GELU, Linear(d_emb, d_emb)
        ### BEGIN SOLUTION
        self.mlp = nn.Sequential(
            nn.Linear(d_sinusoidal, d_emb),
            nn.GELU(),
            nn.Linear(d_emb, d_emb),
        )
        ### END SOLUTION

    def forward(self, t):
        # TODO: encode t with sinusoidal_embedding (width self.d_sinusoidal), then apply the MLP
        ### BEGIN SOLUTION
        return self.mlp(sinusoidal_embedding(t, self.d_sinusoidal))
        ### END SOLUTION

# %% [tests] id=check_timestep_embedding points=2
# Visible checks: run this cell. Each message starts with [the mistake it found] and says what you
# should have seen. Some checks give the two Linear layers designed weights to look at one step at a time.
torch.manual_seed(0)
_te = TimestepEmbedding(256, 512)
_out = _te(torch.tensor([0, 1, 500, 999]))
assert isinstance(_out, torch.Tensor), f"[return type] forward should return a torch.Tensor, got {type(_out).__name__}"
assert tuple(_out.shape) == (4, 512), (
    f"[shape] 4 timesteps should give shape (4, 512), got {tuple(_out.shape)}. The MLP maps 256 -> 512 -> 512.")
assert _out.dtype == torch.float32, f"[float32] the embedding should be float32, got {_out.dtype}"
_n = sum(p.numel() for p in _te.parameters())
assert _n == 394240, (
    f"[layer sizes] TimestepEmbedding(256, 512) should have 394,240 parameters (two Linear layers with biases), "
    f"got {_n:,}. 393,216 means the Linear layers have no bias; anything else means a layer has the wrong size.")
assert not torch.allclose(_out[2], _out[3]), "[uses t] t = 500 and t = 999 should give different embeddings"
_lin = [m for m in _te.modules() if isinstance(m, nn.Linear)]
assert len(_lin) == 2, f"[two Linear layers] there should be exactly two nn.Linear layers, found {len(_lin)}"
_first, _second = sorted(_lin, key=lambda m: m.in_features != 256)  # Linear(256, 512), then Linear(512, 512)
# Designed weights 1: the first Linear outputs 512 fixed points x in [-3, 3] whatever t is, the second is the
# identity. The output must then be GELU(x): exact GELU, applied once, between the Linear layers only.
_x = torch.linspace(-3.0, 3.0, 512)
with torch.no_grad():
    _first.weight.zero_()
    _first.bias.copy_(_x)
    _second.weight.copy_(torch.eye(512))
    _second.bias.zero_()
    _got = _te(torch.tensor([0, 999]))[0]
assert not torch.allclose(_got, F.gelu(_x, approximate="tanh"), atol=1e-6), (
    "[exact GELU] your activation is GELU's tanh approximation (approximate='tanh'): use the exact GELU, "
    "nn.GELU() or F.gelu(x), whose defaults are exact.")
assert not torch.allclose(_got, F.gelu(F.gelu(_x)), atol=1e-5), (
    "[nothing after the last Linear] GELU is applied twice: once between the Linear layers and once after the "
    "second. The blocks that read t_emb apply their own activation; return the second Linear's output as it is.")
assert not torch.allclose(_got, F.silu(_x), atol=1e-5), "[exact GELU] your activation is SiLU: use the exact GELU"
assert torch.allclose(_got, F.gelu(_x), atol=1e-5), (
    "[activation] with the first Linear giving points x in [-3, 3] and the second the identity, the output "
    f"should be GELU(x) (exact); the largest difference is {(_got - F.gelu(_x)).abs().max().item():.3g}. "
    "Use one exact GELU between the two Linear layers, none after them.")
# Designed weights 2: the first Linear copies the 256 encoding values, shifted by +20 where every activation is
# the identity; the second Linear is the identity and shifts back. The output is then the encoding itself.
with torch.no_grad():
    _first.weight.copy_(torch.cat([torch.eye(256), torch.zeros(256, 256)]))
    _first.bias.fill_(20.0)
    _second.bias.fill_(-20.0)
    _got = _te(torch.tensor([3, 500]))[:, :256]
_want = sinusoidal_embedding(torch.tensor([3, 500]), 256)
assert (_got - _want).abs().max().item() < 1e-4, (
    "[sinusoidal encoding] with designed weights that pass the encoding straight through, the output should be "
    f"sinusoidal_embedding(t, 256); the largest difference is {(_got - _want).abs().max().item():.3g}. "
    "Encode t with the imported sinusoidal_embedding(t, self.d_sinusoidal), unscaled, before the first Linear.")
print("Basic checks passed: shape, dtype, 394,240 parameters, t changes the output, exact GELU once, the encoding.")
### BEGIN HIDDEN TESTS
from course_utils.grading import probe_helpers as _h
from course_utils.grading.probe import Probe as _Probe

_o = _Probe("check_timestep_embedding")
_m = _h.build(TimestepEmbedding, 256, 512, seed=0)
_o.call("linears", _h.linear_layout, _m)
_o.call("params", _h.count_parameters, _m)
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
    """The probe could give ``owner``'s Linear layers their designed weights."""
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


def channel_sums(t):
    """Per-channel sums of a [B, C, H, W] tensor, as [B][C] floats (double precision)."""
    B, C, H, W = t.shape
    v = t.flat()
    return [[sum(v[(b * C + c) * H * W:(b * C + c + 1) * H * W]) for c in range(C)] for b in range(B)]


def sinusoid(t, d):
    """The course's sinusoidal embedding of one timestep, in float64."""
    w = [10000.0 ** (-i / (d // 2)) for i in range(d // 2)]
    return [math.sin(t * x) for x in w] + [math.cos(t * x) for x in w] + ([0.0] if d % 2 else [])


def gelu(x):
    """The exact GELU, x * Phi(x)."""
    return 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0)))

# %% [judge] id=check_timestep_embedding
expect_linears("linears", [(256, 512), (512, 512)], "TimestepEmbedding(256, 512)")
expect(obs.integer("params", "the parameter count of TimestepEmbedding(256, 512)") == 394240,
       "TimestepEmbedding(256, 512) has the wrong number of parameters")

# %% [tests] id=hidden_timestep_activation points=2
# Hidden tests: the activation (exact GELU, nothing after the last Linear), checked with designed weights.
### BEGIN HIDDEN TESTS
import torch as _torch
from course_utils.grading import probe_helpers as _h
from course_utils.grading.probe import Probe as _Probe

_o = _Probe("hidden_timestep_activation")
_m = _h.build(TimestepEmbedding, 256, 512, seed=0)
# First layer: weight 0, bias = 512 points spread over [-4, 4]; second layer: the identity.
# The output is then the activation applied to those points, whatever t is.
_o.record("designed", lambda: _h.set_linears(
    _m, "TimestepEmbedding",
    (_torch.zeros(512, 256), _torch.tensor([-4.0 + 8.0 * j / 511 for j in range(512)])),
    (_torch.eye(512), _torch.zeros(512))))
_o.call("out", _m, _torch.tensor([0, 999]))
_o.emit()
### END HIDDEN TESTS

# %% [judge] id=hidden_timestep_activation
expect_designed("designed", "TimestepEmbedding(256, 512)")
_out = result("out", "TimestepEmbedding(256, 512) on two timesteps", (2, 512))
_want = [gelu(-4.0 + 8.0 * j / 511) for j in range(512)]
expect_close(_out, [_want, _want], atol=2e-5,
             name="the output with designed weights (the activation between and after the Linear layers)")

# %% [tests] id=hidden_timestep_sinusoid points=2
# Hidden tests: the encoding inside is the course's sinusoidal embedding, checked with designed weights
# that work whatever the activation is (so a wrong activation fails only the activation test).
### BEGIN HIDDEN TESTS
import torch as _torch
from course_utils.grading import probe_helpers as _h
from course_utils.grading.probe import Probe as _Probe

_o = _Probe("hidden_timestep_sinusoid")
_m = _h.build(TimestepEmbedding, 256, 512, seed=0)
# First layer: the 256 encoding values into units 0..255, every unit shifted by +20 (GELU, its tanh form,
# SiLU and ReLU are all the identity there, to 1e-6); second layer: the identity.
_o.record("designed", lambda: _h.set_linears(
    _m, "TimestepEmbedding",
    (_torch.cat([_torch.eye(256), _torch.zeros(256, 256)], dim=0), _torch.full((512,), 20.0)),
    (_torch.eye(512), _torch.zeros(512))))
_o.call("out", _m, _torch.tensor([500, 999]))
_o.emit()
### END HIDDEN TESTS

# %% [judge] id=hidden_timestep_sinusoid
expect_designed("designed", "TimestepEmbedding(256, 512)")
_rows = result("out", "TimestepEmbedding(256, 512) on two timesteps", (2, 512)).rows()
_cols = [0, 1, 5, 40, 100, 127, 128, 129, 200, 255]
_want = [[sinusoid(t, 256)[c] + 20.0 for c in _cols] for t in (500.0, 999.0)]
expect_close([[r[c] for c in _cols] for r in _rows], _want, atol=1e-4,
             name="the encoding seen through designed weights (is it the course's sinusoidal embedding, "
                  "of t unscaled, with width d_sinusoidal?)")
expect_close([r[256:] for r in _rows], [[20.0] * 256] * 2, atol=1e-4, name="units 256..511 with designed weights")

# %% [tests] id=hidden_timestep_seeded points=2
# Hidden tests: a small TimestepEmbedding with PyTorch's default initialisation after a fixed seed
# (the Linear layers created in order, nothing else drawing random numbers); the output's shape and dtype.
### BEGIN HIDDEN TESTS
import torch as _torch
from course_utils.grading import probe_helpers as _h
from course_utils.grading.probe import Probe as _Probe

_o = _Probe("hidden_timestep_seeded")
_m = _h.build(TimestepEmbedding, 16, 12, seed=1234)
_o.call("params", _h.count_parameters, _m)
for _k, (_i, _part) in {"w1": (0, "weight"), "b1": (0, "bias"), "w2": (1, "weight"), "b2": (1, "bias")}.items():
    _o.record(_k, lambda _i=_i, _part=_part: getattr(_h.find_linears(_m, [(16, 12), (12, 12)], "TimestepEmbedding")[_i], _part))
_o.run("out", _m, _torch.tensor([0.0, 3.0, 250.0]))
_o.emit()
### END HIDDEN TESTS

# %% [judge] id=hidden_timestep_seeded
import torch

from course_utils.reference import TimestepEmbedding as _Reference

expect(obs.integer("params", "the parameter count of TimestepEmbedding(16, 12)") == 360,
       "TimestepEmbedding(16, 12) has the wrong number of parameters")
with torch.random.fork_rng():  # the grader's own random state is left as it was
    torch.manual_seed(1234)
    _ref = [m for m in _Reference(16, 12).modules() if isinstance(m, torch.nn.Linear)]
for _k, _layer, _part, _label in [("w1", 0, "weight", "first Linear's weight"), ("b1", 0, "bias", "first Linear's bias"),
                                  ("w2", 1, "weight", "second Linear's weight"), ("b2", 1, "bias", "second Linear's bias")]:
    expect_close(obs.tensor(_k, f"the {_label}"), getattr(_ref[_layer], _part).tolist(), atol=1e-6,
                 name=f"the {_label} right after torch.manual_seed (create Linear(16, 12), then Linear(12, 12), "
                      "with PyTorch's default initialisation)")
_out = result("out", "TimestepEmbedding(16, 12) on three timesteps", (3, 12))
expect_dtype(_out, "float32", "the embedding")

# %% [markdown]
# ## 2 · Where the 394,240 parameters are
#
# **Predict before running.** How many parameters does `TimestepEmbedding(256, 512)` have, and which of
# its three stages (encoding, first Linear, second Linear) holds most of them?

# %%
torch.manual_seed(0)
t_embed = TimestepEmbedding(d_sinusoidal=256, d_emb=512)

total = 0
for name, p in t_embed.named_parameters():
    print(f"{name:<16} {str(tuple(p.shape)):<12} {p.numel():>9,}")
    total += p.numel()
print(f"{'total':<29}{total:>9,}")
print()
print(f"check by hand: 256*512 + 512 = {256 * 512 + 512:,}   512*512 + 512 = {512 * 512 + 512:,}   "
      f"sum = {256 * 512 + 512 + 512 * 512 + 512:,}")

# %% [markdown]
# **What just happened.** A Linear layer from `n` to `m` features has an `m × n` weight matrix and `m`
# biases. The encoding contributes nothing (it is a formula), the first Linear 131,584 parameters and
# the second 262,656: two thirds of the MLP sits in the 512 → 512 layer. That sounds like a lot, but
# the MLP runs once per forward pass, on a `[B, 256]` input: its cost is negligible next to the
# convolutions of a U-Net that run at every pixel. Every block's own projection of `t_emb` (Exercise 2)
# costs `512 × 2C + 2C` more parameters per block, and those add up faster than the shared MLP.
#
# ## 3 · What does an untrained MLP do to the similarity structure?
#
# In lesson 01 you saw that the encodings of nearby timesteps are similar and those of distant ones
# are not. The MLP is a smooth function, so nearby inputs should stay nearby. But a random MLP also
# mixes all 256 inputs together and adds biases.
#
# **Predict before running.**
# * After the untrained MLP, will `t = 500` and `t = 501` still have a cosine similarity near 0.97?
# * Will distant timesteps (500 vs 0) become *more* or *less* similar than they were?

# %%
from course_utils.plotting import similarity_matrix_plot

t_grid = torch.arange(0, 1000, 10)                 # every 10th timestep: 100 rows
with torch.no_grad():
    enc = sinusoidal_embedding(t_grid, 256)        # [100, 256]
    emb = t_embed(t_grid)                          # [100, 512]
sim_enc = F.normalize(enc, dim=1) @ F.normalize(enc, dim=1).T   # [100, 100] cosine similarities
sim_emb = F.normalize(emb, dim=1) @ F.normalize(emb, dim=1).T

fig, axes = plt.subplots(1, 2, figsize=(12, 5))
im = similarity_matrix_plot(axes, [sim_enc.numpy(), sim_emb.numpy()],
                            ["sinusoidal encoding (256)", "after the untrained MLP (512)"],
                            extent=[0, 1000, 1000, 0])
fig.colorbar(im, ax=list(axes), shrink=0.8, label="cosine similarity")
plt.show()

gap = (t_grid[:, None] - t_grid[None, :]).abs()   # [100, 100] distance in timesteps
far = gap >= 300
print(f"mean similarity of pairs >= 300 steps apart: encoding {sim_enc[far].mean():.3f}, "
      f"MLP {sim_emb[far].mean():.3f}")
print()
print(f"{'pair':>14} | {'encoding':>9} | {'after MLP':>9}")
print("-" * 40)
with torch.no_grad():
    for a, b in [(500, 501), (500, 510), (500, 50), (500, 0)]:
        pair = torch.tensor([a, b])
        s_enc = F.cosine_similarity(*sinusoidal_embedding(pair, 256)[:, None, :]).item()
        s_emb = F.cosine_similarity(*t_embed(pair)[:, None, :]).item()
        print(f"{a:>5} vs {b:<5} | {s_enc:>+9.4f} | {s_emb:>+9.4f}")

# %% [markdown]
# **What just happened.** The two matrices have the same shape: a bright diagonal band (neighbours
# alike) fading with distance. The pair table puts numbers on it: 500 vs 501 stays at about 0.97 after
# the MLP, and distant pairs stay far less alike than neighbours. A random MLP is a continuous map, so it
# cannot tear neighbours apart. What it does change is the *contrast*: the bias of the last layer and
# the mostly-positive GELU outputs add a component that every embedding shares, so distant pairs
# become a little more alike (the mean similarity of far pairs rises; the pairs 500 vs 50 and 500 vs 0
# rise in the table). Training will reshape this freely; the smooth, ordered starting point comes from
# the encoding, not from anything the MLP learned.
#
# Notice what the MLP did *not* do: it did not make the similarity structure *better*. An untrained
# MLP adds no information about time; it only makes room (512 learnable directions) for training to
# put some in.
#
# ## 4 · FiLM: letting `t` scale and shift features
#
# A block has features `h` (a vector `[B, C]` in an MLP, feature maps `[B, C, H, W]` in a U-Net) and the
# time embedding `t_emb [B, D]`. **FiLM** (Feature-wise Linear Modulation, Perez et al. 2018) computes,
# from `t_emb`, one scale and one shift *per feature*, and applies them:
#
# $$\text{FiLM}(h, t) = \text{scale}(t) \odot h + \text{shift}(t), \qquad [\text{scale}, \text{shift}] = W\,t_\text{emb} + b .$$
#
# The scale lets `t` turn a feature up, down, or flip it; the shift moves it. For feature maps the same
# scale and shift apply to every pixel of a channel: they are broadcast over `H` and `W`.
#
# **The course's convention** (the tests, lesson 03 and lesson 05 rely on it):
# * one `nn.Linear(time_dim, 2 * feature_dim)`; split its output with `scale, shift = out.chunk(2, dim=-1)`
#   — **scale first**;
# * the result is `scale * h + shift` (not `(1 + scale) * h + shift`; that variant belongs to lesson 03);
# * for `h` of shape `[B, C, H, W]`, reshape scale and shift from `[B, C]` to `[B, C, 1, 1]`;
# * **identity initialisation**: the Linear's weight is all zeros and its bias is `[1, …, 1, 0, …, 0]`
#   (`C` ones for the scale, `C` zeros for the shift). Then every `t` gives scale 1 and shift 0, and
#   a new FiLM layer passes features through unchanged. Section 5 measures why that is the right start.
#
# ### Exercise 2 [Supported] — implement `FiLM(feature_dim, time_dim)`
#
# The structure is fixed on purpose: **one** `nn.Linear(time_dim, 2 * feature_dim)` whose output is split
# into scale (first half) and shift (second half), and the output is `scale * h + shift` (no `1 +`).
# Two separate Linear layers would compute the same function, but the hidden tests, lesson 03 and the
# identity initialisation all address that one layer.
#
# Hints, if you want them:
# * change a parameter in place without recording it for autograd inside `with torch.no_grad():`;
#   `layer.weight.zero_()`, `layer.bias[:C] = 1.0` and `layer.bias[C:] = 0.0` do the rest;
# * `h.dim()` tells you how many dimensions the features have; add one trailing 1 per spatial
#   dimension: `scale.reshape(B, C, 1, 1)` for `[B, C, H, W]`, nothing for `[B, C]`;
# * **a trap:** `scale[:, None, None, :]` has shape `[B, 1, 1, C]`. It broadcasts against
#   `[B, C, H, W]` *without an error* whenever `W == C`, and then scales the columns instead of the
#   channels. Keep the channel axis in position 1.
# * apply no activation to `t_emb` here: the layer is linear in `t_emb`, as in the convention.

# %% [solution] id=film_impl
class FiLM(nn.Module):
    """Feature-wise linear modulation: scale(t_emb) * h + shift(t_emb); starts as the identity."""

    def __init__(self, feature_dim, time_dim):
        super().__init__()
        self.feature_dim = feature_dim
        # TODO: one Linear(time_dim, 2 * feature_dim), then the identity initialisation
        #       (weight 0, bias [1]*feature_dim + [0]*feature_dim)
        ### BEGIN SOLUTION
        self.proj = nn.Linear(time_dim, 2 * feature_dim)
        with torch.no_grad():
            self.proj.weight.zero_()
            self.proj.bias[:feature_dim] = 1.0
            self.proj.bias[feature_dim:] = 0.0
        ### END SOLUTION

    def forward(self, h, t_emb):
        # TODO: scale, shift = chunk of the projection (scale first); reshape [B, C] -> [B, C, 1, 1]
        #       when h has spatial dims; return scale * h + shift
        ### BEGIN SOLUTION
        scale, shift = self.proj(t_emb).chunk(2, dim=-1)              # (B, 2C) -> 2 x (B, C)
        spatial = [1] * (h.dim() - 2)                                 # one 1 per spatial dim
        scale = scale.reshape(scale.shape[0], scale.shape[1], *spatial)  # (B, C) -> (B, C, 1, 1)
        shift = shift.reshape(shift.shape[0], shift.shape[1], *spatial)  # (B, C) -> (B, C, 1, 1)
        return scale * h + shift
        ### END SOLUTION

# %% [tests] id=check_film points=2
# Visible checks: run this cell. Each message starts with [the mistake it found] and says what you
# should have seen. Some checks set FiLM's Linear to designed weights, so scale and shift are known.
torch.manual_seed(0)
_film = FiLM(4, 3)
_h2, _h4, _te = torch.randn(2, 4), torch.randn(2, 4, 5, 6), torch.randn(2, 3)
_o2 = _film(_h2, _te)
assert isinstance(_o2, torch.Tensor) and tuple(_o2.shape) == (2, 4), (
    f"[shape] FiLM on h [2, 4] should return shape (2, 4), got {getattr(_o2, 'shape', type(_o2).__name__)}")
try:
    _o4 = _film(_h4, _te)
except RuntimeError as _err:
    raise AssertionError(
        "[broadcast] FiLM on h [2, 4, 5, 6] raised an error: reshape scale and shift from [B, C] to [B, C, 1, 1] "
        f"so that they broadcast over H and W (the channel axis stays in position 1). PyTorch said: {_err}") from None
assert tuple(_o4.shape) == (2, 4, 5, 6), (
    f"[broadcast] FiLM on h [2, 4, 5, 6] should return shape (2, 4, 5, 6), got {tuple(_o4.shape)}: "
    "reshape scale and shift to [B, C, 1, 1] so they broadcast over H and W")
_lin = [m for m in _film.modules() if isinstance(m, nn.Linear)]
assert len(_lin) == 1 and tuple(_lin[0].weight.shape) == (8, 3) and _lin[0].bias is not None, (
    "[one Linear] FiLM(4, 3) should hold exactly one nn.Linear(3, 8) with a bias: this course's FiLM is one "
    "projection whose output is split into scale and shift (the specification fixes this on purpose); "
    f"found {[tuple(m.weight.shape) for m in _lin]} (weight shapes)")
_n = sum(p.numel() for p in _film.parameters())
assert _n == 3 * 8 + 8, f"[one Linear] FiLM(4, 3) should hold one Linear(3, 8): 32 parameters, got {_n}"
assert not (torch.allclose(_o2, 2 * _h2) and torch.allclose(_o4, 2 * _h4)), (
    "[1 + scale] a fresh FiLM returns 2 * h: you used (1 + scale) * h with a scale that starts at 1. "
    "This lesson's FiLM is scale * h + shift; the bias [1]*C + [0]*C makes it start as the identity.")
assert torch.allclose(_o2, _h2) and torch.allclose(_o4, _h4), (
    "[identity initialisation] a freshly built FiLM should return h unchanged (weight 0, bias [1]*C + [0]*C). "
    f"Got a max difference of {max((_o2 - _h2).abs().max().item(), (_o4 - _h4).abs().max().item()):.3g}.")
# Designed weights: weight 0 and bias [scale..., shift...], so every sample gets these four scales and shifts.
_scale, _shift = torch.tensor([0.5, 2.0, -1.0, 3.0]), torch.tensor([0.1, -0.2, 0.3, 0.4])
with torch.no_grad():
    _lin[0].weight.zero_()
    _lin[0].bias.copy_(torch.cat([_scale, _shift]))
    _got = _film(_h4, _te)
_c = lambda v: v[None, :, None, None]  # (C,) -> (1, C, 1, 1)
assert not torch.allclose(_got, _c(1 + _scale) * _h4 + _c(_shift), atol=1e-5), (
    "[1 + scale] your FiLM computes (1 + scale) * h + shift. This lesson's FiLM is scale * h + shift "
    "(AdaGN in lesson 03 is the one with 1 +); the identity start comes from the bias.")
assert not torch.allclose(_got, _c(_shift) * _h4 + _c(_scale), atol=1e-5), (
    "[scale first] scale and shift are swapped: the first half of the Linear's output is the scale, "
    "the second half the shift (scale, shift = out.chunk(2, dim=-1)).")
assert torch.allclose(_got, _c(_scale) * _h4 + _c(_shift), atol=1e-5), (
    "[scale * h + shift] with weight 0 and bias [scale..., shift...] the output should be scale * h + shift, "
    "channel by channel; the largest difference is "
    f"{(_got - (_c(_scale) * _h4 + _c(_shift))).abs().max().item():.3g}. No activation, no normalisation.")
# Features with C == W (4 channels, width 4): a [B, 1, 1, C] broadcast runs here without an error.
_hw = torch.randn(3, 4, 3, 4)
with torch.no_grad():
    _got = _film(_hw, torch.randn(3, 3))
assert torch.allclose(_got, _c(_scale) * _hw + _c(_shift), atol=1e-5), (
    "[channel axis] on h [3, 4, 3, 4] (width == channels) each channel should get its own scale and shift, but "
    "yours are applied along another axis (scale[:, None, None, :] scales the columns). Reshape to [B, C, 1, 1].")
# Designed weights that depend on t_emb: FiLM is linear in t_emb (no activation on t_emb).
with torch.no_grad():
    _lin[0].weight.copy_(torch.linspace(-1.0, 1.0, 24).reshape(8, 3))
    _te = torch.tensor([[-1.5, 0.5, -0.25], [2.0, -1.0, 0.75]])
    _got = _film(_h2, _te)
    _p = _te @ _lin[0].weight.T + _lin[0].bias  # (2, 3) @ (3, 8) -> (2, 8): [scale, shift] per sample
assert torch.allclose(_got, _p[:, :4] * _h2 + _p[:, 4:], atol=1e-5), (
    "[linear in t_emb] with designed weights, scale and shift should be exactly the Linear's output on t_emb "
    "(no activation on t_emb, each sample its own t_emb); the largest difference is "
    f"{(_got - (_p[:, :4] * _h2 + _p[:, 4:])).abs().max().item():.3g}.")
print("Basic checks passed: shapes, one Linear, identity at initialisation, scale * h + shift per channel.")
### BEGIN HIDDEN TESTS
from course_utils.grading import probe_helpers as _h
from course_utils.grading.probe import Probe as _Probe

_o = _Probe("check_film")
_o.call("linears", _h.linear_layout, _h.build(FiLM, 6, 5))
_o.emit()
### END HIDDEN TESTS

# %% [judge] id=check_film
expect_linears("linears", [(5, 12)], "FiLM(6, 5)")

# %% [tests] id=hidden_film_identity points=2
# Hidden tests: the identity initialisation, in the weights and in the outputs.
### BEGIN HIDDEN TESTS
import math as _math

from course_utils.grading import probe_helpers as _h
from course_utils.grading.probe import Probe as _Probe

_o = _Probe("hidden_film_identity")
_f = _h.build(FiLM, 6, 5, seed=0)
_o.call("linears", _h.linear_layout, _f)
_o.call("params", _h.count_parameters, _f)
_o.record("weight", lambda: _h.find_linears(_f, [(5, 12)], "FiLM")[0].weight)
_o.record("bias", lambda: _h.find_linears(_f, [(5, 12)], "FiLM")[0].bias)
_t = _h.grid((3, 5), lambda b, j: _math.cos(0.2 + 0.9 * b + 0.5 * j) * 2.0)
_o.call("out2", _f, _h.grid((3, 6), lambda b, c: _math.sin(0.3 + 0.7 * b + 1.1 * c)), _t)
_o.call("out4", _f, _h.grid((3, 6, 4, 5), lambda b, c, i, j: _math.sin(0.2 * b + 0.5 * c + 0.3 * i + 0.7 * j)), _t)
_o.emit()
### END HIDDEN TESTS

# %% [judge] id=hidden_film_identity
expect_linears("linears", [(5, 12)], "FiLM(6, 5)")
expect(obs.integer("params", "the parameter count of FiLM(6, 5)") == 72,
       "FiLM(6, 5) should hold only its Linear(5, 12)")
expect_close(obs.tensor("weight", "the Linear's initial weight"), [[0.0] * 5] * 12, atol=0.0,
             name="the initial weight")
expect_close(obs.tensor("bias", "the Linear's initial bias"), [1.0] * 6 + [0.0] * 6, atol=0.0,
             name="the initial bias")
_h2 = [[math.sin(0.3 + 0.7 * b + 1.1 * c) for c in range(6)] for b in range(3)]
expect_close(result("out2", "a fresh FiLM on [B, C] features", (3, 6)), _h2, atol=1e-6,
             name="a fresh FiLM on [B, C] features")
_h4 = [[[[math.sin(0.2 * b + 0.5 * c + 0.3 * i + 0.7 * j) for j in range(5)] for i in range(4)] for c in range(6)]
       for b in range(3)]
expect_close(result("out4", "a fresh FiLM on [B, C, H, W] features", (3, 6, 4, 5)), _h4, atol=1e-6,
             name="a fresh FiLM on [B, C, H, W] features")

# %% [tests] id=hidden_film_values points=3
# Hidden tests: scale and shift (order, form, no activation) with designed weights on [B, C] features.
### BEGIN HIDDEN TESTS
import math as _math

from course_utils.grading import probe_helpers as _h
from course_utils.grading.probe import Probe as _Probe

_o = _Probe("hidden_film_values")
_f = _h.build(FiLM, 3, 4, seed=0)
_o.record("designed", lambda: _h.set_linears(
    _f, "FiLM",
    (_h.grid((6, 4), lambda i, j: 0.5 * _math.sin(1.0 + 0.7 * i + 1.3 * j)),
     _h.grid((6,), lambda i: 0.3 * _math.cos(0.5 + 0.9 * i)))))
_o.call("out", _f, _h.grid((2, 3), lambda b, c: _math.sin(0.4 + 1.1 * b + 0.6 * c) * 2.0),
        _h.grid((2, 4), lambda b, j: _math.cos(0.3 + 0.8 * b + 1.7 * j) * 1.5))
_o.emit()
### END HIDDEN TESTS

# %% [judge] id=hidden_film_values
expect_designed("designed", "FiLM(3, 4)")
expect_close(result("out", "FiLM(3, 4) on [B, C] features", (2, 3)),
             [[1.03866563, 1.75685281, 1.60673347], [-0.315073947, 0.927584165, 1.09027655]],
             atol=1e-5, name="FiLM(3, 4) with designed weights on [B, C] features")

# %% [tests] id=hidden_film_broadcast points=3
# Hidden tests: broadcasting over spatial dims, with shapes where C == W and B == H.
### BEGIN HIDDEN TESTS
import math as _math

from course_utils.grading import probe_helpers as _h
from course_utils.grading.probe import Probe as _Probe

_o = _Probe("hidden_film_broadcast")
_f = _h.build(FiLM, 4, 3, seed=0)
_o.record("designed", lambda: _h.set_linears(
    _f, "FiLM",
    (_h.grid((8, 3), lambda i, j: 0.4 * _math.cos(0.2 + 0.9 * i + 0.5 * j)),
     _h.grid((8,), lambda i: 0.2 * _math.sin(1.0 + 0.6 * i)))))
_t = _h.grid((3, 3), lambda b, j: _math.sin(0.1 + 1.3 * b + 0.7 * j))
for _shape in [(3, 4, 3, 4), (2, 4, 5, 6)]:  # (3, 4, 3, 4): C == W and B == H, where a wrong broadcast runs
    _x = _h.grid(_shape, lambda b, c, i, j: _math.sin(0.3 * b + 0.7 * c + 0.45 * i + 0.25 * j + 0.1 * c * j))
    _o.call("out_" + "_".join(map(str, _shape)), _f, _x, _t[:_shape[0]])
_o.emit()
### END HIDDEN TESTS

# %% [judge] id=hidden_film_broadcast
expect_designed("designed", "FiLM(4, 3)")
_cases = [  # (3, 4, 3, 4): C == W and B == H, where a wrong broadcast runs without an error
    ((3, 4, 3, 4),
     [[2.56778582, 3.87226743, 3.19373392, 3.74894014], [2.55329602, 4.27641063, 5.62549197, 9.67093872],
      [-0.606142835, -2.17476707, -5.65116808, -4.01876864]],
     [0.319509581, 0.372805411, -0.161041705]),
    ((2, 4, 5, 6),
     [[7.73876127, 9.57129296, 17.1783866, 14.0568943], [3.87261776, 5.6949048, 21.2245343, 26.5303027]],
     [0.319509581, 0.372805411, 0.229328611]),
]
for _shape, _sums, _elems in _cases:
    _out = result("out_" + "_".join(map(str, _shape)), f"FiLM(4, 3) on features of shape {_shape}", _shape)
    expect_close(channel_sums(_out), _sums, atol=1e-4, name=f"per-channel sums on features of shape {_shape}")
    _idx = [(0, 1, 2, 3), (1, 3, 0, 1), (_shape[0] - 1, 2, 1, 0)]
    expect_close([at(_out, i) for i in _idx], _elems, atol=1e-5, name=f"single values on features of shape {_shape}")

# %% [markdown]
# ## 5 · FiLM in the reference note's score MLP, and why it starts as the identity
#
# The reference note's score network for 2-D data is a three-layer MLP with FiLM after each hidden
# Linear and before the activation; the output layer has no FiLM (its output *is* the score). It
# works in continuous time `t ∈ [0, 1]`, so, as lesson 01 showed, `t` is scaled by 1000 before the
# sinusoidal embedding. Here it is, built from **your** `FiLM`:

# %%
class ScoreMLPWithFiLM(nn.Module):
    """s(x, t) for 2-D points x [B, 2] and continuous times t [B] in [0, 1]."""

    def __init__(self, data_dim=2, hidden_dim=128, time_dim=32):
        super().__init__()
        self.time_dim = time_dim
        self.layer1 = nn.Linear(data_dim, hidden_dim)
        self.layer2 = nn.Linear(hidden_dim, hidden_dim)
        self.layer3 = nn.Linear(hidden_dim, hidden_dim)
        self.output = nn.Linear(hidden_dim, data_dim)
        self.film1 = FiLM(hidden_dim, time_dim)
        self.film2 = FiLM(hidden_dim, time_dim)
        self.film3 = FiLM(hidden_dim, time_dim)
        self.act = nn.SiLU()

    def forward(self, x, t):
        emb = sinusoidal_embedding(1000 * t, self.time_dim)   # [B, time_dim]
        h = self.act(self.film1(self.layer1(x), emb))
        h = self.act(self.film2(self.layer2(h), emb))
        h = self.act(self.film3(self.layer3(h), emb))
        return self.output(h)                                 # no FiLM on the output

# %% [markdown]
# The note initialises its FiLM projections with PyTorch's default (small random weights and biases),
# and separately recommends the identity initialisation. What difference does it make?
#
# **Predict before running.** With PyTorch's default initialisation, scale and shift are random
# functions of `t` (the scale is around 0, not around 1). Before any training, how much of the
# output's variation will come from the data point `x`, and how much from `t`? And with the identity
# initialisation: how much does the output change between `t = 0.1` and `t = 0.9`?

# %%
from course_utils.components.time_checks import output_change_with_t, variance_split

torch.manual_seed(0)
identity_net = ScoreMLPWithFiLM()
default_net = ScoreMLPWithFiLM()
default_net.load_state_dict(identity_net.state_dict())   # the same weights everywhere...
for film in [default_net.film1, default_net.film2, default_net.film3]:
    for layer in film.modules():
        if isinstance(layer, nn.Linear):
            layer.reset_parameters()                     # ...except PyTorch's default init for FiLM

x_probe = torch.randn(512, 2)
times = [torch.full((512,), t) for t in torch.linspace(0.01, 1.0, 50).tolist()]   # 50 times in [0, 1]
print("where the output's variation over 512 points x 50 times comes from, before training:")
print("  identity init:", variance_split(identity_net, x_probe, times))
print("  default init :", variance_split(default_net, x_probe, times))
print()
t_a, t_b = torch.full((512,), 0.1), torch.full((512,), 0.9)
print("does the output change between t = 0.1 and t = 0.9?")
print("  identity init:", output_change_with_t(identity_net, x_probe, t_a, t_b))
print("  default init :", output_change_with_t(default_net, x_probe, t_a, t_b))

# %% [markdown]
# **What just happened.** `variance_split` runs the network on every (point, time) pair and asks how
# much of the output's variation is explained by `x` alone and by `t` alone (a two-way analysis of
# variance). With the identity initialisation, all of it comes from `x`: the network starts as the
# plain MLP it would be without FiLM, and its output does not change with `t` at all (a difference
# of exactly 0). With the default initialisation it is the other way round: almost all of the
# variation comes from `t`, and the data point barely matters. Each FiLM layer multiplies the features
# by a small random scale and adds a random, `t`-dependent shift that is larger than what is left of
# the signal, three times over. The network starts as a random function of time, which training
# first has to unlearn.
#
# The identity start does not freeze the time dependence at zero: the gradient of the loss with
# respect to a FiLM weight is (upstream gradient) × `h` × `t_emb`, which is not zero, so training moves
# scale and shift away from 1 and 0 as far as the data asks. The time dependence is *learned*, not
# inherited. Section 6 measures how fast.
#
# ## 6 · Concatenation vs addition vs FiLM, measured
#
# Three ways to let `t` into the same trunk (three hidden layers of 128, SiLU):
#
# | method | what `t` does | where |
# |---|---|---|
# | concatenation | `[x, t_emb]` is the input of the first layer | once, at the input |
# | additive | `h + Linear(t_emb)` after each hidden layer | every layer, shift only |
# | FiLM | `scale(t) * h + shift(t)` after each hidden layer | every layer, scale and shift |
#
# The concatenation and additive networks, and a FiLM network with the default initialisation, are in
# `course_utils/components/score2d.py` (lesson 05 trains all of them to convergence). `course_utils/lessons/lesson02/mlp_conditioning.py`
# trains each for 300 steps of denoising score matching on the eight-Gaussians toy data, and measures,
# before and after, the **relative** change of the output between `t = 0.1` and `t = 0.9`
# (mean |s(x, 0.1) − s(x, 0.9)| divided by the mean |s|). The exact score of this data, which a perfect
# network would output, gives the target for that number.
#
# **Predict before running.** Which network's output will depend on `t` the least at initialisation?
# Which the most after 300 steps? Will the identity-initialised FiLM, which starts at exactly 0, catch up?

# %% [locked] id=compare_conditioning
from course_utils.lessons.lesson02.mlp_conditioning import compare_mlp_conditioning, format_comparison, true_score_change
from course_utils.components.score2d import build_score_network

STEPS = 300
builders = {
    "concat": lambda: build_score_network("concat"),
    "additive": lambda: build_score_network("additive"),
    "FiLM, default init": lambda: build_score_network("film_default_init"),
    "FiLM, identity init (yours)": lambda: ScoreMLPWithFiLM(),
}
rows = compare_mlp_conditioning(builders, steps=STEPS, seed=0)
truth = true_score_change(0.1, 0.9)
print(format_comparison(rows, truth, steps=STEPS))

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4))
names = [r.name for r in rows]
pos = torch.arange(len(rows)).float()
ax1.bar(pos - 0.2, [r.change_at_init.relative for r in rows], width=0.4, label="at initialisation")
ax1.bar(pos + 0.2, [r.change_trained.relative for r in rows], width=0.4, label=f"after {STEPS} steps")
ax1.axhline(truth.relative, color="k", linestyle="--", label="exact score")
ax1.set_xticks(pos.tolist())
ax1.set_xticklabels(names, rotation=15, ha="right")
ax1.set_ylabel("relative change, t = 0.1 vs 0.9")
ax1.legend()
for r in rows:
    smooth = torch.tensor(r.losses).unfold(0, 10, 1).mean(dim=1)   # moving average over 10 steps
    ax2.plot(smooth.numpy(), label=r.name)
ax2.set_xlabel("training step")
ax2.set_ylabel("DSM loss (moving average)")
ax2.set_ylim(top=2.0)
ax2.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# **What just happened.** Read the table from left to right.
#
# * **At initialisation** the three randomly initialised networks already depend on `t`, by accident
#   (random weights on a random embedding: section 5 showed what that does), while the
#   identity-initialised FiLM network does not depend on it at all. Concatenation depends on `t` the
#   least: its 32 time inputs are mixed with the 2 data inputs once, and have to survive three more
#   layers to reach the output.
# * **After training** the exact score sets the target: it changes a lot between `t = 0.1` (large,
#   sharp scores near the eight modes) and `t = 0.9` (close to the `−x` score of a standard normal).
#   Concatenation stays far below that target; the networks that condition every layer get closer,
#   and in this run the identity-initialised FiLM network gets the closest and reaches the lowest
#   held-out loss, after starting from no time dependence at all. In the loss curves on the right,
#   the default-initialised FiLM network starts far above the others (it first has to unlearn its
#   random time dependence) and concatenation ends highest.
#
# How far to trust this: it is one seed, 300 steps, a 2-D toy problem. While writing the lesson we
# re-ran it with seeds 1 and 2 and the order of the four networks was the same, but the gaps are
# modest. It shows the mechanisms at work (conditioning every layer gives `t` more leverage; a
# multiplicative path lets `t` turn features up and down; the identity start learns its time
# dependence instead of inheriting a random one). Lesson 05 trains these networks to convergence
# with several seeds and compares the samples they generate, which is the comparison that decides.
#
# ## 7 · The debugging check: does the output change with `t`?
#
# The reference note suggests running the model twice on the same `x` with two different times and
# printing the mean absolute difference, expecting something "substantial (> 0.1 typically)". The idea is
# right; the threshold is not, for two reasons you have just seen: the number depends on the output's
# scale (divide the network's output by 100 and every difference shrinks by 100 without anything being
# wrong), and a correct identity-initialised FiLM network gives exactly 0 before training.
# `course_utils.components.time_checks.output_change_with_t` prints the difference *and* its size relative to the
# output. A realistic bug to catch: casting continuous times to integers, `t.long()`, turns every
# `t ∈ [0, 1)` into 0, so the network sees the same time for every sample. The loss still goes down
# (the network learns the average denoiser over all noise levels) and nothing crashes.
#
# **Predict before running.** Which of the three lines below reveals a bug?

# %%
trained_film = rows[-1].model                   # the identity-init FiLM network trained in section 6

def buggy(x, t):
    return trained_film(x, t.long().float())    # the bug: continuous t truncated to 0

print("fresh identity-init FiLM :", output_change_with_t(ScoreMLPWithFiLM(), x_probe, t_a, t_b))
print("trained FiLM             :", output_change_with_t(trained_film, x_probe, t_a, t_b))
print("trained FiLM, t.long()   :", output_change_with_t(buggy, x_probe, t_a, t_b))

# %% [markdown]
# **What just happened.** The fresh network and the buggy one both print 0, for different reasons: the
# fresh one *has not learned* its time dependence yet (expected), the buggy one *cannot* see time at all
# (a bug). So run the check **after** some training, and read the relative number: a trained network
# whose output moves by less than about a percent of its size between very different times is not
# using `t`. The same check works for any model with a `model(x, t)` signature, including the U-Nets of
# lesson 04.
#
# ## Key takeaways
#
# 1. The timestep MLP (sinusoidal 256 → Linear 512 → exact GELU → Linear 512, 394,240 parameters) runs
#    once per forward pass and produces the embedding every block reads.
# 2. An untrained MLP keeps the encoding's neighbourhood structure (it is continuous) but adds nothing
#    about time; it only gives training room to shape the embedding.
# 3. FiLM turns `t_emb` into one scale and one shift per feature: `scale * h + shift`, broadcast over
#    the spatial dimensions with scale and shift shaped `[B, C, 1, 1]` — never `[B, 1, 1, C]`.
# 4. Initialise FiLM to the identity (weight 0, bias `[1…, 0…]`): the network starts as if unconditioned,
#    activations keep their size, and the time dependence is learned rather than random.
# 5. Conditioning every layer, with a multiplicative path, gives `t` more leverage than concatenating it
#    once at the input; measure it on your problem rather than trusting a table.
# 6. "Does the output change with `t`?" — ask it after some training, and relative to the output's size.
#
# **Next:** lesson 03 normalises the features before modulating them: adaptive group normalization.
