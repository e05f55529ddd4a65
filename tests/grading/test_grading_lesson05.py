"""Lesson 05 through nbgrader: full marks, zero, and every listed learner mistake loses points.

Each mistake is one learner submission: the solution with one exercise answered wrongly. It must
lose points on that exercise's hidden tests and keep full marks on the other exercises (the
exercises are graded independently). Grading runs with COURSE_GRADING=1, so the notebook's
training and sampling shrink to a few seconds per submission.
"""

import pytest

from gradekit import (
    assert_full_marks,
    assert_zero_everywhere,
    grade,
    hidden_ids,
    solution_source,
    student_notebook,
    with_answers,
)

A = "05_film_score_network_2d"
FORWARD, LOSS, STEP = "film_forward_impl", "dsm_loss_impl", "reverse_step_impl"
CELLS = {  # the graded cells of each exercise
    FORWARD: {"check_film_forward", "hidden_film_values", "hidden_film_structure"},
    LOSS: {"check_dsm_loss", "hidden_dsm_target", "hidden_dsm_sampling"},
    STEP: {"check_reverse_step", "hidden_reverse_step"},
}
MAX_SCORE = 20


def _edit(grade_id: str, *replacements: tuple[str, str]) -> str:
    """The solution of ``grade_id`` with each ``old -> new`` applied (each ``old`` must occur)."""
    src = solution_source(A, grade_id)
    for old, new in replacements:
        assert old in src, f"the solution of {grade_id} no longer contains {old!r}: update this mistake"
        src = src.replace(old, new)
    return src


MISTAKES = {  # name -> (exercise, answer source)
    # FiLM also modulates the output layer.
    "film_on_output": (
        FORWARD,
        _edit(
            FORWARD,
            (
                "        self.act = nn.SiLU()\n",
                "        self.act = nn.SiLU()\n        self.film_out = nn.Linear(time_dim, 2 * data_dim)\n",
            ),
            (
                "        return self.output(h)",
                "        scale, shift = self.film_out(t_emb).chunk(2, dim=-1)\n"
                "        return scale * self.output(h) + shift",
            ),
        ),
    ),
    # Time is not embedded: the raw t is concatenated to x and FiLM is not used.
    "raw_t_concatenated": (
        FORWARD,
        _edit(
            FORWARD,
            ("nn.Linear(data_dim, hidden_dim)", "nn.Linear(data_dim + 1, hidden_dim)"),
            (
                "        t_emb = self.time_embedding(t)",
                "        h = torch.cat([x, t[:, None]], dim=-1)\n"
                "        return self.output(self.act(self.layer3(self.act(self.layer2(self.act(self.layer1(h)))))))",
            ),
        ),
    ),
    # Time is not embedded: the raw t, repeated, is what the FiLM layers read.
    "raw_t_into_film": (
        FORWARD,
        _edit(FORWARD, ("t_emb = self.time_embedding(t)", "t_emb = t[:, None].expand(-1, self.time_dim)")),
    ),
    # Target -z instead of -z / sigma (the 1/sigma is missing).
    "loss_missing_inverse_sigma": (
        LOSS,
        _edit(LOSS, ("residual = sigma * model(x_t, t) + noise", "residual = model(x_t, t) + noise")),
    ),
    # Weighting lambda = 1 instead of the stated lambda = sigma^2.
    "loss_without_sigma_squared_weight": (
        LOSS,
        _edit(LOSS, ("residual = sigma * model(x_t, t) + noise", "residual = model(x_t, t) + noise / sigma")),
    ),
    # t drawn from [0, 1) instead of [eps, 1].
    "t_from_zero": (
        LOSS,
        _edit(
            LOSS,
            (
                "t = sde.eps + (1.0 - sde.eps) * torch.rand(batch, device=x0.device)",
                "t = torch.rand(batch, device=x0.device)",
            ),
        ),
    ),
    # Discrete DDPM habit: integer steps 0..999 instead of continuous t in [eps, 1].
    "t_integer_steps": (
        LOSS,
        _edit(
            LOSS,
            (
                "t = sde.eps + (1.0 - sde.eps) * torch.rand(batch, device=x0.device)",
                "t = torch.randint(0, 1000, (batch,), device=x0.device).float()",
            ),
        ),
    ),
    # The reverse step adds the forward-time drift instead of subtracting it.
    "step_drift_sign": (
        STEP,
        _edit(
            STEP,
            (
                "return x - drift * dt + torch.sqrt(beta * dt) * noise",
                "return x + drift * dt + torch.sqrt(beta * dt) * noise",
            ),
        ),
    ),
}


def _solution_answers() -> dict:
    return {gid: solution_source(A, gid) for gid in CELLS}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    subs = {"solution": with_answers(A, _solution_answers()), "unchanged": student_notebook(A)}
    for name, (gid, src) in MISTAKES.items():
        subs[f"mistake-{name.replace('_', '-')}"] = with_answers(A, {**_solution_answers(), gid: src})
    return grade(tmp_path_factory.mktemp("l05"), A, subs, jobs=2)


def test_solution_scores_full_marks_on_every_cell(graded):
    assert_full_marks(graded["solution"], MAX_SCORE)
    assert set(graded["solution"].cells) == set().union(*CELLS.values())


def test_unchanged_student_notebook_scores_zero_everywhere(graded):
    assert_zero_everywhere(graded["unchanged"], MAX_SCORE)


def test_hidden_tests_carry_most_of_the_points(graded):
    cells = graded["solution"].cells
    visible = sum(m for g, (_, m) in cells.items() if g.startswith("check_"))
    assert visible < MAX_SCORE / 2
    assert {g for g in cells if g.startswith("hidden_")} <= hidden_ids(A)


def test_grading_one_submission_is_fast(graded):
    """COURSE_GRADING=1 shrinks training and sampling: a submission must not take a minute."""
    assert graded["solution"].seconds < 60, graded["solution"].seconds


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_each_learner_mistake_loses_points_on_hidden_tests(graded, mistake):
    exercise = MISTAKES[mistake][0]
    r = graded[f"mistake-{mistake.replace('_', '-')}"]
    assert r.status == "graded", (r.reason, r.findings, r.notes)
    hidden_only = {g for g in CELLS[exercise] if g.startswith("hidden_")}
    lost = [g for g in hidden_only if r.cells[g][0] < r.cells[g][1]]
    assert lost, f"{mistake} lost no points on the hidden tests: {r.cells}"
    others = set(r.cells) - CELLS[exercise]
    assert all(r.cells[g][0] == r.cells[g][1] for g in others), (
        f"{mistake} is a mistake in {exercise} only, yet other exercises lost points: {r.cells}"
    )
