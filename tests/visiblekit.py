"""Run one lesson's exercise cells, visible checks and hidden probes in-process, and judge the probes.

For tests/grading/test_visible_checks.py: a learner's answer (the solution, a listed mistake or an equivalent
way of writing it) is executed in a namespace built from the lesson's setup cell, then

* :func:`visible_message` runs the visible part of the exercise's check cells and returns the first
  ``AssertionError`` message (None when every visible check passes);
* :func:`hidden_verdicts` runs the hidden probe of each graded cell of the exercise and judges its
  record with the cell's ``[judge]`` block (:func:`course_utils.grading.judge.judge_outputs`), as
  the grader does, without nbgrader or a kernel.

The cells come from ``authoring/`` (the source of truth), so the tests see a change before the
notebooks are regenerated.
"""

from __future__ import annotations

import contextlib
import io
import types
from functools import lru_cache

import IPython.display
import torch

from course_utils.build.authoring import parse_source
from course_utils.grading.course import REPO_ROOT
from course_utils.grading.judge import Verdict, judge_outputs, load_judgements
from course_utils.lessons import by_id

HIDDEN = "### BEGIN HIDDEN TESTS"


@lru_cache(maxsize=None)
def _cells(assignment: str) -> tuple:
    return tuple(parse_source((REPO_ROOT / by_id(assignment).source).read_text()))


def _answer(source: str) -> str:
    return "\n".join(
        ln for ln in source.splitlines() if "### BEGIN SOLUTION" not in ln and "### END SOLUTION" not in ln
    )


def solution(assignment: str, grade_id: str) -> str:
    """The solution cell's source as a learner who solved it would have typed it."""
    for c in _cells(assignment):
        if c.kind == "solution" and c.attrs.get("id") == grade_id:
            return _answer(c.source)
    raise KeyError(f"no solution cell {grade_id!r} in {assignment}")


def mutate(source: str, *edits: tuple[str, str]) -> str:
    """``source`` with each ``(old, new)`` replaced; every ``old`` must occur (a test that edits nothing is a bug)."""
    for old, new in edits:
        assert old in source, f"{old!r} is not in the source"
        source = source.replace(old, new)
    return source


def check_cells(assignment: str, grade_id: str) -> list[tuple[str, str]]:
    """``(test id, source)`` of the graded cells between solution cell ``grade_id`` and the next solution cell."""
    out, inside = [], False
    for c in _cells(assignment):
        if c.kind == "solution":
            inside = c.attrs.get("id") == grade_id
        elif inside and c.kind == "tests":
            out.append((c.attrs["id"], c.source))
    assert out, f"no test cells after {grade_id}"
    return out


def namespace(assignment: str, answers: dict[str, str]) -> dict:
    """The lesson's setup cell, then every solution cell (``answers`` replaces some), run in one namespace."""
    ns: dict = {
        "RUN": types.SimpleNamespace(grading=True, smoke=True, device=torch.device("cpu")),
        "device": torch.device("cpu"),
        "__name__": "__main__",
    }
    with contextlib.redirect_stdout(io.StringIO()):
        for c in _cells(assignment):
            if c.kind == "setup":
                exec(c.source, ns)
            elif c.kind == "solution":
                gid = c.attrs["id"]
                exec(answers.get(gid, _answer(c.source)), ns)
    return ns


def visible_message(assignment: str, grade_id: str, answer: str) -> str | None:
    """The first failing visible check's message for this answer to ``grade_id`` (None: all pass)."""
    ns = namespace(assignment, {grade_id: answer})
    torch.manual_seed(0)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            for _, src in check_cells(assignment, grade_id):
                exec(src.split(HIDDEN)[0], ns)
    except AssertionError as exc:
        return str(exc)
    return None


def hidden_verdicts(assignment: str, grade_id: str, answer: str, monkeypatch) -> dict[str, Verdict]:
    """Each graded cell of exercise ``grade_id``: its hidden probe run on this answer, judged by its [judge] block."""
    judgements = load_judgements(REPO_ROOT / by_id(assignment).source)
    ns = namespace(assignment, {grade_id: answer})
    records: list = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: records.append(obj))
    out = {}
    for gid, src in check_cells(assignment, grade_id):
        records.clear()
        torch.manual_seed(0)
        with contextlib.redirect_stdout(io.StringIO()):
            exec(src.split(HIDDEN)[1], ns)
        out[gid] = judge_outputs(judgements[gid], [{"output_type": "display_data", "data": r} for r in records])
        assert not out[gid].internal_error, (gid, out[gid].internal_error)
    return out


__all__ = ["solution", "mutate", "check_cells", "namespace", "visible_message", "hidden_verdicts"]
