"""Every listed learner mistake fails its visible check, naming the misconception; equivalents pass everything.

Lesson by lesson, ``MISTAKES`` lists plausible wrong answers to each exercise (those reported in
issue 12 and more: each convention, broadcast, sign, scale and order of operations the lesson
teaches), each with the keyword its visible-check message must contain. ``EQUIVALENTS`` lists
correct answers written differently; each must pass the visible checks *and* score full marks on
the hidden tests (probe run in-process, judged by the lesson's ``[judge]`` blocks, tests/visiblekit.py).
``CASCADES``: a mistake fails only the hidden tests about its own concern.
"""

from __future__ import annotations

import pytest

from visiblekit import hidden_verdicts, mutate, solution, visible_message

L01, L02, L03, L04, L05 = ("01_sinusoidal_embedding", "02_timestep_mlp_film", "03_adaptive_group_norm",
                           "04_mnist_simple_vs_sinusoidal", "05_film_score_network_2d")
S01 = "sinusoidal_impl"


def _l01(*edits):
    return (L01, S01, mutate(solution(L01, S01), *edits))


OMEGA = "omega = torch.exp(-math.log(10000.0) * i / half)"
CAT = "emb = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)"

# name -> (assignment, exercise id, answer source, keyword the visible message must contain)
MISTAKES = {
    "01 DDPM grid half - 1": (*_l01((OMEGA, "omega = torch.exp(-math.log(10000.0) * i / (half - 1))")), "[frequency grid]"),
    "01 misread 2i / half": (*_l01((OMEGA, "omega = torch.exp(-math.log(10000.0) * 2 * i / half)")), "[frequency grid]"),
    "01 exponent over d_emb": (*_l01((OMEGA, "omega = torch.exp(-math.log(10000.0) * i / d_emb)")), "[frequency grid]"),
    "01 missing minus sign": (*_l01((OMEGA, "omega = torch.exp(math.log(10000.0) * i / half)")), "[frequency grid]"),
    "01 integer power overflows": (*_l01((OMEGA, "omega = 1.0 / (10000 ** torch.arange(0, d_emb, 2, device=t.device)) ** (1.0 / d_emb)")),
                                   "[frequency grid]"),
    "01 interleaved layout": (*_l01((CAT, "emb = torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1).reshape(t.shape[0], -1)")),
                              "[interleaved]"),
    "01 cos before sin": (*_l01((CAT, "emb = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)")), "[cos first]"),
    "01 missing [:, None]": (*_l01(("angles = t[:, None] * omega[None, :]", "angles = t * omega")), "[outer product]"),
    "01 no zero column for odd d": (*_l01(("emb = F.pad(emb, (0, 1))", "pass")), "[odd d_emb]"),
    "01 .long() truncates 7.5": (*_l01(("t = t.to(torch.float32)", "t = t.long().float()")), "[fractional t]"),
    "01 computes in t's dtype": (*_l01(("t = t.to(torch.float32)", "t = t if t.is_floating_point() else t.float()"),
                                       ("i = torch.arange(half, dtype=torch.float32", "i = torch.arange(half, dtype=t.dtype")),
                                 "[convert before arithmetic]"),
    "01 frequencies on the CPU": (*_l01(("dtype=torch.float32, device=t.device)", "dtype=torch.float32)")), "[device]"),
    "01 Python numbers rejected": (*_l01(("t = torch.tensor([float(t)])", "raise TypeError('t must be a tensor')")),
                                   "[python number]"),
    "01 0-d tensor not reshaped": (*_l01(("t = t.reshape(1)", "pass")), "[0-d tensor]"),
}

EQUIVALENTS = {
    "01 ** instead of exp": (*_l01((OMEGA, "omega = 10000.0 ** (-i / half)")),),
    "01 float64 then cast": (*_l01(("t = t.to(torch.float32)", "t = t.to(torch.float64)"),
                                   ("i = torch.arange(half, dtype=torch.float32", "i = torch.arange(half, dtype=torch.float64"),
                                   ("    if d_emb % 2 == 1:", "    emb = emb.float()\n    if d_emb % 2 == 1:")),),
    "01 outer and cat with a zeros column": (*_l01(("angles = t[:, None] * omega[None, :]", "angles = torch.outer(t, omega)"),
                                                   ("emb = F.pad(emb, (0, 1))",
                                                    "emb = torch.cat([emb, torch.zeros(emb.shape[0], 1, device=t.device)], dim=1)")),),
}


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_mistake_fails_its_visible_check_naming_the_misconception(name):
    assignment, exercise, answer, keyword = MISTAKES[name]
    message = visible_message(assignment, exercise, answer)
    assert message is not None, f"{name}: the visible checks passed"
    assert keyword in message, f"{name}: expected {keyword!r} in the message, got: {message}"


@pytest.mark.parametrize("name", sorted(EQUIVALENTS))
def test_equivalent_answer_passes_visible_and_hidden_checks(name, monkeypatch):
    assignment, exercise, answer = EQUIVALENTS[name]
    assert visible_message(assignment, exercise, answer) is None, visible_message(assignment, exercise, answer)
    verdicts = hidden_verdicts(assignment, exercise, answer, monkeypatch)
    assert all(v.passed for v in verdicts.values()), {g: v.message for g, v in verdicts.items() if not v.passed}


@pytest.mark.parametrize("assignment,exercise", sorted({(a, e) for a, e, *_ in MISTAKES.values()}))
def test_solution_passes_visible_and_hidden_checks(assignment, exercise, monkeypatch):
    answer = solution(assignment, exercise)
    assert visible_message(assignment, exercise, answer) is None, visible_message(assignment, exercise, answer)
    verdicts = hidden_verdicts(assignment, exercise, answer, monkeypatch)
    assert all(v.passed for v in verdicts.values()), {g: v.message for g, v in verdicts.items() if not v.passed}


# name -> the graded cells it may fail (its own concern); every other cell of the exercise must pass
CASCADES = {
    "01 DDPM grid half - 1": {"check_sinusoidal_basics", "hidden_sinusoidal_values"},
    "01 misread 2i / half": {"check_sinusoidal_basics", "hidden_sinusoidal_values"},
}


@pytest.mark.parametrize("name", sorted(CASCADES))
def test_mistake_fails_only_the_hidden_tests_about_its_concern(name, monkeypatch):
    assignment, exercise, answer, _ = MISTAKES[name]
    verdicts = hidden_verdicts(assignment, exercise, answer, monkeypatch)
    failed = {g for g, v in verdicts.items() if not v.passed}
    assert failed, f"{name} fails no hidden test"
    assert failed <= CASCADES[name], {g: verdicts[g].message for g in failed - CASCADES[name]}


def test_enough_mistakes_and_equivalents_are_listed():
    assert len(MISTAKES) >= 40 and len(EQUIVALENTS) >= 15
    assert {a for a, *_ in MISTAKES.values()} == {L01, L02, L03, L04, L05}
