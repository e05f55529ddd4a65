"""Lesson 04 through nbgrader: full marks, zero, and every listed learner mistake loses points.

Each mistake is the solution with one realistic change, and each must lose the points of the
hidden test written for it (and may lose others). Grading runs the whole notebook with
COURSE_GRADING=1, so no training happens; the module takes about a minute with two jobs.
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

A = "04_mnist_simple_vs_sinusoidal"
ID = "unet_sinusoidal_impl"

ADD = "        b = b + t_vec.view(-1, 256, 1, 1)"
TIME = "        t_vec = self.time_proj(self.time_embed(t))"
EMBED = "        self.time_embed = TimestepEmbedding(256, 512)"
PROJ = "        self.time_proj = nn.Linear(512, 256)"


def variant(*edits):
    """The solution with each (old line start, new text) edit applied to exactly one line."""
    lines = solution_source(A, ID).split("\n")
    for old, new in edits:
        hits = [i for i, ln in enumerate(lines) if ln.startswith(old)]
        assert len(hits) == 1, f"{old!r} matches {len(hits)} lines of the solution"
        lines[hits[0]] = new
    return "\n".join(lines)


# mistake -> (solution source with the mistake, hidden test cells it must fail)
MISTAKES = {
    # the time vector reaches channels 0..127 only, as in UNetSimple
    "first_128_channels": (
        variant((ADD, "        b = b + F.pad(t_vec[:, :128], (0, 128)).view(-1, 256, 1, 1)")),
        {"hidden_unet_all_channels", "hidden_unet_values"},
    ),
    # the original notebook's in-place slice assignment into the ReLU output: backward() fails
    "inplace_slice_add": (
        variant((ADD, "        b[:, :, :, :] = b[:, :, :, :] + t_vec.view(-1, 256, 1, 1)")),
        {"hidden_unet_gradients", "hidden_unet_trains"},
    ),
    # the simple t/T embedding kept, widened to 512 so that the rest still fits
    "simple_embedding_kept": (
        variant((EMBED, "        self.time_embed = SimpleTimestepEmbed(d_emb=512)")),
        {"hidden_unet_time_embedding", "hidden_unet_shape_params"},
    ),
    # no Linear(512, 256): a 512-d vector cannot be added to 256 channels
    "missing_projection": (
        variant(
            (PROJ, ""), (TIME, "        t_vec = self.time_embed(t)"), (ADD, "        b = b + t_vec.view(-1, 512, 1, 1)")
        ),
        {"hidden_unet_shape_params", "hidden_unet_uses_t", "hidden_unet_trains"},
    ),
    # the embedding is cut off from the graph: its MLP never learns
    "embedding_detached": (
        variant((TIME, "        t_vec = self.time_proj(self.time_embed(t).detach())")),
        {"hidden_unet_gradients"},
    ),
    # t is computed but never added
    "t_ignored": (
        variant((ADD, "        # (the time vector is computed but never added)")),
        {"hidden_unet_uses_t", "hidden_unet_all_channels", "hidden_unet_gradients"},
    ),
}


def _name(mistake):
    return f"mistake-{mistake.replace('_', '-')}"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    subs = {"solution": with_answers(A, {ID: solution_source(A, ID)}), "unchanged": student_notebook(A)}
    subs.update({_name(k): with_answers(A, {ID: src}) for k, (src, _) in MISTAKES.items()})
    return grade(tmp_path_factory.mktemp("l04"), A, subs, jobs=2)


def test_solution_scores_full_marks_on_every_cell(graded):
    assert_full_marks(graded["solution"], 16)


def test_unchanged_student_notebook_scores_zero_everywhere(graded):
    assert_zero_everywhere(graded["unchanged"], 16)


def test_hidden_tests_carry_most_of_the_points(graded):
    cells = graded["solution"].cells
    assert cells["check_unet_sinusoidal"][1] < sum(m for _, m in cells.values()) / 2
    assert hidden_ids(A) == set(cells)


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_each_learner_mistake_loses_points_on_its_hidden_tests(graded, mistake):
    r = graded[_name(mistake)]
    assert r.status == "graded", r.reason
    lost = {g for g, (s, m) in r.cells.items() if s < m}
    must_lose = MISTAKES[mistake][1]
    assert must_lose <= lost, f"{mistake} kept points on {sorted(must_lose - lost)}: {r.cells}"
    assert r.score < r.max_score
