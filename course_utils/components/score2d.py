"""Score networks for 2-D data in continuous time, conditioned on t in four ways.

The main model is the reference note's ``ScoreNetworkWithFiLM``: three hidden
Linear layers, each followed by FiLM (Perez et al., "FiLM: Visual Reasoning with a
General Conditioning Layer", AAAI 2018) and SiLU, and a plain Linear output with
no FiLM. For the lesson's comparison the same trunk is also conditioned by
concatenating the time embedding to the input (also at a wider hidden width with
as many parameters as the FiLM model), and by adding a projected embedding after
each hidden layer; the FiLM model comes with either FiLM's identity initialisation
or PyTorch's default Linear initialisation.

The time t lives in [0, 1] (Song et al., ICLR 2021). The default embedding feeds
``1000 * t`` into the course's base-10000 sinusoidal embedding, so that its
frequencies see the range they were designed for (timesteps 0..999). The note's
code feeds t unscaled: ``t_scale=1.0`` reproduces that pitfall, and
:func:`count_flat_dims` measures it. Gaussian Fourier features (Tancik et al.,
"Fourier Features Let Networks Learn High Frequency Functions in Low Dimensional
Domains", NeurIPS 2020), the choice of Song et al.'s code, are the alternative.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from course_utils.components.film import FiLM
from course_utils.components.sinusoidal import sinusoidal_embedding
from course_utils.diffusion.timesteps import as_times

__all__ = [
    "ContinuousTimeEmbedding",
    "ScoreNetworkWithFiLM",
    "ScoreNetworkMultiScaleFiLM",
    "ScoreNetworkConcat",
    "ScoreNetworkAdditive",
    "METHODS",
    "build_score_network",
    "matched_concat_width",
    "embedding_dim_ranges",
    "count_flat_dims",
]


class ContinuousTimeEmbedding(nn.Module):
    """Embed continuous times ``t [B]`` in [0, 1] as ``[B, time_dim]`` features.

    Args:
        time_dim: output width (even for ``kind="fourier"``).
        kind: ``"sinusoidal"`` (course convention, :func:`sinusoidal_embedding` of
            ``t_scale * t``) or ``"fourier"`` (fixed random frequencies
            ``W ~ N(0, fourier_scale^2)``, output ``[sin(2 pi t W), cos(2 pi t W)]``).
        t_scale: multiplies t before the sinusoidal embedding. 1000 maps [0, 1] onto
            the 0..999 range of discrete timesteps; 1.0 is the pitfall.
        fourier_scale: std of the Fourier frequencies.
    """

    def __init__(
        self, time_dim: int = 32, kind: str = "sinusoidal", t_scale: float = 1000.0, fourier_scale: float = 16.0
    ) -> None:
        super().__init__()
        if kind not in ("sinusoidal", "fourier"):
            raise ValueError(f"kind must be 'sinusoidal' or 'fourier', got {kind!r}")
        if time_dim < 2 or (kind == "fourier" and time_dim % 2):
            raise ValueError(f"time_dim must be >= 2 (and even for Fourier features), got {time_dim}")
        if not t_scale > 0:
            raise ValueError(f"t_scale must be positive, got {t_scale!r}")
        self.time_dim, self.kind, self.t_scale = time_dim, kind, float(t_scale)
        if kind == "fourier":
            # A buffer: saved with the model, moved by .to(), never trained.
            self.register_buffer("freqs", fourier_scale * torch.randn(time_dim // 2))
        else:
            self.freqs = None

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        if self.kind == "sinusoidal":
            return sinusoidal_embedding(self.t_scale * t, self.time_dim)
        angles = 2.0 * math.pi * t[:, None] * self.freqs[None, :]  # (B, 1) * (1, half) -> (B, half)
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)  # (B, time_dim)

    def extra_repr(self) -> str:
        return f"time_dim={self.time_dim}, kind={self.kind!r}, t_scale={self.t_scale}"


class _TimeConditionedMLP(nn.Module):
    """What every 2-D score network shares: sizes, the time embedding, input checks."""

    def __init__(self, data_dim: int, hidden_dim: int, time_dim: int, embedding: str, t_scale: float) -> None:
        super().__init__()
        for name, v in (("data_dim", data_dim), ("hidden_dim", hidden_dim), ("time_dim", time_dim)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.data_dim, self.hidden_dim, self.time_dim = data_dim, hidden_dim, time_dim
        self.time_embed = ContinuousTimeEmbedding(time_dim, embedding, t_scale)
        self.act = nn.SiLU()

    def embed_time(self, t, batch: int | None = None) -> torch.Tensor:
        """Check ``t`` (float ``[B]`` in [0, 1], or a number) and embed it: ``[B, time_dim]``."""
        if batch is None:
            batch = t.shape[0] if isinstance(t, torch.Tensor) and t.dim() == 1 else 1
        device = next(self.parameters()).device
        return self.time_embed(as_times(t, kind="continuous", batch=batch, device=device))

    def _check_x(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != self.data_dim:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be [batch, {self.data_dim}], got {shape}")


class ScoreNetworkWithFiLM(_TimeConditionedMLP):
    """``s(x, t)``: three ``Linear -> FiLM(t) -> SiLU`` blocks, then a plain Linear output.

    With the defaults (2, 128, 32) it has 59,010 parameters.

    Args:
        data_dim, hidden_dim, time_dim: widths of the data, the hidden layers, the embedding.
        film_init: ``"identity"`` (scale 1, shift 0 for every t at the start) or
            ``"default"`` (PyTorch's Linear initialisation, as in the reference note).
        embedding, t_scale: see :class:`ContinuousTimeEmbedding`.
    """

    def __init__(
        self,
        data_dim: int = 2,
        hidden_dim: int = 128,
        time_dim: int = 32,
        *,
        film_init: str = "identity",
        embedding: str = "sinusoidal",
        t_scale: float = 1000.0,
    ) -> None:
        super().__init__(data_dim, hidden_dim, time_dim, embedding, t_scale)
        if film_init not in ("identity", "default"):
            raise ValueError(f"film_init must be 'identity' or 'default', got {film_init!r}")
        self.layer1 = nn.Linear(data_dim, hidden_dim)
        self.layer2 = nn.Linear(hidden_dim, hidden_dim)
        self.layer3 = nn.Linear(hidden_dim, hidden_dim)
        self.output = nn.Linear(hidden_dim, data_dim)
        identity = film_init == "identity"
        self.film1 = FiLM(hidden_dim, time_dim, identity_init=identity)
        self.film2 = FiLM(hidden_dim, time_dim, identity_init=identity)
        self.film3 = FiLM(hidden_dim, time_dim, identity_init=identity)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Score estimate ``[B, data_dim]`` for points ``x [B, data_dim]`` at times ``t [B]``."""
        self._check_x(x)
        emb = self.embed_time(t, x.shape[0])  # (B,) -> (B, time_dim)
        h = self.act(self.film1(self.layer1(x), emb))
        h = self.act(self.film2(self.layer2(h), emb))
        h = self.act(self.film3(self.layer3(h), emb))
        return self.output(h)  # no FiLM here: the output is the score itself


class ScoreNetworkMultiScaleFiLM(ScoreNetworkWithFiLM):
    """The FiLM network with a multi-scale time embedding: each FiLM layer reads its own grid.

    Layer ``k`` is modulated by the sinusoidal embedding of ``t_scales[k] * t`` (coarse to
    fine: the first layer sees slowly varying columns only, the last the full range of
    speeds), each ``time_dim`` wide. Otherwise it is :class:`ScoreNetworkWithFiLM`, whose
    single grid is ``t_scale * t`` for every layer.
    """

    def __init__(
        self,
        data_dim: int = 2,
        hidden_dim: int = 128,
        time_dim: int = 32,
        *,
        t_scales: tuple[float, float, float] = (100.0, 300.0, 1000.0),
        film_init: str = "identity",
        embedding: str = "sinusoidal",
        t_scale: float = 1000.0,
    ) -> None:
        super().__init__(data_dim, hidden_dim, time_dim, film_init=film_init, embedding="sinusoidal", t_scale=t_scale)
        if len(t_scales) != 3 or any(not s > 0 for s in t_scales):
            raise ValueError(f"t_scales must be three positive numbers (one per FiLM layer), got {t_scales!r}")
        if embedding != "sinusoidal" or t_scale != 1000.0:
            raise ValueError("the multi-scale network sets its grids with t_scales; leave embedding and t_scale alone")
        self.layer_embeds = nn.ModuleList(ContinuousTimeEmbedding(time_dim, "sinusoidal", s) for s in t_scales)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Score estimate ``[B, data_dim]``; layer k reads ``sinusoidal(t_scales[k] * t)``."""
        self._check_x(x)
        t = as_times(t, kind="continuous", batch=x.shape[0], device=next(self.parameters()).device)  # (B,)
        e1, e2, e3 = (embed(t) for embed in self.layer_embeds)  # each (B, time_dim)
        h = self.act(self.film1(self.layer1(x), e1))
        h = self.act(self.film2(self.layer2(h), e2))
        h = self.act(self.film3(self.layer3(h), e3))
        return self.output(h)


class ScoreNetworkConcat(_TimeConditionedMLP):
    """The same trunk, with the time embedding concatenated to the input only."""

    def __init__(
        self,
        data_dim: int = 2,
        hidden_dim: int = 128,
        time_dim: int = 32,
        *,
        embedding: str = "sinusoidal",
        t_scale: float = 1000.0,
    ) -> None:
        super().__init__(data_dim, hidden_dim, time_dim, embedding, t_scale)
        self.layer1 = nn.Linear(data_dim + time_dim, hidden_dim)
        self.layer2 = nn.Linear(hidden_dim, hidden_dim)
        self.layer3 = nn.Linear(hidden_dim, hidden_dim)
        self.output = nn.Linear(hidden_dim, data_dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self._check_x(x)
        emb = self.embed_time(t, x.shape[0])  # (B, time_dim)
        h = self.act(self.layer1(torch.cat([x, emb], dim=-1)))  # (B, data_dim + time_dim) -> (B, hidden)
        h = self.act(self.layer2(h))
        h = self.act(self.layer3(h))
        return self.output(h)


class ScoreNetworkAdditive(_TimeConditionedMLP):
    """The same trunk, with ``Linear(time_dim, hidden)(emb)`` added after each hidden layer."""

    def __init__(
        self,
        data_dim: int = 2,
        hidden_dim: int = 128,
        time_dim: int = 32,
        *,
        embedding: str = "sinusoidal",
        t_scale: float = 1000.0,
    ) -> None:
        super().__init__(data_dim, hidden_dim, time_dim, embedding, t_scale)
        self.layer1 = nn.Linear(data_dim, hidden_dim)
        self.layer2 = nn.Linear(hidden_dim, hidden_dim)
        self.layer3 = nn.Linear(hidden_dim, hidden_dim)
        self.output = nn.Linear(hidden_dim, data_dim)
        self.add1 = nn.Linear(time_dim, hidden_dim)
        self.add2 = nn.Linear(time_dim, hidden_dim)
        self.add3 = nn.Linear(time_dim, hidden_dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self._check_x(x)
        emb = self.embed_time(t, x.shape[0])  # (B, time_dim)
        h = self.act(self.layer1(x) + self.add1(emb))
        h = self.act(self.layer2(h) + self.add2(emb))
        h = self.act(self.layer3(h) + self.add3(emb))
        return self.output(h)


def _film_parameter_count(data_dim: int, hidden_dim: int, time_dim: int) -> int:
    trunk = (data_dim + 1) * hidden_dim + 2 * (hidden_dim + 1) * hidden_dim + (hidden_dim + 1) * data_dim
    return trunk + 3 * (time_dim + 1) * 2 * hidden_dim


def matched_concat_width(data_dim: int = 2, hidden_dim: int = 128, time_dim: int = 32) -> int:
    """The hidden width at which :class:`ScoreNetworkConcat` has (closest to) as many
    parameters as :class:`ScoreNetworkWithFiLM` of width ``hidden_dim`` (162 for the defaults).

    Concatenation is the cheapest conditioning; this width separates "FiLM conditions
    better" from "FiLM simply has more weights".
    """
    target = _film_parameter_count(data_dim, hidden_dim, time_dim)

    def concat_count(w: int) -> int:
        return (data_dim + time_dim + 1) * w + 2 * (w + 1) * w + (w + 1) * data_dim

    return min(range(hidden_dim, 4 * hidden_dim + 1), key=lambda w: abs(concat_count(w) - target))


def _concat_matched(data_dim: int = 2, hidden_dim: int = 128, time_dim: int = 32, **kw) -> nn.Module:
    return ScoreNetworkConcat(data_dim, matched_concat_width(data_dim, hidden_dim, time_dim), time_dim, **kw)


METHODS: dict[str, Callable[..., nn.Module]] = {
    "concat": ScoreNetworkConcat,
    "concat_matched": _concat_matched,
    "additive": ScoreNetworkAdditive,
    "film_default_init": lambda **kw: ScoreNetworkWithFiLM(film_init="default", **kw),
    "film_identity_init": lambda **kw: ScoreNetworkWithFiLM(film_init="identity", **kw),
    "film_multiscale": ScoreNetworkMultiScaleFiLM,
}


def build_score_network(method: str, **kwargs) -> nn.Module:
    """A fresh network for ``method`` (a key of :data:`METHODS`); ``kwargs`` go to its constructor."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; pick one of {list(METHODS)}")
    return METHODS[method](**kwargs)


def embedding_dim_ranges(embed: Callable[[torch.Tensor], torch.Tensor], n_points: int = 1001) -> torch.Tensor:
    """How far each embedding dimension moves as t sweeps [0, 1]: ``max - min`` per dim, ``[D]``.

    ``embed`` maps float times ``[n]`` to ``[n, D]``, e.g. ``ContinuousTimeEmbedding(32, t_scale=1.0)``.
    """
    if n_points < 2:
        raise ValueError(f"n_points must be >= 2, got {n_points}")
    t = torch.linspace(0.0, 1.0, n_points)
    with torch.no_grad():
        emb = embed(t)
    if emb.dim() != 2 or emb.shape[0] != n_points:
        raise ValueError(f"embed must return [{n_points}, D] for {n_points} times, got {tuple(emb.shape)}")
    return emb.max(dim=0).values - emb.min(dim=0).values


def count_flat_dims(
    embed: Callable[[torch.Tensor], torch.Tensor], threshold: float = 1e-2, n_points: int = 1001
) -> int:
    """Number of embedding dimensions whose range over t in [0, 1] is below ``threshold``.

    Such a dimension is (almost) the same constant for every t, so it tells the
    network nothing about time. For the course's 32-wide base-10000 sinusoidal
    embedding: 20 of 32 with t unscaled, 0 with t scaled by 1000.
    """
    return int((embedding_dim_ranges(embed, n_points) < threshold).sum())
