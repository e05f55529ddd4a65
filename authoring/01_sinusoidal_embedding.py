# %% [markdown]
# # Lesson 01 · The sinusoidal timestep embedding
#
# **Estimated time:** 40–50 minutes · **GPU:** not needed · **Level:** one [Supported] exercise, the rest [Guided]
#
# A diffusion network sees a noisy image *and* a number `t` that says how noisy it is. A single
# scalar is a poor thing to hand a network: it is one input among hundreds, and a network fed raw
# numbers finds it hard to tell `t = 500` from `t = 501` while also telling `t = 500` from `t = 50`.
# The standard fix, borrowed from the Transformer's positional encoding, is to spread `t` over many
# sine and cosine waves of different speeds. This lesson builds that encoding and measures what it buys.
#
# **You will:**
# 1. implement `sinusoidal_embedding(t, d_emb)` to the course's convention (graded);
# 2. look at it as a heatmap over all 1000 timesteps, and zoomed in around `t = 500`;
# 3. measure how similar nearby and distant timesteps are, against random embeddings;
# 4. see why three popular "different" conventions are really the same thing to a network;
# 5. meet the continuous-time pitfall — and measure it — before it bites you in lesson 05;
# 6. check numerically that a shift in time is a rotation of the embedding, and how far it stays unique;
# 7. measure a learned embedding table against the sinusoidal embedding on timesteps it never saw.
#
# Before each code cell marked **Predict before running**, write down your guess. Being wrong
# first is how the picture sticks.

# %% [setup] needs_gpu=no
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

# %% [markdown]
# ## 1 · The formula, and the convention we use
#
# For a timestep `t` (an integer 0…999 in DDPM, or any real number) and an embedding width `d_emb`:
#
# * let `half = d_emb // 2` and, for `i = 0, 1, …, half − 1`, the frequency
#   $\omega_i = 10000^{-i/\text{half}}$ — from 1 (fast) down to almost 1/10000 (very slow);
# * the embedding is all the sines, then all the cosines:
#   $\big[\sin(t\,\omega_0), \dots, \sin(t\,\omega_{\text{half}-1}),\ \cos(t\,\omega_0), \dots, \cos(t\,\omega_{\text{half}-1})\big]$;
# * if `d_emb` is odd, append one column of zeros so the width is exactly `d_emb`.
#
# Your function must also be easy to call and hard to misuse, because later lessons call it from
# inside networks:
#
# * `t` may be a Python number, a 0-d tensor or a 1-d tensor `[B]`, of any dtype (int64, float16,
#   float64, …); the result is always `[B, d_emb]`;
# * the result is **float32** whatever `t`'s dtype, and lives on **`t`'s device** (create every
#   tensor you need on `t.device`);
# * fractional `t` (like 7.5) must stay fractional.
#
# ### Exercise 1 [Supported] — implement `sinusoidal_embedding`
#
# Hints, if you want them:
# * turn a number into a tensor with `torch.tensor([float(t)])`; a 0-d tensor into `[1]` with `t.reshape(1)`;
# * convert **before** any arithmetic: `t = t.to(torch.float32)` (float16 is far too coarse for `t·ω`);
# * `torch.arange(half, dtype=torch.float32, device=t.device)` gives `i`; `torch.exp(-math.log(10000) * i / half)` gives ω;
# * `t[:, None] * omega[None, :]` is the outer product `[B, 1] × [1, half] → [B, half]`;
# * `torch.cat([...], dim=-1)` joins sines and cosines; `F.pad(x, (0, 1))` adds a zero column.

# %% [solution] id=sinusoidal_impl
def sinusoidal_embedding(t, d_emb=256):
    """Embed timesteps t as [sin(t*w), cos(t*w)] with w_i = 10000^(-i/half); returns float32 [B, d_emb]."""
    ### BEGIN SOLUTION
    if not isinstance(t, torch.Tensor):
        t = torch.tensor([float(t)])
    if t.dim() == 0:
        t = t.reshape(1)  # () -> (1,)
    t = t.to(torch.float32)
    half = d_emb // 2
    i = torch.arange(half, dtype=torch.float32, device=t.device)
    omega = torch.exp(-math.log(10000.0) * i / half)
    angles = t[:, None] * omega[None, :]  # (B, 1) * (1, half) -> (B, half)
    emb = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)  # (B, 2*half)
    if d_emb % 2 == 1:
        emb = F.pad(emb, (0, 1))  # (B, 2*half) -> (B, d_emb)
    return emb
    ### END SOLUTION

# %% [tests] id=check_sinusoidal_basics points=2
# Visible checks: run this cell. Each message starts with [the mistake it found] and says what you
# should have seen. They use their own inputs; the hidden tests use others.
_t = torch.tensor([0, 1, 50, 500, 501, 999])
try:
    _e = sinusoidal_embedding(_t, d_emb=256)
except RuntimeError as _err:
    if "must match the size" not in str(_err):
        raise
    raise AssertionError(
        "[outer product] t [6] times omega [128] cannot broadcast. Write t[:, None] * omega[None, :] "
        f"to get angles [B, half] = [6, 128]. PyTorch said: {_err}") from None
assert isinstance(_e, torch.Tensor), f"[return type] sinusoidal_embedding should return a torch.Tensor, got {type(_e).__name__}"
assert tuple(_e.shape) == (6, 256), (
    f"[shape] 6 timesteps and d_emb=256 should give shape (6, 256), got {tuple(_e.shape)}. "
    "Did you forget the [:, None] that makes the outer product [B, 1] x [1, half]?")
assert _e.dtype == torch.float32, f"[float32] the embedding should be float32, got {_e.dtype}"
assert torch.isfinite(_e).all(), (
    "[frequency grid] the embedding holds NaN or infinite values: compute the frequencies in floating point "
    "(an integer power such as 10000 ** torch.arange(...) overflows), w_i = 10000^(-i / half).")
assert not (torch.all(_e[0, 0::2] == 0) and torch.all(_e[0, 1::2] == 1)), (
    "[interleaved] at t = 0 your columns alternate 0, 1, 0, 1, ...: that is the interleaved layout "
    "[sin w0, cos w0, sin w1, ...]. The course concatenates: all 128 sines, then all 128 cosines.")
assert not (torch.all(_e[0, :128] == 1) and torch.all(_e[0, 128:] == 0)), (
    "[cos first] at t = 0 your first 128 columns are 1 and the last 128 are 0: the cosines come first. "
    "The course's order is [sin(t w), cos(t w)]: sines first.")
assert torch.all(_e[0, :128] == 0) and torch.all(_e[0, 128:] == 1), (
    "[sin, cos] at t = 0 every sine is 0 and every cosine is 1: the first 128 columns should be 0 and the "
    "last 128 should be 1.")
assert abs(_e[1, 0].item() - math.sin(1.0)) < 1e-4, (
    f"[fastest frequency] column 0 at t = 1 should be sin(1 * w_0) = sin(1) = 0.8415 (w_0 = 1), got {_e[1, 0].item():.4f}")
# A middle frequency: w_64 = 10000^(-64/128) = 0.01, so column 64 at t = 50 is sin(0.5).
assert abs(_e[2, 64].item() - math.sin(0.5)) < 1e-4, (
    f"[frequency grid] column 64 at t = 50 should be sin(50 * w_64) = sin(0.5) = 0.4794 with "
    f"w_i = 10000^(-i / half) and half = 256 / 2 = 128 (so w_64 = 0.01); got {_e[2, 64].item():.4f}. "
    "Check the exponent: -i / half (not -i / (half - 1), not -2i / half, not -i / d_emb, and the minus sign), "
    "and compute it in floating point (an integer 10000 ** i overflows).")
assert abs(_e[5, 255].item() - math.cos(999 * 10000 ** (-127 / 128))) < 1e-4, (
    "[frequency grid] the last column at t = 999 should be cos(999 * w_127) with w_127 = 10000^(-127/128): "
    f"{math.cos(999 * 10000 ** (-127 / 128)):.4f}; got {_e[5, 255].item():.4f}")
_f = sinusoidal_embedding(torch.tensor([7.5]), 4)
assert abs(_f[0, 0].item() - math.sin(7.5)) < 1e-4, (
    f"[fractional t] t = 7.5 should give sin(7.5) = {math.sin(7.5):.4f} in column 0, got {_f[0, 0].item():.4f}: "
    "fractional t must stay fractional (convert with .to(torch.float32), never through .long())")
try:
    _n = sinusoidal_embedding(5, 4)
except Exception as _err:
    raise AssertionError(f"[python number] sinusoidal_embedding(5, 4) raised {type(_err).__name__}: {_err}. "
                         "Turn a number into a tensor first: torch.tensor([float(t)])") from None
assert isinstance(_n, torch.Tensor) and tuple(_n.shape) == (1, 4), (
    f"[python number] sinusoidal_embedding(5, 4) should accept a Python number and return shape (1, 4), "
    f"got {getattr(_n, 'shape', type(_n).__name__)}")
try:
    _z = sinusoidal_embedding(torch.tensor(5), 4)
except Exception as _err:
    raise AssertionError(f"[0-d tensor] sinusoidal_embedding(torch.tensor(5), 4) raised {type(_err).__name__}: "
                         f"{_err}. Turn a 0-d tensor into shape [1] first: t.reshape(1)") from None
assert tuple(_z.shape) == (1, 4), f"[0-d tensor] a 0-d tensor t should give shape (1, 4), got {tuple(_z.shape)}"
_h16 = sinusoidal_embedding(torch.tensor([999.0], dtype=torch.float16), 256)
_h32 = sinusoidal_embedding(torch.tensor([999.0]), 256)
assert _h16.dtype == torch.float32 and (_h16 - _h32).abs().max().item() < 1e-4, (
    "[convert before arithmetic] t = 999 given as float16 should give the same float32 embedding as t = 999.0 "
    f"in float32; the largest difference is {(_h16.float() - _h32).abs().max().item():.3g} and the dtype {_h16.dtype}. "
    "Convert t with t.to(torch.float32) before any arithmetic: float16 is far too coarse for t * w.")
_o = sinusoidal_embedding(torch.tensor([1.0, 2.0]), 7)
assert tuple(_o.shape) == (2, 7) and torch.all(_o[:, -1] == 0), (
    f"[odd d_emb] d_emb = 7 should give shape (2, 7) whose last column is zeros, got shape {tuple(_o.shape)}: "
    "pad one zero column with F.pad(emb, (0, 1)) when d_emb is odd")
try:
    _m = sinusoidal_embedding(torch.zeros(3, device="meta"), 8)
except (RuntimeError, NotImplementedError) as _err:
    raise AssertionError(f"[device] t on PyTorch's 'meta' device raised an error: {str(_err)[:120]}. "
                         "Create every tensor on t's device (device=t.device).") from None
assert _m.device.type == "meta", f"[device] the result should be on t's device ('meta'), got {_m.device}"
assert _e.abs().max().item() <= 1.0 + 1e-6, "[range] sines and cosines never leave [-1, 1]"
print("Basic checks passed: shape, dtype, layout, frequency grid, fractional t, numbers, float16, odd d_emb, device.")
### BEGIN HIDDEN TESTS
import torch as _torch
from course_utils.grading.probe import Probe as _Probe

_o = _Probe("check_sinusoidal_basics")
_o.call("d4_t3", sinusoidal_embedding, _torch.tensor([3.0]), 4)
_o.emit()
### END HIDDEN TESTS

# %% [judge] id=check_sinusoidal_basics
_t = obs.tensor("d4_t3", "sinusoidal_embedding(torch.tensor([3.0]), 4)")
expect_shape(_t, (1, 4), "d_emb=4 at t=3")
expect_close(_t, [[0.141120008, 0.0299955002, -0.989992497, 0.999550034]], name="d_emb=4 at t=3")

# %% [judgelib]
def truth(t, d):
    """The course's embedding of one timestep, in float64 (the reference the judgements use)."""
    h = d // 2
    w = [10000.0 ** (-i / h) for i in range(h)]
    return [math.sin(t * x) for x in w] + [math.cos(t * x) for x in w] + ([0.0] if d % 2 else [])

# %% [tests] id=hidden_sinusoidal_values points=4
# Hidden tests compare your embedding with values computed in float64 (tolerance 1e-4).
### BEGIN HIDDEN TESTS
import torch as _torch
from course_utils.grading.probe import Probe as _Probe

_o = _Probe("hidden_sinusoidal_values")
_o.call("d8", sinusoidal_embedding, _torch.tensor([0.0, 1.0, 7.5, 999.0]), 8)
_e500 = _o.run("e500", sinusoidal_embedding, _torch.tensor([500]), 256)
_o.record("e500_cols", lambda: _e500[0, [0, 1, 5, 40, 100, 127, 128, 129, 200, 255]])
_o.emit()
### END HIDDEN TESTS

# %% [judge] id=hidden_sinusoidal_values
_d8 = obs.tensor("d8", "sinusoidal_embedding(t, 8) for t = [0, 1, 7.5, 999]")
expect_shape(_d8, (4, 8), "d_emb=8 at t=[0, 1, 7.5, 999]")
expect_close(_d8, [truth(t, 8) for t in (0.0, 1.0, 7.5, 999.0)], name="d_emb=8 at t=[0, 1, 7.5, 999]")
expect_shape(obs.tensor("e500", "sinusoidal_embedding(t, 256) for t = [500]"), (1, 256), "d_emb=256 at t=500")
_cols = [0, 1, 5, 40, 100, 127, 128, 129, 200, 255]
_full = truth(500.0, 256)
expect_close(obs.tensor("e500_cols", "columns of the embedding at t=500"), [_full[c] for c in _cols],
             name="d_emb=256 at t=500 (selected columns)")

# %% [tests] id=hidden_sinusoidal_inputs points=2
# Hidden tests: numbers and 0-d tensors, every dtype gives float32, odd widths, a full batch. Each is
# compared with your own embedding of the same times as a float32 batch, so only input handling counts here.
### BEGIN HIDDEN TESTS
import torch as _torch
from course_utils.grading.probe import Probe as _Probe

_o = _Probe("hidden_sinusoidal_inputs")
_o.call("own_6", sinusoidal_embedding, _torch.tensor([5.0, 2.5, 7.0, 0.25]), 6)
for _k, _arg in [("int_5", 5), ("float_2_5", 2.5), ("t0d_int_7", _torch.tensor(7)),
                 ("t0d_f64", _torch.tensor(0.25, dtype=_torch.float64))]:
    _o.call(_k, sinusoidal_embedding, _arg, 6)
_o.call("own_16", sinusoidal_embedding, _torch.tensor([999.0, 500.0, 3.0]), 16)
for _dt in [_torch.float16, _torch.float64, _torch.int32, _torch.int64]:
    _o.call("dtype_" + str(_dt).replace("torch.", ""), sinusoidal_embedding,
            _torch.tensor([999, 500, 3], dtype=_dt), 16)
for _d in [7, 9, 33]:
    _o.call(f"odd_{_d}", sinusoidal_embedding, _torch.tensor([1.0, 42.0]), _d)
    _o.call(f"even_{_d - 1}", sinusoidal_embedding, _torch.tensor([1.0, 42.0]), _d - 1)
_o.run("batch_128", sinusoidal_embedding, _torch.arange(128), 256)
_o.emit()
### END HIDDEN TESTS

# %% [judge] id=hidden_sinusoidal_inputs
# Compared with the learner's own float32 batch: a wrong frequency grid fails hidden_sinusoidal_values, not this.
_own6 = obs.tensor("own_6", "sinusoidal_embedding(torch.tensor([5.0, 2.5, 7.0, 0.25]), 6)")
expect_shape(_own6, (4, 6), "a batch of 4 timesteps with d_emb=6")
expect(len({tuple(r) for r in _own6.rows()}) == 4,
       "your embedding gives the same row for different timesteps: these input tests need one that depends on t")
for _row, (_k, _what) in enumerate([("int_5", "the Python int 5"), ("float_2_5", "the Python float 2.5"),
                                    ("t0d_int_7", "the 0-d tensor 7"), ("t0d_f64", "a 0-d float64 tensor")]):
    _out = obs.tensor(_k, f"sinusoidal_embedding({_what}, 6)")
    expect_shape(_out, (1, 6), f"a single timestep ({_what})")
    expect_dtype(_out, "float32", f"the output for {_what}")
    expect_close(_out, [_own6.rows()[_row]], atol=1e-6,
                 name=f"{_what} compared with the same time in a float32 batch (single timesteps)")
_own16 = obs.tensor("own_16", "sinusoidal_embedding(torch.tensor([999.0, 500.0, 3.0]), 16)")
expect_shape(_own16, (3, 16), "a batch of 3 timesteps with d_emb=16")
expect(len({tuple(r) for r in _own16.rows()}) == 3,
       "your embedding gives the same row for different timesteps: these input tests need one that depends on t")
for _dt in ["float16", "float64", "int32", "int64"]:
    _out = obs.tensor("dtype_" + _dt, f"sinusoidal_embedding(t, 16) with t of dtype {_dt}")
    expect_dtype(_out, "float32", f"with t of dtype {_dt} the output")
    expect_shape(_out, (3, 16), f"with t of dtype {_dt} the output")
    expect_close(_out, _own16, atol=1e-5,
                 name=f"with t of dtype {_dt}, compared with float32 t (convert t to float32 before any arithmetic)")
for _d in [7, 9, 33]:
    _out = obs.tensor(f"odd_{_d}", f"sinusoidal_embedding(t, {_d})")
    _even = obs.tensor(f"even_{_d - 1}", f"sinusoidal_embedding(t, {_d - 1})")
    expect_shape(_out, (2, _d), f"odd d_emb={_d}")
    expect_shape(_even, (2, _d - 1), f"even d_emb={_d - 1}")
    expect(_out.rows()[0][-1] == 0.0 and _out.rows()[1][-1] == 0.0, f"odd d_emb={_d}: the last column must be zeros")
    expect_close([r[:-1] for r in _out.rows()], _even, atol=1e-6,
                 name=f"odd d_emb={_d}: the columns before the zero column (they should equal d_emb={_d - 1})")
expect_shape(obs.tensor("batch_128", "sinusoidal_embedding(torch.arange(128), 256)"), (128, 256),
             "B=128, d_emb=256")

# %% [tests] id=hidden_sinusoidal_device points=2
# Hidden tests: the embedding is created on t's device (checked with PyTorch's 'meta' device).
### BEGIN HIDDEN TESTS
import torch as _torch
from course_utils.grading.probe import Probe as _Probe

_o = _Probe("hidden_sinusoidal_device")
_o.run("meta", sinusoidal_embedding, _torch.zeros(5, device="meta"), 32)
_o.emit()
### END HIDDEN TESTS

# %% [judge] id=hidden_sinusoidal_device
_out = obs.tensor("meta", "sinusoidal_embedding(t, 32) with t on the 'meta' device")
expect(_out.type == "Tensor", f"the result should be a plain torch.Tensor, got a {_out.type}")
expect(_out.device == "meta", f"with t on device 'meta' the output should be on 'meta', got {_out.device}: "
                              "create the frequencies on t.device")
expect_shape(_out, (5, 32), "the output on the meta device")
expect_dtype(_out, "float32", "the output on the meta device")

# %% [markdown]
# ## 2 · What the embedding looks like
#
# **Predict before running.**
# * Will the rows for `t = 500` and `t = 501` look alike? And `t = 500` and `t = 50`?
# * Which columns change quickly as `t` grows — the low-index ones or the high-index ones?
# * Will the cosine half of the picture look like the sine half shifted, or like something else?

# %%
all_t = torch.arange(1000)
emb_all = sinusoidal_embedding(all_t, 256)          # [1000, 256]
zoom_t = torch.arange(495, 506)
emb_zoom = sinusoidal_embedding(zoom_t, 256)        # [11, 256]

from course_utils.plotting import heatmap

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 5))
im = heatmap(ax1, emb_all.numpy(), title="All timesteps t = 0…999", xlabel="embedding dimension",
             ylabel="timestep t")
heatmap(ax2, emb_zoom.numpy(), title="Zoom: t = 495…505", xlabel="embedding dimension",
        ylabel="timestep t", yticks=zoom_t.tolist())
fig.colorbar(im, ax=[ax1, ax2], shrink=0.8)
plt.show()

# %% [markdown]
# **What just happened.** Each row is one timestep's 256 numbers. The left edge of each half
# (small `i`, ω close to 1) flickers from row to row: one full turn every 2π ≈ 6 timesteps. Moving
# right, ω shrinks geometrically and the stripes widen, until the last columns barely change over
# the whole range. Reading a row is like reading a clock with 128 hands: the fast hands tell
# neighbours apart, the slow hands say roughly *where* in the process you are.
# The zoom shows the other half of the story: neighbouring rows differ only in the fast columns on the left.
#
# ## 3 · Nearby timesteps are similar, distant ones are not — measured
#
# **Predict before running.** For the sinusoidal embedding, rank these cosine similarities:
# (500, 501), (500, 510), (500, 50). Now imagine each timestep got its own *random* vector instead:
# what would the same three numbers be?

# %%
def cosine(a, b):
    return F.cosine_similarity(a[None], b[None]).item()

torch.manual_seed(0)
random_table = torch.randn(1000, 256)               # a random vector per timestep

pairs = [(500, 501), (500, 510), (500, 50), (500, 0)]
print(f"{'pair':>14} | {'sinusoidal':>10} | {'random':>8}")
print("-" * 40)
for a, b in pairs:
    print(f"{a:>5} vs {b:<5} | {cosine(emb_all[a], emb_all[b]):>+10.4f} | "
          f"{cosine(random_table[a], random_table[b]):>+8.4f}")

# %%
# The same similarity for every gap from 1 to 499 steps after t = 500: does it only ever fall?
gaps_sim = F.cosine_similarity(emb_all[500][None], emb_all[500:1000])   # [500]: gap 0, 1, ..., 499
rises = int((gaps_sim[1:] > gaps_sim[:-1]).sum())
print(f"similarity to t = 500 at gap 1: {gaps_sim[1]:+.4f}, gap 10: {gaps_sim[10]:+.4f}, "
      f"lowest {gaps_sim.min():+.4f} at gap {int(gaps_sim.argmin())}")
print(f"gaps (of 499) at which the similarity is higher than at the gap one step shorter: {rises}")

# %% [markdown]
# **What just happened.** The sinusoidal embedding gives the nearest neighbours the highest similarity
# and distant timesteps much lower ones, because only the fast hands have moved between 500 and 501,
# while between 500 and 50 every hand has. The decline is not monotone, though: the fast hands keep
# turning and come back round, so the similarity wobbles up again at many gaps (the second cell
# counts them) while its overall trend falls.
# Random vectors in 256 dimensions are nearly orthogonal to each other: about 0 ± 0.06 whatever the
# gap, so a network fed them would have to learn separately, for each of the 1000 timesteps, what
# that noise level means. With the sinusoidal encoding, what it learns at `t = 500` carries over to `t = 501`.
#
# ## 4 · Convention box: three "different" embeddings that a network cannot tell apart
#
# Read other people's code and you will meet variations of this function. Which of them matter?
#
# | variant | where you see it | what changes |
# |---|---|---|
# | interleaved `[sin ω₀, cos ω₀, sin ω₁, cos ω₁, …]` | the Transformer paper's formula | the *order* of the columns |
# | `[cos, sin]` instead of `[sin, cos]` | OpenAI's guided-diffusion / improved-diffusion | the *order* of the columns |
# | ω_i = 10000^(−i/(half−1)) | the DDPM code and many ports of it | the *frequency grid*: slightly slower hands |
#
# The first two are a **fixed permutation** of the same numbers. The embedding always feeds a
# Linear layer, and permuting a Linear layer's inputs is the same as permuting its weight columns,
# which training finds just as easily. Let us check that with numbers rather than take it on faith.

# %%
d = 16
half = d // 2
t_demo = torch.tensor([0.0, 3.0, 250.0, 999.0])
ours = sinusoidal_embedding(t_demo, d)                                    # [sin..., cos...]
perm = torch.stack([torch.arange(half), torch.arange(half) + half], dim=1).reshape(-1)  # (half, 2) -> (d,)
interleaved = ours[:, perm]                                               # [sin0, cos0, sin1, cos1, ...]

lin = torch.nn.Linear(d, 4)
lin_perm = torch.nn.Linear(d, 4)
with torch.no_grad():
    lin_perm.weight.copy_(lin.weight[:, perm])                            # same weights, columns permuted
    lin_perm.bias.copy_(lin.bias)
gap = (lin(ours) - lin_perm(interleaved)).abs().max().item()
print(f"Linear on [sin, cos] vs Linear with permuted weights on interleaved: max |difference| = {gap:.2e}")

# The DDPM grid is not a permutation: the frequencies themselves differ a little.
i = torch.arange(128, dtype=torch.float64)
ours_w = 10000.0 ** (-i / 128)
ddpm_w = 10000.0 ** (-i / 127)
print(f"slowest frequency, ours: {ours_w[-1].item():.3e}   DDPM's: {ddpm_w[-1].item():.3e} (exactly 1/10000)")
print(f"largest ratio between matching frequencies: {(ours_w / ddpm_w).max().item():.3f}")

# %% [markdown]
# **What just happened.** The two Linear layers agree to rounding error (around 1e-7): to a network,
# interleaved vs. concatenated and `[sin, cos]` vs. `[cos, sin]` are the same embedding. DDPM's
# `half − 1` grid is genuinely different — its slowest hand is exactly 1/10000 and every hand runs a
# little slower than ours (the printout gives the largest ratio) — but both are smooth and cover nearly
# the same range. Whether a network trained from scratch does better with one grid or the other is not
# measured in this course. **Where the grid certainly matters: loading someone else's trained weights.**
# A checkpoint expects exactly the convention it was trained with, and the wrong one silently
# gives garbage rather than an error. The course fixes one convention so that every lesson, test
# and hidden test agree.
#
# ## 5 · The continuous-time pitfall
#
# Score-based models (lesson 05) use continuous time `t ∈ [0, 1]` instead of integers 0…999.
# It is tempting to pass that `t` straight into the same function.
#
# **Predict before running.** With `t` only ranging over [0, 1], how many of the 256 columns will
# change by more than 0.01 as `t` goes from 0 to 1?

# %%
t_unit = torch.linspace(0, 1, 201)

def moving_columns(emb, threshold=0.01):
    spread = emb.max(dim=0).values - emb.min(dim=0).values   # how far each column moves over the t range
    return int((spread > threshold).sum())

raw = sinusoidal_embedding(t_unit, 256)
scaled = sinusoidal_embedding(1000 * t_unit, 256)
g = torch.Generator().manual_seed(0)
B_fourier = torch.randn(128, generator=g) * 16.0                      # Gaussian Fourier features, scale 16
ff = torch.cat([torch.sin(2 * math.pi * t_unit[:, None] * B_fourier), torch.cos(2 * math.pi * t_unit[:, None] * B_fourier)], dim=-1)
print(f"columns that move by more than 0.01 over t in [0, 1] (of 256):")
print(f"  t fed unscaled        : {moving_columns(raw):>3}")
print(f"  t scaled by 1000      : {moving_columns(scaled):>3}")
print(f"  Gaussian Fourier (16) : {moving_columns(ff):>3}")
fig, axes = plt.subplots(1, 2, figsize=(12, 3.5))
heatmap(axes[0], raw.numpy(), title="t in [0, 1] fed unscaled", xlabel="embedding dimension", ylabel="t index")
heatmap(axes[1], scaled.numpy(), title="t scaled by 1000", xlabel="embedding dimension", ylabel="t index")
plt.show()

# %% [markdown]
# **What just happened.** Fed unscaled, `t ∈ [0, 1]` turns even the fastest hand by at most one
# radian, and the slower hands hardly at all: well over half of the columns (see the printout) are
# constant — sines stuck near 0, cosines stuck near 1 — so the network receives a minority of
# useful numbers padded with dead weight. The hands' speeds were chosen for integer timesteps: even the
# slowest needs `t` ≈ 10,000^(1 − 1/128) ≈ 9,300 to turn by one radian (section 7 prints every hand's
# period), while over 0…999 more than half of them complete at least one turn. Scaling `t` by 1000 restores the full
# range of speeds; Song et al.'s code does the same for its VP models (it scales `t` by 999). For its VE
# models it uses Gaussian Fourier features instead (Tancik et al. 2020), random frequencies chosen
# for the [0, 1] range.
# Lesson 05 measures what the pitfall does to a trained score network.
#
# ## 6 · Explore: drag `t`
#
# The static row below always renders (also on GitHub); with a live kernel a slider follows it.

# %%
from course_utils.widgets import explore

def draw_embedding(ax, t_value):
    e = sinusoidal_embedding(torch.tensor([float(t_value)]), 256)[0]
    ax.bar(range(256), e.numpy(), width=1.0, color=["tab:blue"] * 128 + ["tab:orange"] * 128)
    ax.set_ylim(-1.05, 1.05)
    ax.set_title(f"t = {t_value}")
    ax.set_xlabel("dimension (blue: sin, orange: cos)")

explore(draw_embedding, (0, 999), label="t", snapshots=[0, 10, 500, 999])

# %% [markdown]
# ## 7 · Shifts are rotations, and how far the clock reaches
#
# Each pair `(sin tω, cos tω)` is a point on a circle. Moving `t` by `k` turns it by the angle `kω`,
# whatever `t` is — the angle-addition formulas:
# `sin((t+k)ω) = cos(kω)·sin(tω) + sin(kω)·cos(tω)` and `cos((t+k)ω) = −sin(kω)·sin(tω) + cos(kω)·cos(tω)`.
# So `γ(t + k) = R(k) γ(t)` for a fixed matrix `R(k)` made of one 2×2 rotation per frequency: a shift
# in time is a *linear* map of the embedding, the same at every `t` (the Transformer paper's reason
# for choosing sinusoids). A layer that reads `γ(t)` can therefore learn "k steps later" once.
#
# **Predict before running.** How large will the largest error of `R(k) γ(t)` against `γ(t + k)` be,
# over all `t` in 0…999?

# %%
from course_utils.lessons.lesson01.embedding_properties import hand_periods, nearest_lookalike, shift_matrix

emb64 = sinusoidal_embedding(all_t, 256).double()                       # [1000, 256]
for k in (1, 10, 250):
    rotated = emb64[: 1000 - k] @ shift_matrix(k, 256).T                  # gamma(t) -> R(k) gamma(t)
    err = (rotated - emb64[k:]).abs().max().item()
    print(f"k = {k:>3}: max |R(k) gamma(t) - gamma(t + k)| over t = 0..{999 - k}: {err:.1e}")

periods = hand_periods(256)
print(f"\nperiod of each hand, in timesteps: fastest {periods[0]:.2f}, slowest {periods[-1]:,.0f}; "
      f"the slowest hand turns by one radian at t = {periods[-1] / (2 * math.pi):,.0f}")
print(f"hands that complete at least one turn over t = 0..999: {int((periods <= 999).sum())} of {len(periods)}")
for d_look, horizon in ((256, 1000), (256, 200_000), (32, 1000), (32, 200_000)):
    s_near, c_near = nearest_lookalike(500, d_look, horizon)
    print(f"d = {d_look:>3}, t in 0..{horizon - 1:>7,}: most similar timestep at least 20 steps from 500 "
          f"is {s_near:>7,} (cosine {c_near:.3f})")

# %% [markdown]
# **What just happened.** The rotation reproduces the embedding to float32 rounding (the embedding is
# computed in float32, so `t·ω` near `t = 1000` carries rounding errors of order 1e-4): the shift
# property holds exactly in exact arithmetic. Every hand is periodic, from about 6 timesteps for the
# fastest to about 58,000 for the slowest, but the frequencies are not multiples of each other, so the
# whole embedding never repeats exactly. In practice, the question is whether some far-away timestep
# *looks like* `t = 500`: the last lines search for the most similar one. With 256 dimensions nothing
# in the first 200,000 steps comes closer than a near neighbour of 500 itself; with only 32
# dimensions (16 hands) a timestep far outside the trained range is a closer look-alike than any
# inside it. The embedding stays unique over the range it is used on; far beyond the slowest period,
# and with few hands, it starts to alias.
#
# ## 8 · A learned table instead of sinusoids, measured
#
# The obvious alternative is to learn one vector per timestep: `nn.Embedding(1000, d)`, a table trained
# like any weight. Section 3's random table is such a table before training. The catch is that a row is
# only trained when its timestep appears in a batch. Here both embeddings (64 wide) feed the same small
# MLP that must predict the noise level DDPM attaches to `t`, `(√ᾱ_t, √(1 − ᾱ_t))`; each is trained on
# 200 randomly chosen timesteps and scored on the other 800, for five seeds.
#
# **Predict before running.** Which embedding fits the 200 training timesteps better? Which does
# better on the 800 it never saw?

# %%
from course_utils.cpu_threads import limit_threads
from course_utils.lessons.lesson01.learned_table import TableStudyConfig, compare, held_out_sentence

table_cfg = TableStudyConfig()
if RUN.grading or RUN.smoke:                 # the autograder and the test-suite: a tiny study
    table_cfg = TableStudyConfig(steps=30, seeds=(0, 1))
with limit_threads(1):                       # tiny models: one thread is fastest
    table = compare(table_cfg)
print(f"{table_cfg.n_train} training timesteps, {table_cfg.num_timesteps - table_cfg.n_train} held out, "
      f"{table_cfg.steps} steps, seeds {list(table_cfg.seeds)}; mean squared error, mean ± std over seeds:")
for kind, errs in table.items():
    tr, ho = np.array(errs["train_mse"]), np.array(errs["held_out_mse"])
    print(f"  {kind:<10}  training timesteps {tr.mean():.2e} ± {tr.std(ddof=1):.1e}   "
          f"held-out timesteps {ho.mean():.2e} ± {ho.std(ddof=1):.1e}")
print(held_out_sentence(table["learned"]["held_out_mse"], table["sinusoidal"]["held_out_mse"]))

# %% [markdown]
# **What just happened.** The table can memorise the timesteps it was shown (one free vector each), but
# the rows of the unseen timesteps never moved from their random start, so the MLP receives noise for
# them (the last printed line compares the held-out errors), while the sinusoidal embedding carries what
# it learned at `t` over to `t ± 1` through its smooth structure (section 3). A diffusion model draws
# its timesteps at random, so with enough training every row of a 1000-row table is eventually seen;
# the table still has to learn each row separately, and it cannot represent a `t` it was never trained
# on (a fractional `t`, or a sampler that uses timesteps the training skipped).
#
# ## Key takeaways
#
# 1. The sinusoidal embedding writes `t` with 128 clock hands of geometrically spaced speeds:
#    fast hands separate neighbouring timesteps, slow hands locate the broad noise level.
# 2. It has no parameters and is smooth: nearby timesteps get similar vectors, unlike a random table.
# 3. Column order (interleaved, `[cos, sin]`) is a permutation a Linear layer absorbs; the frequency
#    grid (`half − 1`) is a real difference (not measured here for training from scratch) that breaks
#    pretrained weights.
# 4. Make the function robust: accept numbers and tensors, compute in float32, on `t`'s device.
# 5. Continuous `t ∈ [0, 1]` must be scaled (×1000) or encoded with Fourier features made for that range.
# 6. A shift in time is a fixed rotation of the embedding, `γ(t + k) = R(k) γ(t)`; each hand is periodic,
#    the whole embedding stays unique over the range it is used on.
# 7. A learned table fits the timesteps it saw and knows nothing about the others; the sinusoidal
#    embedding generalises across `t` by construction (measured in section 8).
#
# **Next:** lesson 02 feeds this embedding through a small MLP and uses it to modulate features (FiLM).
