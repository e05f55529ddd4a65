"""Lesson 03's conv blocks: five ways to let a time embedding into a convolution, measured.

The block is the reference note's ``UNetBlock``: ``conv3x3 -> condition on t ->
SiLU``, twice. Only the "condition on t" step changes between methods:

========================  ==================================================  ==============================
method                    what t does to the features ``h [B, C, H, W]``       used by
========================  ==================================================  ==============================
``"none"``                nothing (the baseline)                              --
``"concat"``              ``t_emb`` broadcast to ``[B, D, H, W]`` and          early conditional GANs/U-Nets
                          concatenated to each conv's input channels
``"additive"``            ``h + Linear(t_emb)`` per channel                   DDPM (Ho et al., 2020)
``"film"``                ``scale(t) * h + shift(t)`` per channel (FiLM)       the reference note; Perez et al. 2018
``"adagn"``               ``(1 + gamma(t)) * GroupNorm(h) + beta(t)``          Dhariwal & Nichol 2021 (AdaGN)
``"cross_attention"``     pixels attend to ``t_emb`` as a single token          (a cautionary example)
========================  ==================================================  ==============================

Cross-attention to a *single* token is worth measuring because it looks
expressive and is not: the softmax over one key is exactly 1 for every pixel, so
the block adds the same projected value vector everywhere, which is the
``"additive"`` method with more parameters and more compute.
(:func:`single_token_attention_is_additive` checks this numerically.)

The AdaGN and FiLM layers default to :mod:`course_utils.reference`; pass
``adagn_cls`` / ``film_cls`` to use a learner's class with the same signature.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from course_utils.components.adagn import AdaGN
from course_utils.cpu_threads import limit_threads
from course_utils.components.film import FiLM

__all__ = [
    "METHODS",
    "AddTime",
    "CrossAttentionToTime",
    "NoTime",
    "ConditionedConvBlock",
    "ModulatedSkip",
    "seconds_per_forward",
    "CostRow",
    "compare_block_costs",
    "format_costs",
    "describe_costs",
    "single_token_attention_is_additive",
]

METHODS: tuple[str, ...] = ("none", "concat", "additive", "film", "adagn", "cross_attention")


class NoTime(nn.Module):
    """Ignores the time embedding: ``h -> h``."""

    def forward(self, h: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
        return h


class AddTime(nn.Module):
    """``h + Linear(time_dim, C)(t_emb)``, the same shift for every pixel of a channel."""

    def __init__(self, channels: int, time_dim: int) -> None:
        super().__init__()
        if channels < 1 or time_dim < 1:
            raise ValueError(f"channels and time_dim must be >= 1, got {channels}, {time_dim}")
        self.proj = nn.Linear(time_dim, channels)

    def forward(self, h: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
        shift = self.proj(t_emb)  # (B, D) -> (B, C)
        return h + shift[:, :, None, None]  # (B, C) -> (B, C, 1, 1), broadcast over H, W


class CrossAttentionToTime(nn.Module):
    """Every pixel (query) attends to the time embedding as one token (key and value).

    ``h + W_o softmax(q k^T / sqrt(C)) v`` with ``q = W_q h`` per pixel and
    ``k = W_k t_emb``, ``v = W_v t_emb``. With one token the attention weights are
    all exactly 1, so the result is ``h + W_o W_v t_emb`` for every pixel.
    """

    def __init__(self, channels: int, time_dim: int) -> None:
        super().__init__()
        if channels < 1 or time_dim < 1:
            raise ValueError(f"channels and time_dim must be >= 1, got {channels}, {time_dim}")
        self.q = nn.Linear(channels, channels)
        self.k = nn.Linear(time_dim, channels)
        self.v = nn.Linear(time_dim, channels)
        self.out = nn.Linear(channels, channels)

    def forward(self, h: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
        b, c, height, width = h.shape
        pixels = h.flatten(2).transpose(1, 2)  # (B, C, H, W) -> (B, HW, C)
        q = self.q(pixels)  # (B, HW, C)
        k = self.k(t_emb)[:, None, :]  # (B, D) -> (B, 1, C): one token
        v = self.v(t_emb)[:, None, :]  # (B, D) -> (B, 1, C)
        weights = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(c), dim=-1)  # (B, HW, 1), all ones
        attended = self.out(weights @ v)  # (B, HW, 1) @ (B, 1, C) -> (B, HW, C)
        return h + attended.transpose(1, 2).reshape(b, c, height, width)  # (B, HW, C) -> (B, C, H, W)


def _conditioning(
    method: str,
    channels: int,
    time_dim: int,
    num_groups: int,
    film_cls: Callable[..., nn.Module],
    adagn_cls: Callable[..., nn.Module],
) -> nn.Module:
    if method in ("none", "concat"):
        return NoTime()
    if method == "additive":
        return AddTime(channels, time_dim)
    if method == "film":
        return film_cls(channels, time_dim)
    if method == "adagn":
        return adagn_cls(channels, time_dim, num_groups)
    if method == "cross_attention":
        return CrossAttentionToTime(channels, time_dim)
    raise ValueError(f"unknown method {method!r}; pick one of {METHODS}")


class ConditionedConvBlock(nn.Module):
    """The note's ``UNetBlock`` with a pluggable time conditioning: ``(conv -> cond -> SiLU) x 2``.

    Args:
        in_channels, out_channels: channels in and out (padding keeps H and W).
        time_dim: width ``D`` of the time embedding ``t_emb [B, D]``.
        method: one of :data:`METHODS`.
        num_groups: GroupNorm groups for ``"adagn"`` (must divide ``out_channels``).
        film_cls, adagn_cls: the FiLM / AdaGN classes to use (default: the reference ones),
            called as ``film_cls(C, D)`` and ``adagn_cls(C, D, num_groups)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        time_dim: int,
        method: str = "film",
        *,
        num_groups: int = 32,
        film_cls: Callable[..., nn.Module] = FiLM,
        adagn_cls: Callable[..., nn.Module] = AdaGN,
    ) -> None:
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; pick one of {METHODS}")
        if min(in_channels, out_channels, time_dim) < 1:
            raise ValueError("in_channels, out_channels and time_dim must be >= 1")
        self.method, self.time_dim = method, time_dim
        extra = time_dim if method == "concat" else 0
        self.conv1 = nn.Conv2d(in_channels + extra, out_channels, 3, padding=1)
        self.conv2 = nn.Conv2d(out_channels + extra, out_channels, 3, padding=1)
        self.cond1 = _conditioning(method, out_channels, time_dim, num_groups, film_cls, adagn_cls)
        self.cond2 = _conditioning(method, out_channels, time_dim, num_groups, film_cls, adagn_cls)
        self.act = nn.SiLU()

    def _with_time(self, h: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
        if self.method != "concat":
            return h
        b, _, height, width = h.shape
        planes = t_emb[:, :, None, None].expand(b, self.time_dim, height, width)  # (B, D) -> (B, D, H, W)
        return torch.cat([h, planes], dim=1)  # (B, C + D, H, W)

    def forward(self, x: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
        """``x [B, C_in, H, W]``, ``t_emb [B, D]`` -> ``[B, C_out, H, W]``."""
        if x.dim() != 4 or t_emb.dim() != 2 or x.shape[0] != t_emb.shape[0] or t_emb.shape[1] != self.time_dim:
            raise ValueError(
                f"expected x [B, C, H, W] and t_emb [B, {self.time_dim}] with the same B, "
                f"got {tuple(x.shape)} and {tuple(t_emb.shape)}"
            )
        h = self.act(self.cond1(self.conv1(self._with_time(x, t_emb)), t_emb))
        return self.act(self.cond2(self.conv2(self._with_time(h, t_emb)), t_emb))

    def conditioning_parameters(self) -> int:
        """Parameters that exist only because of ``t`` (relative to ``method="none"``)."""
        extra_conv = 0
        if self.method == "concat":  # the conv weights that read the time planes
            extra_conv = self.time_dim * 9 * (self.conv1.out_channels + self.conv2.out_channels)
        cond = sum(p.numel() for m in (self.cond1, self.cond2) for p in m.parameters())
        return extra_conv + cond


class ModulatedSkip(nn.Module):
    """A U-Net skip connection scaled and shifted by time: ``scale(t) * skip + up + shift(t)``.

    The scale and shift come from a FiLM layer on the skip features, with FiLM's
    identity initialisation, so at the start it is the plain ``skip + up``.
    """

    def __init__(self, channels: int, time_dim: int, film_cls: Callable[..., nn.Module] = FiLM) -> None:
        super().__init__()
        self.film = film_cls(channels, time_dim)

    def forward(self, skip: torch.Tensor, up: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
        if skip.shape != up.shape:
            raise ValueError(f"skip and up must have the same shape, got {tuple(skip.shape)} and {tuple(up.shape)}")
        return self.film(skip, t_emb) + up


def seconds_per_forward(fn: Callable[[], object], *, repeats: int = 20, warmup: int = 3) -> float:
    """Fastest wall time of ``fn()`` over ``repeats`` calls (after ``warmup`` calls), without gradients.

    The minimum, not the mean: on a shared machine every other process can only
    make a call slower, so the fastest call is the least disturbed measurement.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats}, {warmup}")
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    times = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            sync()
            start = time.perf_counter()
            fn()
            sync()
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return min(times)


@dataclass(frozen=True)
class CostRow:
    """Measured cost of one conditioning method inside :class:`ConditionedConvBlock`."""

    method: str
    block_params: int
    conditioning_params: int
    seconds: float
    ratio_to_none: float


def compare_block_costs(
    methods: Sequence[str] = METHODS,
    *,
    channels: int = 64,
    size: int = 16,
    batch: int = 8,
    time_dim: int = 512,
    num_groups: int = 32,
    repeats: int = 15,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> list[CostRow]:
    """Build one block per method (same sizes) and time its forward pass on ``device``.

    On the CPU the timing uses one thread (restored afterwards), and the methods are
    timed in interleaved rounds, keeping each method's fastest call, so that a busy
    moment of the machine does not land on one method only. Read the ratios; the
    absolute times depend on the machine.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown or "none" not in methods:
        raise ValueError(f"methods must include 'none' and come from {METHODS}, got {list(methods)}")
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, size, size, generator=gen).to(device)
    t_emb = torch.randn(batch, time_dim, generator=gen).to(device)
    torch.manual_seed(seed)
    blocks = {
        m: ConditionedConvBlock(channels, channels, time_dim, m, num_groups=num_groups).to(device).eval()
        for m in methods
    }
    samples: dict[str, list[float]] = {m: [] for m in methods}
    rounds = 3
    per_round = max(1, repeats // rounds)
    with limit_threads(1) if torch.device(device).type == "cpu" else nullcontext():
        for _ in range(rounds):
            for m in methods:
                samples[m].append(seconds_per_forward(lambda b=blocks[m]: b(x, t_emb), repeats=per_round, warmup=1))
    secs = {m: min(v) for m, v in samples.items()}
    return [
        CostRow(
            m,
            sum(p.numel() for p in blocks[m].parameters()),
            blocks[m].conditioning_parameters(),
            secs[m],
            secs[m] / secs["none"],
        )
        for m in methods
    ]


def format_costs(rows: Sequence[CostRow]) -> str:
    """A plain-text table of :func:`compare_block_costs`'s rows."""
    head = f"{'method':<16} {'block params':>12} {'for t':>9} {'time / forward':>15} {'vs none':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.method:<16} {r.block_params:>12,} {r.conditioning_params:>9,} "
            f"{1000 * r.seconds:>12.2f} ms {r.ratio_to_none:>7.2f}x"
        )
    return "\n".join(lines)


def describe_costs(rows: Sequence[CostRow], tie: float = 0.10) -> list[str]:
    """Word :func:`compare_block_costs`'s time ratios: one line per method, then the pairs too close to rank.

    A ratio within ``tie`` of 1 is "about the cost of no t"; below that, timing noise (a block
    with more work cannot be faster); up to 1.5 "measurably slower";
    above that "clearly slower". Two methods whose ratios differ by less than ``tie``
    (relative) are called too close to rank: a rule of thumb for single-machine timings,
    not a measured noise level.
    """
    if not rows or not 0 < tie < 1:
        raise ValueError(f"need at least one row and 0 < tie < 1, got {len(rows)} rows, tie={tie!r}")
    lines = []
    for r in rows:
        if r.method == "none":
            continue
        if abs(r.ratio_to_none - 1) <= tie:
            word = f"within {tie:.0%} of the block without t"
        elif r.ratio_to_none < 1:
            word = (
                "faster than the block without t, which extra work cannot be: timing noise "
                "(a busy machine); run the cell again"
            )
        elif r.ratio_to_none <= 1.5:
            word = "measurably slower than the block without t"
        else:
            word = "clearly slower than the block without t"
        lines.append(f"{r.method}: {r.ratio_to_none:.2f}x, {word}")
    ranked = sorted((r for r in rows if r.method != "none"), key=lambda r: r.ratio_to_none)
    close = [
        f"{a.method} ({a.ratio_to_none:.2f}x) and {b.method} ({b.ratio_to_none:.2f}x)"
        for a, b in zip(ranked, ranked[1:])
        if b.ratio_to_none / a.ratio_to_none - 1 < tie
    ]
    if close:
        lines.append(
            f"too close to rank (under {tie:.0%} apart; their order can change on another machine "
            f"or another run): " + "; ".join(close)
        )
    return lines


def single_token_attention_is_additive(channels: int = 8, time_dim: int = 16, seed: int = 0) -> float:
    """Max |difference| between cross-attention to one time token and the equivalent additive shift.

    Builds a :class:`CrossAttentionToTime`, computes the shift ``W_o (W_v t_emb + b_v) + b_o``
    by hand and compares ``h + shift`` with the attention output. Rounding-level
    (about 1e-7) when the claim holds.
    """
    torch.manual_seed(seed)
    attn = CrossAttentionToTime(channels, time_dim)
    h = torch.randn(2, channels, 5, 7)
    t_emb = torch.randn(2, time_dim)
    with torch.no_grad():
        shift = attn.out(attn.v(t_emb))  # (B, D) -> (B, C)
        additive = h + shift[:, :, None, None]  # (B, C) -> (B, C, 1, 1)
        return (attn(h, t_emb) - additive).abs().max().item()
