"""Lesson 03 through nbgrader: full marks, zero, and every listed learner mistake loses points."""

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

A = "03_adaptive_group_norm"
ID = "adagn_impl"
NORM = "self.norm = nn.GroupNorm(num_groups, num_channels, eps=1e-5, affine=False)"


def variant(*pairs: tuple[str, str]) -> str:
    src = solution_source(A, ID)
    for old, new in pairs:
        assert old in src, f"the solution no longer contains {old!r}"
        src = src.replace(old, new)
    return src


MISTAKES = {
    "groupnorm_affine_true": [(NORM, "self.norm = nn.GroupNorm(num_groups, num_channels, eps=1e-5, affine=True)")],
    "missing_plus_one": [("return (1 + gamma) * h + beta", "return gamma * h + beta")],
    "gamma_beta_swapped": [("gamma, beta = self.proj(t_emb)", "beta, gamma = self.proj(t_emb)")],
    "silu_on_time_embedding": [("self.proj(t_emb)", "self.proj(F.silu(t_emb))")],
    "batchnorm": [(NORM, "self.norm = nn.BatchNorm2d(num_channels)")],
    "batchnorm_without_affine": [(NORM, "self.norm = nn.BatchNorm2d(num_channels, affine=False)")],
    "groupnorm_one_group": [(NORM, "self.norm = nn.GroupNorm(1, num_channels, eps=1e-5, affine=False)")],
    "groupnorm_one_group_per_channel": [
        (NORM, "self.norm = nn.GroupNorm(num_channels, num_channels, eps=1e-5, affine=False)")
    ],
    "eps_1e-6": [(NORM, "self.norm = nn.GroupNorm(num_groups, num_channels, eps=1e-6, affine=False)")],
    "groups_hard_coded_32": [(NORM, "self.norm = nn.GroupNorm(32, num_channels, eps=1e-5, affine=False)")],
}


def _name(key: str) -> str:
    return f"mistake-{key.replace('_', '-')}"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    subs = {"solution": with_answers(A, {ID: solution_source(A, ID)}), "unchanged": student_notebook(A)}
    subs.update({_name(k): with_answers(A, {ID: variant(*v)}) for k, v in MISTAKES.items()})
    return grade(tmp_path_factory.mktemp("l03"), A, subs, jobs=2)


TOTAL = 10


def test_solution_scores_full_marks_on_every_cell(graded):
    assert_full_marks(graded["solution"], TOTAL)


def test_unchanged_student_notebook_scores_zero_everywhere(graded):
    assert_zero_everywhere(graded["unchanged"], TOTAL)


def test_hidden_tests_carry_most_of_the_points(graded):
    cells = graded["solution"].cells
    assert cells["check_adagn"][1] < sum(m for _, m in cells.values()) / 2


@pytest.mark.parametrize("key", sorted(MISTAKES))
def test_each_learner_mistake_loses_points_on_hidden_tests(graded, key):
    r = graded[_name(key)]
    assert r.status == "graded", r.reason
    assert lost_hidden(r, A), f"{key} lost no points on the hidden tests: {r.cells}"
    assert r.score < r.max_score
