"""Lesson 05: the 2-D score networks and their time embedding.

The checks on the forward pass of ``ScoreNetworkWithFiLM`` are written as functions
that take a model class; each is run on the reference (must pass) and on a mutant
with one typical learner mistake (must fail). The notebook's hidden tests reuse them.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.cpu_threads import limit_threads
from course_utils.components.film import FiLM
from course_utils.reference import ScoreNetworkWithFiLM
from course_utils.components.score2d import (
    METHODS,
    ContinuousTimeEmbedding,
    ScoreNetworkAdditive,
    ScoreNetworkConcat,
    build_score_network,
    count_flat_dims,
    matched_concat_width,
    embedding_dim_ranges,
)
from course_utils.components.sinusoidal import sinusoidal_embedding

X = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
T = torch.linspace(0.001, 1.0, 8)


@pytest.fixture(autouse=True, scope="module")
def _one_cpu_thread():
    """Tiny models: one thread is fastest, and immune to a busy machine (see course_utils.cpu_threads)."""
    with limit_threads(1):
        yield


def _randomise_film(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every FiLM layer random weights, so that the output really depends on t."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, FiLM):
                m.proj.weight.copy_(0.3 * torch.randn(m.proj.weight.shape, generator=g))
    return model


def _fresh(cls) -> nn.Module:
    torch.manual_seed(0)
    return _randomise_film(cls())


# ----------------------------------------------------------------------------- forward-pass checks


def check_matches_reference_outputs(cls) -> bool:
    """Same weights (strict state-dict load), same outputs as the reference."""
    ref, mine = _fresh(ScoreNetworkWithFiLM), cls()
    try:
        mine.load_state_dict(ref.state_dict(), strict=True)
        return torch.allclose(mine(X, T), ref(X, T), atol=1e-5)
    except (RuntimeError, ValueError):
        return False


def check_output_head_is_plain(cls) -> bool:
    """No FiLM after the output layer: with its weight 0 the output is its bias, for every x and t."""
    model = _fresh(cls)
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.copy_(torch.tensor([0.25, -0.5]))
    return torch.allclose(model(X, T), torch.tensor([[0.25, -0.5]]).expand(8, 2), atol=1e-6)


def check_time_goes_through_the_embedding(cls) -> bool:
    """Freeze the embedding to one vector: then the output must no longer depend on t."""
    model = _fresh(cls)
    model.time_embed.forward = lambda t: sinusoidal_embedding(torch.full_like(t, 300.0), model.time_dim)
    x = X[:1].expand(8, 2)  # (1, 2) -> (8, 2): one point, eight times
    out = model(x, T)
    return torch.allclose(out, out[:1].expand(8, 2), atol=1e-6)


def check_embedding_is_scaled(cls) -> bool:
    """``embed_time(t)`` is the course's sinusoidal embedding of 1000 t, 32 wide."""
    model = cls()
    return torch.allclose(model.embed_time(T), sinusoidal_embedding(1000.0 * T, 32), atol=1e-5)


FORWARD_CHECKS = [
    check_matches_reference_outputs,
    check_output_head_is_plain,
    check_time_goes_through_the_embedding,
    check_embedding_is_scaled,
]


class FiLMOnOutput(ScoreNetworkWithFiLM):
    """Mistake: the output layer is modulated too."""

    def __init__(self):
        super().__init__()
        self.film_out = FiLM(self.data_dim, self.time_dim, identity_init=False)

    def forward(self, x, t):
        emb = self.embed_time(t, x.shape[0])
        h = self.act(self.film1(self.layer1(x), emb))
        h = self.act(self.film2(self.layer2(h), emb))
        h = self.act(self.film3(self.layer3(h), emb))
        return self.film_out(self.output(h), emb)


class RawTimeConcat(ScoreNetworkWithFiLM):
    """Mistake: t is not embedded; the raw scalar is concatenated to x and FiLM gets nothing."""

    def __init__(self):
        super().__init__()
        self.layer1 = nn.Linear(self.data_dim + 1, self.hidden_dim)

    def forward(self, x, t):
        h = self.act(self.layer1(torch.cat([x, t[:, None]], dim=1)))  # (B, 2) + (B, 1) -> (B, 3)
        h = self.act(self.layer2(h))
        h = self.act(self.layer3(h))
        return self.output(h)


class FiLMAfterActivation(ScoreNetworkWithFiLM):
    """Mistake: SiLU first, FiLM second."""

    def forward(self, x, t):
        emb = self.embed_time(t, x.shape[0])
        h = self.film1(self.act(self.layer1(x)), emb)
        h = self.film2(self.act(self.layer2(h)), emb)
        h = self.film3(self.act(self.layer3(h)), emb)
        return self.output(h)


class UnscaledTime(ScoreNetworkWithFiLM):
    """Mistake: t in [0, 1] goes into the base-10000 embedding as it is (the reference note's code)."""

    def __init__(self):
        super().__init__(t_scale=1.0)


@pytest.mark.parametrize("check", FORWARD_CHECKS, ids=lambda c: c.__name__)
def test_reference_forward_passes_every_check(check):
    assert check(ScoreNetworkWithFiLM)


@pytest.mark.parametrize(
    "mutant, caught_by",
    [
        (FiLMOnOutput, check_output_head_is_plain),
        (FiLMOnOutput, check_matches_reference_outputs),
        (RawTimeConcat, check_time_goes_through_the_embedding),
        (RawTimeConcat, check_matches_reference_outputs),
        (FiLMAfterActivation, check_matches_reference_outputs),
        (UnscaledTime, check_embedding_is_scaled),
        (UnscaledTime, check_matches_reference_outputs),
    ],
)
def test_each_forward_mistake_is_caught(mutant, caught_by):
    assert not caught_by(mutant)


# ----------------------------------------------------------------------------- the models


def test_film_network_size_and_layout():
    model = ScoreNetworkWithFiLM()
    assert sum(p.numel() for p in model.parameters()) == 59_010
    films = [m for m in model.modules() if isinstance(m, FiLM)]
    assert len(films) == 3 and all(f.feature_dim == 128 for f in films)
    assert model(X, T).shape == (8, 2)


def test_identity_init_starts_time_blind_and_default_init_does_not():
    torch.manual_seed(0)
    ident, default = ScoreNetworkWithFiLM(), ScoreNetworkWithFiLM(film_init="default")
    x = X[:1].expand(8, 2)  # one point at eight times
    out = ident(x, T)
    assert torch.allclose(out, out[:1].expand(8, 2))
    out = default(x, T)
    assert (out - out[:1]).abs().max() > 1e-3


@pytest.mark.parametrize("method", list(METHODS))
def test_every_variant_builds_runs_and_backpropagates(method):
    model = build_score_network(method)
    out = model(X, T)
    assert out.shape == (8, 2)
    out.pow(2).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_variants_have_the_same_trunk():
    c, a = ScoreNetworkConcat(), ScoreNetworkAdditive()
    assert c.layer1.in_features == 2 + 32 and a.layer1.in_features == 2
    for m in (c, a, ScoreNetworkWithFiLM()):
        assert (m.layer2.in_features, m.layer3.out_features, m.output.out_features) == (128, 128, 2)


def test_matched_concat_has_film_sized_capacity():
    assert matched_concat_width() == 162
    n = {m: sum(p.numel() for p in build_score_network(m).parameters()) for m in METHODS}
    assert n == {
        "concat": 37_762,
        "concat_matched": 58_808,
        "additive": 46_338,
        "film_default_init": 59_010,
        "film_identity_init": 59_010,
        "film_multiscale": 59_010,
    }


def test_fourier_features_option():
    torch.manual_seed(0)
    model = ScoreNetworkWithFiLM(embedding="fourier")
    assert "time_embed.freqs" in model.state_dict()
    emb = model.embed_time(T)
    assert emb.shape == (8, 32) and torch.allclose(emb.pow(2).reshape(8, 2, 16).sum(1), torch.ones(8, 16))
    with pytest.raises(ValueError, match="even for Fourier"):
        ContinuousTimeEmbedding(31, kind="fourier")


def test_time_input_checks_say_what_to_fix():
    model = ScoreNetworkWithFiLM()
    with pytest.raises(ValueError, match=r"t must be 1-D \[batch\], got shape \(8, 1\)"):
        model(X, T[:, None])
    with pytest.raises(TypeError, match="t = k / T"):
        model(X, torch.arange(8))
    with pytest.raises(ValueError, match=r"t must lie in \[0, 1\]"):
        model(X, T * 1000)
    with pytest.raises(ValueError, match=r"x must be \[batch, 2\]"):
        model(torch.zeros(8, 3), T)
    with pytest.raises(ValueError, match="unknown method"):
        build_score_network("attention")
    assert torch.allclose(model(X, 0.5), model(X, torch.full((8,), 0.5)))


# ----------------------------------------------------------------------------- the pitfall figure


def test_unscaled_time_leaves_most_dimensions_flat():
    assert count_flat_dims(ContinuousTimeEmbedding(32, t_scale=1.0)) == 20
    assert count_flat_dims(ContinuousTimeEmbedding(32, t_scale=1000.0)) == 0
    torch.manual_seed(0)
    assert count_flat_dims(ContinuousTimeEmbedding(32, kind="fourier")) == 0
    ranges = embedding_dim_ranges(ContinuousTimeEmbedding(32, t_scale=1.0))
    assert ranges.shape == (32,) and float(ranges[0]) == pytest.approx(0.841471, abs=1e-5)  # sin(1)
    # The reference note's own grid (divide by half - 1) has the same problem.
    note = lambda t: sinusoidal_embedding(t * 1.0, 32, max_period=10000.0 ** (16 / 15))  # noqa: E731
    assert count_flat_dims(note) == 20
