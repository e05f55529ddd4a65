"""Lesson 02 through nbgrader: full marks, zero, and every listed learner mistake loses points."""

import pytest

from gradekit import (
    assert_full_marks,
    assert_zero_everywhere,
    grade,
    lost_hidden,
    solution_source,
    student_notebook,
    with_answers,
)

A = "02_timestep_mlp_film"
TE = "timestep_embedding_impl"
FILM = "film_impl"


def _swap(source: str, old: str, new: str) -> str:
    assert old in source, f"the solution no longer contains {old!r}"
    return source.replace(old, new)


def te_variant(old: str, new: str) -> str:
    return _swap(solution_source(A, TE), old, new)


def film_variant(*pairs: tuple[str, str]) -> str:
    src = solution_source(A, FILM)
    for old, new in pairs:
        src = _swap(src, old, new)
    return src


DDPM_FORWARD = """        half = self.d_sinusoidal // 2
        t = t.float()
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / (half - 1))
        angles = t[:, None] * freqs[None, :]
        return self.mlp(torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1))"""

TE_MISTAKES = {
    "silu": ("nn.GELU(),", "nn.SiLU(),"),
    "relu": ("nn.GELU(),", "nn.ReLU(),"),
    "tanh_gelu": ("nn.GELU(),", 'nn.GELU(approximate="tanh"),'),
    "extra_activation_after_last_linear": (
        "nn.Linear(d_emb, d_emb),\n",
        "nn.Linear(d_emb, d_emb),\n            nn.GELU(),\n",
    ),
    "bias_free_linears": ("nn.Linear(d_sinusoidal, d_emb),", "nn.Linear(d_sinusoidal, d_emb, bias=False),"),
    "ddpm_half_minus_one_sinusoid": (
        "        return self.mlp(sinusoidal_embedding(t, self.d_sinusoidal))",
        DDPM_FORWARD,
    ),
}

FILM_MISTAKES = {
    "scale_shift_swapped": [("scale, shift = self.proj(t_emb)", "shift, scale = self.proj(t_emb)")],
    "one_plus_scale": [
        ("self.proj.bias[:feature_dim] = 1.0", "self.proj.bias[:feature_dim] = 0.0"),
        ("return scale * h + shift", "return (1 + scale) * h + shift"),
    ],
    "chunk_on_dim_0": [("chunk(2, dim=-1)", "chunk(2, dim=0)")],
    "activation_on_time_embedding": [("self.proj(t_emb)", "self.proj(F.silu(t_emb))")],
    "broadcast_as_B11C": [
        (
            "scale = scale.reshape(scale.shape[0], scale.shape[1], *spatial)",
            "scale = scale[:, None, None, :] if h.dim() == 4 else scale",
        ),
        (
            "shift = shift.reshape(shift.shape[0], shift.shape[1], *spatial)",
            "shift = shift[:, None, None, :] if h.dim() == 4 else shift",
        ),
    ],
    "broadcast_transposed_CB1": [
        (
            "scale = scale.reshape(scale.shape[0], scale.shape[1], *spatial)",
            "scale = scale.T[:, :, None] if h.dim() == 4 else scale",
        ),
        (
            "shift = shift.reshape(shift.shape[0], shift.shape[1], *spatial)",
            "shift = shift.T[:, :, None] if h.dim() == 4 else shift",
        ),
    ],
}


def _name(kind: str, key: str) -> str:
    return f"{kind}-{key.replace('_', '-')}"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    good = {TE: solution_source(A, TE), FILM: solution_source(A, FILM)}
    subs = {"solution": with_answers(A, good), "unchanged": student_notebook(A)}
    for key, (old, new) in TE_MISTAKES.items():
        subs[_name("te", key)] = with_answers(A, {**good, TE: te_variant(old, new)})
    for key, pairs in FILM_MISTAKES.items():
        subs[_name("film", key)] = with_answers(A, {**good, FILM: film_variant(*pairs)})
    return grade(tmp_path_factory.mktemp("l02"), A, subs, jobs=2)


TOTAL = 18


def test_solution_scores_full_marks_on_every_cell(graded):
    assert_full_marks(graded["solution"], TOTAL)


def test_unchanged_student_notebook_scores_zero_everywhere(graded):
    assert_zero_everywhere(graded["unchanged"], TOTAL)


def test_hidden_tests_carry_most_of_the_points(graded):
    cells = graded["solution"].cells
    visible = cells["check_timestep_embedding"][1] + cells["check_film"][1]
    assert visible < sum(m for _, m in cells.values()) / 2


@pytest.mark.parametrize("key", sorted(TE_MISTAKES))
def test_each_timestep_embedding_mistake_loses_hidden_points(graded, key):
    r = graded[_name("te", key)]
    assert r.status == "graded", r.reason
    lost = lost_hidden(r, A)
    assert any(g.startswith("hidden_timestep") for g in lost), f"{key} lost no points on the hidden tests: {r.cells}"
    assert all(r.cells[g][0] == r.cells[g][1] for g in r.cells if "film" in g), (
        f"{key} (a TimestepEmbedding mistake) should not cost FiLM points: {r.cells}"
    )


@pytest.mark.parametrize("key", sorted(FILM_MISTAKES))
def test_each_film_mistake_loses_hidden_points(graded, key):
    r = graded[_name("film", key)]
    assert r.status == "graded", r.reason
    lost = lost_hidden(r, A)
    assert any(g.startswith("hidden_film") for g in lost), f"{key} lost no points on the hidden tests: {r.cells}"
    assert all(r.cells[g][0] == r.cells[g][1] for g in r.cells if "timestep" in g), (
        f"{key} (a FiLM mistake) should not cost TimestepEmbedding points: {r.cells}"
    )
