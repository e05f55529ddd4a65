"""The judge outside the kernel accepts only good evidence; probes record faithfully; nothing leaks.

Unit tests of course_utils.grading.probe (in-kernel recorder), .judge (validation and
verdicts), .preprocessors (the verdict becomes nbgrader's cell result), .feedback (outputs
quoting a probe are dropped) and notebooks.judgement_problems (make check).
"""

from __future__ import annotations

import copy
import json

import nbformat
import pytest
import torch

from course_utils.grading.judge import Fail, Judgement, expect_close, judge_outputs, load_judgements, parse_record
from course_utils.grading.probe import FAILED, MIME, Probe
from course_utils.grading.course import REPO_ROOT

CELL = "hidden_x"
JUDGE = Judgement(
    CELL,
    'expect_close(obs.tensor("y", "f(x)"), [[1.0, 2.0]], name="f(x)")\nexpect(obs.integer("n") == 3, "n should be 3")',
    "test [judge] id=hidden_x",
)


def _record(obs: dict, cell: str = CELL, env=()) -> dict:
    return {"version": 1, "cell": cell, "obs": obs, "environment": list(env)}


def _probe_record(y=torch.tensor([[1.0, 2.0]]), n=3) -> dict:
    p = Probe(CELL)
    p.call("y", lambda: y)
    p.record("n", n)
    return _record(p.observations)


def _out(record) -> dict:
    return {"output_type": "display_data", "data": {MIME: record, "text/plain": "x"}, "metadata": {}}


def test_probe_records_tensors_numbers_and_errors():
    p = Probe(CELL)
    assert p.call("ok", torch.ones, 2, 3).shape == (2, 3)
    assert p.run("meta", torch.zeros, 4, device="meta") is not FAILED
    assert p.call("boom", lambda: 1 / 0) is FAILED
    p.record("derived", lambda: FAILED[0])
    p.record("nums", [1, 2.5, float("nan"), True])
    obs = p.observations
    assert obs["ok"]["shape"] == [2, 3] and obs["ok"]["values"] == [1.0] * 6 and obs["ok"]["dtype"] == "float32"
    assert obs["meta"]["values"] is None and obs["meta"]["device"] == "meta"
    assert obs["boom"] == {"kind": "error", "type": "ZeroDivisionError", "message": "division by zero"}
    assert obs["derived"]["kind"] == "error"
    assert [i["kind"] for i in obs["nums"]["items"]] == ["int", "float", "float", "bool"]
    assert obs["nums"]["items"][2]["value"] == "nan"
    with pytest.raises(ValueError, match="twice"):
        p.record("ok", 1)
    p.record("huge", lambda: torch.zeros(30_000))
    assert p.observations["huge"]["kind"] == "error" and "too large" in p.observations["huge"]["message"]
    json.dumps(p.observations, allow_nan=False)  # travels as strict JSON


def test_correct_observations_pass():
    v = judge_outputs(JUDGE, [_out(_probe_record())])
    assert v.passed and not v.internal_error, v


@pytest.mark.parametrize(
    "outputs, words",
    [
        ([], "did not run"),
        (
            [
                {
                    "output_type": "error",
                    "ename": "AssertionError",
                    "evalue": "shape should be (6, 256)",
                    "traceback": [],
                }
            ],
            "stopped before its hidden checks could run: AssertionError: shape should be (6, 256)",
        ),
        ([_out(_probe_record()), _out(_probe_record())], "more than one observation record"),
        ([_out("{not json")], "not valid JSON"),
        ([_out(_record({}, cell="other_cell"))], "belongs to another cell"),
        ([_out({**_probe_record(), "extra": 1})], "malformed"),
        ([_out(_record({"Y!": {"kind": "int", "value": 1}}))], "malformed keys"),
        (
            [
                _out(
                    _record(
                        {
                            "y": {
                                "kind": "tensor",
                                "type": "Tensor",
                                "shape": [1, 2],
                                "dtype": "float32",
                                "device": "cpu",
                                "values": [1.0],
                            },
                            "n": {"kind": "int", "value": 3},
                        }
                    )
                )
            ],
            "one value per element",
        ),
        (
            [
                _out(
                    _record(
                        {
                            "y": {
                                "kind": "tensor",
                                "type": "Tensor",
                                "shape": [1, 2],
                                "dtype": "float32",
                                "device": "cpu",
                                "values": [1.0, "2"],
                            },
                            "n": {"kind": "int", "value": 3},
                        }
                    )
                )
            ],
            "where a number belongs",
        ),
        ([_out(_record({"y": {"kind": "pickle", "value": "..."}}))], "malformed"),
        ([_out(_record({f"k{i}": {"kind": "int", "value": i} for i in range(100)}))], "malformed keys"),
        ([_out(_record({"y": {"kind": "str", "value": "x" * 2_000_000}}))], "too large"),
        ([_out(_record({"n": {"kind": "int", "value": 3}}))], "recorded no observation 'y'"),
        (
            [_out({**_probe_record(), "obs": {**_probe_record()["obs"], "spare": {"kind": "int", "value": 1}}})],
            "unexpected observations in this cell's record: spare",
        ),
        ([_out(_probe_record(y=torch.tensor([[1.0, 2.5]])))], "values differ from the expected ones at row 0"),
        ([_out(_probe_record(y=torch.tensor([[1.0, float("nan")]])))], "is not finite"),
        ([_out(_probe_record(y=torch.tensor([1.0, 2.0])))], "has shape (2,) but shape (1, 2) was expected"),
        ([_out(_probe_record(n=3.0))], "expected int, your code gave float"),
        (
            [
                _out(
                    _record(
                        {
                            "y": {"kind": "error", "type": "RuntimeError", "message": "mat1 and mat2 shapes"},
                            "n": {"kind": "int", "value": 3},
                        }
                    )
                )
            ],
            "f(x): your code raised RuntimeError: mat1 and mat2",
        ),
    ],
)
def test_bad_evidence_fails_with_a_message(outputs, words):
    v = judge_outputs(JUDGE, outputs)
    assert not v.passed and words in v.message, v.message
    assert "2.0" not in v.message and "[[1.0" not in v.message  # never an expected value


def test_a_judgement_bug_fails_safe_and_is_reported_to_the_instructor_only():
    buggy = Judgement(CELL, "obs.tensor('y'); obs.integer('n'); 1 / 0", "test")
    v = judge_outputs(buggy, [_out(_probe_record())])
    assert not v.passed and "ZeroDivisionError" in v.internal_error and "ZeroDivision" not in v.message


def test_expect_close_names_position_not_values():
    with pytest.raises(Fail) as err:
        expect_close([[0.0, 0.123456]], [[0.0, 0.654321]], atol=1e-4, name="x")
    assert "row 0" in str(err.value) and "0.654321" not in str(err.value) and "0.53" in str(err.value)


def test_parse_record_accepts_a_json_string_and_environment():
    rec = parse_record(json.dumps(_record({}, env=["torch.allclose replaced"])), CELL)
    assert rec["environment"] == ["torch.allclose replaced"]


def test_every_lesson_source_has_judgements_that_compile():
    from course_utils.lessons import LESSONS

    for lesson in LESSONS:
        judges = load_judgements(REPO_ROOT / lesson.source)
        assert judges, lesson.assignment


def test_judgement_problems_finds_missing_orphan_and_asserting_probes(tmp_path):
    from course_utils.build.notebooks import judgement_problems
    from course_utils.lessons import by_id

    lesson = by_id("01_sinusoidal_embedding")
    assert judgement_problems([lesson]) == []
    text = (REPO_ROOT / lesson.source).read_text()
    broken = text.replace("# %% [judge] id=hidden_sinusoidal_device", "# %% [judge] id=hidden_nothing", 1)
    broken = broken.replace(
        '_o = _Probe("hidden_sinusoidal_values")', '_o = _Probe("hidden_sinusoidal_values")\nassert 1 == 1', 1
    )
    (tmp_path / "authoring").mkdir()
    (tmp_path / lesson.source).write_text(broken)
    problems = "\n".join(judgement_problems([lesson], root=tmp_path))
    assert "id=hidden_sinusoidal_device: no [judge] id=hidden_sinusoidal_device block" in problems
    assert "[judge] id=hidden_nothing: no [tests] cell" in problems
    assert "hidden_sinusoidal_values: the hidden probe asserts" in problems


def test_judge_blocks_never_reach_a_notebook():
    from course_utils.lessons import LESSONS

    for lesson in LESSONS:
        for path in (REPO_ROOT / lesson.solution, REPO_ROOT / lesson.student):
            text = path.read_text()
            assert "[judge]" not in text and "expect_close(" not in text and "obs.tensor(" not in text, path


def test_feedback_drops_outputs_that_quote_a_probe():
    from course_utils.grading.feedback import REMOVED, learner_view

    test_src = "print('visible')\n### BEGIN HIDDEN TESTS\n_o = _Probe(\"hidden_x\")\n_o.call('y', f, 3)\n_o.emit()\n"
    meta = {"nbgrader": {"grade": True, "grade_id": CELL, "points": 1, "solution": False, "locked": True}}
    released = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('visible')", metadata=meta)])
    leak = nbformat.v4.new_code_cell("print(_seen)")
    leak.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=repr(["x", test_src])),
        nbformat.v4.new_output("stream", name="stdout", text="my own output\n"),
    ]
    graded = nbformat.v4.new_code_cell(test_src, metadata=copy.deepcopy(meta))
    autograded = nbformat.v4.new_notebook(cells=[graded, leak])
    view = learner_view(autograded, released, {CELL: (1.0, 1.0)})
    outs = view.cells[-1].outputs
    assert outs[0]["text"] == REMOVED and outs[1]["text"] == "my own output\n"
    assert "_Probe" not in json.dumps(view)


def test_feedback_shows_each_graded_cells_points_under_it_and_in_the_summary(tmp_path):
    from course_utils.grading.feedback import learner_view, write_feedback

    def graded(gid, points):
        meta = {"nbgrader": {"grade": True, "grade_id": gid, "points": points, "solution": False, "locked": True}}
        return nbformat.v4.new_code_cell(f"check_{gid}()", metadata=meta)

    cells = [graded("check_a", 2), nbformat.v4.new_markdown_cell("text"), graded("hidden_b", 4), graded("hidden_c", 3)]
    released = nbformat.v4.new_notebook(cells=copy.deepcopy(cells))
    scores = {"check_a": (2.0, 2.0), "hidden_b": (0.0, 4.0), "hidden_c": (1.5, 3.0)}
    view = learner_view(nbformat.v4.new_notebook(cells=cells), released, scores)
    sources = [c.source for c in view.cells]
    assert "**Score: 3.5 / 9**" in sources[0]
    assert all(f"| `{g}` | {s:g} / {m:g} |" in sources[0] for g, (s, m) in scores.items())
    for gid, line in [
        ("check_a", "**`check_a`: 2 / 2 points** (passed)"),
        ("hidden_b", "**`hidden_b`: 0 / 4 points** (not passed: see the message above)"),
        ("hidden_c", "**`hidden_c`: 1.5 / 3 points** (partly passed)"),
    ]:
        at = next(i for i, c in enumerate(view.cells) if c.source == f"check_{gid}()")
        assert view.cells[at + 1].cell_type == "markdown" and view.cells[at + 1].source == line
    autograded = tmp_path / "a.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), autograded)
    nbformat.write(released, tmp_path / "r.ipynb")
    html = write_feedback(autograded, tmp_path / "r.ipynb", scores, tmp_path / "f.html").read_text()
    assert "hidden_b</code>: 0 / 4 points" in html and "1.5 / 3 points" in html


def test_nbgrader_config_wires_the_judge_for_nbgraders_own_cli():
    from course_utils.grading.course import CourseDirs, nbgrader_config
    from course_utils.grading.preprocessors import CourseExecute, JudgeObservations

    procs = nbgrader_config(CourseDirs()).Autograde.autograde_preprocessors
    # The executor may be a sandboxed subclass (plain `nbgrader autograde`); the judge comes right after it.
    at = procs.index(JudgeObservations)
    assert at >= 1 and issubclass(procs[at - 1], CourseExecute), procs


def test_graded_cells_run_out_of_history(tmp_path):
    """CourseExecute sends graded cells with store_history=False: IPython's In never holds them."""
    from course_utils.grading.preprocessors import CourseExecute

    meta = {"nbgrader": {"grade": True, "grade_id": CELL, "points": 1, "solution": False, "locked": True}}
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("x = 1"),
            nbformat.v4.new_code_cell("secret_probe_line = 41", metadata=meta),
            nbformat.v4.new_code_cell("print(repr(In))"),
        ]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    out, _ = CourseExecute(timeout=60).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    printed = out.cells[-1].outputs[0]["text"]
    assert "x = 1" in printed and "secret_probe_line" not in printed
