"""Lesson 01 through nbgrader: full marks, zero, and every listed learner mistake loses points."""

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

A = "01_sinusoidal_embedding"
ID = "sinusoidal_impl"

HEAD = "def sinusoidal_embedding(t, d_emb=256):\n"
PREP = """    if not isinstance(t, torch.Tensor):
        t = torch.tensor([float(t)])
    if t.dim() == 0:
        t = t.reshape(1)
    t = t.to(torch.float32)
    half = d_emb // 2
"""
TAIL = """    if d_emb % 2 == 1:
        emb = F.pad(emb, (0, 1))
    return emb
"""
GOOD_FREQ = """    i = torch.arange(half, dtype=torch.float32, device=t.device)
    omega = torch.exp(-math.log(10000.0) * i / half)
"""
GOOD_CAT = """    angles = t[:, None] * omega[None, :]
    emb = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)
"""


def variant(prep=PREP, freq=GOOD_FREQ, cat=GOOD_CAT, tail=TAIL):
    return HEAD + prep + freq + cat + tail


MISTAKES = {
    "interleaved": variant(
        cat="""    angles = t[:, None] * omega[None, :]
    emb = torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1).reshape(t.shape[0], -1)
"""
    ),
    "cos_sin_order": variant(
        cat="""    angles = t[:, None] * omega[None, :]
    emb = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
"""
    ),
    "half_minus_one": variant(
        freq="""    i = torch.arange(half, dtype=torch.float32, device=t.device)
    omega = torch.exp(-math.log(10000.0) * i / (half - 1))
"""
    ),
    "exponent_over_d": variant(
        freq="""    i = torch.arange(half, dtype=torch.float32, device=t.device)
    omega = torch.exp(-math.log(10000.0) * i / d_emb)
"""
    ),
    "missing_minus": variant(
        freq="""    i = torch.arange(half, dtype=torch.float32, device=t.device)
    omega = torch.exp(math.log(10000.0) * i / half)
"""
    ),
    "integer_overflow": variant(
        freq="""    omega = 1.0 / (10000 ** torch.arange(0, d_emb, 2, device=t.device)) ** (1.0 / d_emb)
"""
    ),
    "no_zero_column_for_odd_d": variant(tail="    return emb\n"),
    "long_truncates_fractional_t": variant(prep=PREP.replace("t = t.to(torch.float32)", "t = t.long().float()")),
    "computes_in_t_dtype": variant(
        prep=PREP.replace("    t = t.to(torch.float32)\n", "    t = t if t.is_floating_point() else t.float()\n"),
        freq="""    i = torch.arange(half, dtype=t.dtype, device=t.device)
    omega = torch.exp(-math.log(10000.0) * i / half)
""",
    ),
    "frequencies_on_cpu": variant(
        freq="""    i = torch.arange(half, dtype=torch.float32)
    omega = torch.exp(-math.log(10000.0) * i / half)
"""
    ),
    "missing_outer_product": variant(
        cat="""    angles = t * omega
    emb = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)
    if emb.dim() == 1:
        emb = emb[None, :]
"""
    ),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    subs = {"solution": with_answers(A, {ID: solution_source(A, ID)}), "unchanged": student_notebook(A)}
    subs.update({f"mistake-{k.replace('_', '-')}": with_answers(A, {ID: v}) for k, v in MISTAKES.items()})
    return grade(tmp_path_factory.mktemp("l01"), A, subs, jobs=2)


def test_solution_scores_full_marks_on_every_cell(graded):
    assert_full_marks(graded["solution"], 10)


def test_unchanged_student_notebook_scores_zero_everywhere(graded):
    assert_zero_everywhere(graded["unchanged"], 10)


def test_hidden_tests_carry_most_of_the_points(graded):
    cells = graded["solution"].cells
    visible = cells["check_sinusoidal_basics"][1]
    assert visible < sum(m for _, m in cells.values()) / 2


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_each_learner_mistake_loses_points_on_hidden_tests(graded, mistake):
    r = graded[f"mistake-{mistake.replace('_', '-')}"]
    assert r.status == "graded", r.reason
    assert lost_hidden(r, A), f"{mistake} lost no points on the hidden tests: {r.cells}"
    assert r.score < r.max_score
