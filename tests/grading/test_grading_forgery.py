"""Forging a grade from inside the learner's kernel does not work: the judge sits outside it.

Every attempt below is the same wrong answer (DDPM's ``half - 1`` frequency grid, which
honestly scores 2 / 10 on lesson 01) plus one attack on the grading machinery that runs
in, or can be reached from, the learner's kernel: IPython input and AST transformers
registered by every spelling, replaced probe / guard modules, patched torch / numpy /
builtins / Tensor methods, exception handlers, trace and event hooks, forged or
duplicated observation records, a kernel that exits after the probe. All are graded in
one run through the real pipeline (``autograde``, the function behind ``make autograde``)
with the sandbox on. Each must score no more than the wrong answer alone, on every cell;
the honest submission in the same run scores full marks. A last learner tries to read
the hidden probes back through IPython's history and event hooks: its feedback holds no
probe line and no hidden literal.
"""

from __future__ import annotations

import ast
import os
import re
import shutil

import nbformat
import pytest

from gradekit import grade, solution_notebook, solution_source, student_notebook, with_answers

A = "01_sinusoidal_embedding"
ID = "sinusoidal_impl"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="the sandbox needs root and util-linux setpriv"
)

# A wrong answer that still passes the visible checks (they catch DDPM's half - 1 grid at d_emb = 256, so this
# one uses it only below 64), so the probe of every graded cell runs and each attack has something to forge.
WRONG = solution_source(A, ID).replace("i / half)", "i / (half - 1 if d_emb < 64 else half))")
assert WRONG != solution_source(A, ID), "the wrong answer must differ from the solution"

# A record that looks right (every key of every cell, plausible tensors) with wrong values.
_FORGE_LIB = r"""
import torch as _ft
from IPython.display import display as _fdisplay
from course_utils.grading import probe as _fprobe
_KEYS = {
    "check_sinusoidal_basics": {"d4_t3": (1, 4)},
    "hidden_sinusoidal_values": {"d8": (4, 8), "e500": (1, 256), "e500_cols": (10,)},
    "hidden_sinusoidal_inputs": dict([(k, (1, 6)) for k in ("int_5", "float_2_5", "t0d_int_7", "t0d_f64")]
        + [("dtype_" + d, (3, 16)) for d in ("float16", "float64", "int32", "int64")]
        + [("odd_%d" % d, (2, d)) for d in (7, 9, 33)] + [("even_%d" % (d - 1), (2, d - 1)) for d in (7, 9, 33)]
        + [("own_6", (4, 6)), ("own_16", (3, 16)), ("batch_128", (128, 256))]),
    "hidden_sinusoidal_device": {"meta": (5, 32)},
}
def _forged(cell, fill=0.5):
    obs = {}
    for k, shape in _KEYS.get(cell, {}).items():
        n = 1
        for s in shape:
            n *= s
        obs[k] = {"kind": "tensor", "type": "Tensor", "shape": list(shape), "dtype": "float32",
                  "device": "meta" if k == "meta" else "cpu", "values": None if n > 20000 or k == "meta" else [fill] * n}
    return {"version": 1, "cell": cell, "obs": obs, "environment": []}
def _display_forged(cell):
    _fdisplay({_fprobe.MIME: _forged(cell)}, raw=True)
"""

ATTACKS = {
    # IPython input transformers, every spelling: the probe cell becomes a forged record or nothing
    "input-transformer-getattr": (
        "def _rewrite(lines):\n"
        "    src = ''.join(lines)\n"
        "    if 'Probe(' in src:\n"
        "        cell = src.split('Probe(\"', 1)[1].split('\"', 1)[0]\n"
        "        return ['_display_forged(%r)\\n' % cell]\n"
        "    return lines\n"
        "getattr(get_ipython(), 'input_transformers_cleanup').append(_rewrite)"
    ),
    "input-transformer-attribute": "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])",
    "input-transformer-dict": (
        "vars(get_ipython().input_transformer_manager)['cleanup_transforms'].append("
        "lambda lines: ['print(\"[grading environment verified]\")\\n'] if any('Probe' in l for l in lines) else lines)"
    ),
    "input-transformer-setattr": (
        "_ip = get_ipython()\n"
        "setattr(_ip, 'input_transformers_post', list(_ip.input_transformers_post) + "
        "[lambda lines: ['pass\\n'] if any('emit' in l for l in lines) else lines])"
    ),
    "input-transformer-exec": "exec('get_ipython().' + 'input_transformers' + '_post.append(lambda l: [\"pass\\\\n\"])')",
    "ast-transformer-drops-emit": (
        "import ast\n"
        "class _Drop(ast.NodeTransformer):\n"
        "    def visit_Expr(self, node):\n"
        "        s = ast.unparse(node)\n"
        "        return None if 'emit' in s else node\n"
        "get_ipython().ast_transformers.append(_Drop())"
    ),
    "ast-transformer-forges": (
        "import ast\n"
        "class _Forge(ast.NodeTransformer):\n"
        "    def visit_Module(self, node):\n"
        "        s = ast.unparse(node)\n"
        "        if 'Probe(' in s:\n"
        "            cell = s.split('Probe(', 1)[1].split(')', 1)[0].strip('\\'\"')\n"
        "            return ast.parse('_display_forged(%r)' % cell)\n"
        "        return node\n"
        "setattr(get_ipython(), 'ast_transformers', [_Forge()])"
    ),
    # replaced recorder / guard modules
    "sys-modules-probe": (
        "import sys, types\n"
        "_fake = types.ModuleType('course_utils.grading.probe')\n"
        "_fake.MIME = _fprobe.MIME\n"
        "class _FakeProbe:\n"
        "    def __init__(self, cell): self.cell = cell\n"
        "    def call(self, *a, **k): return None\n"
        "    run = record = call\n"
        "    def emit(self): _display_forged(self.cell)\n"
        "_fake.Probe = _FakeProbe\n"
        "sys.modules['course_utils.grading.probe'] = _fake"
    ),
    "package-attribute-probe": (
        "import course_utils.grading as _cg, types\n"
        "_m = types.SimpleNamespace(Probe=lambda cell: types.SimpleNamespace(call=print, run=print, record=print, "
        "emit=lambda: _display_forged(cell)), MIME=_fprobe.MIME)\n"
        "setattr(_cg, 'probe', _m)"
    ),
    "probe-emit-suppressed": "_fprobe.Probe.emit = lambda self: None",
    "probe-records-right-shape-wrong-values": (
        "def _call(self, key, fn, *a, **k):\n"
        "    self.observations[key] = _forged(self.cell_id, 0.25)['obs'].get(key, {'kind': 'none'})\n"
        "_fprobe.Probe.call = _fprobe.Probe.run = _call\n"
        "_fprobe.Probe.record = lambda self, key, v, values=True: _call(self, key, None)"
    ),
    "sys-modules-guard": (
        "import sys, types\n"
        "sys.modules['course_utils.grading.guard'] = types.SimpleNamespace(changes=lambda: [], snapshot=lambda: True)"
    ),
    # patched libraries
    "patched-torch-functions": (
        "torch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"
        "torch.isclose = lambda a, b, **k: torch.ones_like(a, dtype=torch.bool)"
    ),
    "patched-numpy": (
        "import numpy as np\nnp.allclose = lambda *a, **k: True\nnp.testing.assert_allclose = lambda *a, **k: None"
    ),
    "patched-builtins": (
        "import builtins\nbuiltins.abs = lambda x: 0\nbuiltins.round = lambda x, n=None: 0.0\n"
        "builtins.isinstance = lambda obj, cls: True if cls is float else type(obj) is cls or "
        "issubclass(type(obj), cls)"
    ),
    "patched-tensor-methods": (
        "torch.Tensor.tolist = lambda self: [0.0] * self.numel()\ntorch.Tensor.double = lambda self: self"
    ),
    # exception handlers, trace and event hooks
    "custom-exception-handler": "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)",
    "trace-and-profile-hooks": (
        "import sys, threading\n_t = lambda frame, event, arg: None\n"
        "sys.settrace(_t); sys.setprofile(_t); threading.settrace(_t)"
    ),
    "event-hook-adds-forged-record": (
        "def _post(result):\n"
        "    src = result.info.raw_cell\n"
        "    if 'Probe(' in src:\n"
        "        _display_forged(src.split('Probe(\"', 1)[1].split('\"', 1)[0])\n"
        "get_ipython().events.register('post_run_cell', _post)"
    ),
    "forged-record-from-learner-fn": (
        "_wrong = sinusoidal_embedding\n"
        "def sinusoidal_embedding(t, d_emb=256):\n"
        "    for cell in _KEYS:\n"
        "        _display_forged(cell)\n"
        "    return _wrong(t, d_emb)"
    ),
    "forged-record-as-text": (
        "import json\n"
        "_wrong2 = sinusoidal_embedding\n"
        "def sinusoidal_embedding(t, d_emb=256):\n"
        "    print(json.dumps({_fprobe.MIME: _forged('hidden_sinusoidal_values')}))\n"
        "    return _wrong2(t, d_emb)"
    ),
    "display-publisher-rewrites-records": (
        "_pub = get_ipython().display_pub\n_orig = _pub.publish\n"
        "def _publish(data, *a, **k):\n"
        "    if _fprobe.MIME in data:\n"
        "        data = {_fprobe.MIME: _forged(data[_fprobe.MIME]['cell'])}\n"
        "    return _orig(data, *a, **k)\n"
        "_pub.publish = _publish"
    ),
    "kernel-exits-after-probe": (
        "import os\n"
        "def _bye(result):\n"
        "    if 'Probe(' in result.info.raw_cell:\n"
        "        os._exit(0)\n"
        "get_ipython().events.register('post_run_cell', _bye)"
    ),
    "stdout-swallowed": "import sys, io\nsys.stdout = io.StringIO()\nsys.stderr = io.StringIO()",
}

# Reads the probes back: IPython's history, and every cell's source captured by an event hook.
HISTORY_HOOK = "_seen = []\nget_ipython().events.register('pre_run_cell', lambda info: _seen.append(info.raw_cell))"
# The dump keeps only the cells that mention a probe: the whole history of the lesson is longer than
# the course's output limit (20,000 characters), which would cut the dump before the probes.
# ('Pro' + 'be(' so that the dump cell, which is in In itself, does not match.)
HISTORY_DUMP = (
    "_k = 'Pro' + 'be('\nprint([c for c in In if _k in c])\nprint([c for c in _ih if _k in c])\n"
    "print('\\n'.join(c for c in _seen if _k in c))"
)


def _appended(nb: nbformat.NotebookNode, source: str) -> nbformat.NotebookNode:
    nb.cells.append(nbformat.v4.new_code_cell(source))
    return nb


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("forgery")
    subs = {"honest": with_answers(A, {ID: solution_source(A, ID)}), "wrong-baseline": with_answers(A, {ID: WRONG})}
    for name, code in ATTACKS.items():
        subs[name] = with_answers(A, {ID: WRONG + "\n" + _FORGE_LIB + "\n" + code + "\n"})
    subs["history"] = _appended(with_answers(A, {ID: WRONG + "\n" + HISTORY_HOOK + "\n"}), HISTORY_DUMP)
    results = grade(tmp, A, subs, jobs=2, sandbox=True)
    return tmp / "course", results


def test_the_wrong_answer_scores_some_but_not_all_points(run):
    r = run[1]["wrong-baseline"]
    assert r.status == "graded", (r.reason, r.findings)
    assert 0 < r.score < r.max_score, r.cells  # 2 / 10: room to gain, and points a forgery could keep


def test_honest_learner_in_the_same_run_gets_full_marks(run):
    r = run[1]["honest"]
    assert r.status == "graded" and r.score == r.max_score == 10, (r.status, r.reason, r.cells)


def test_there_are_at_least_twenty_attacks():
    assert len(ATTACKS) >= 20


# Proof that an attack really took hold (else its row above would prove nothing): the verdict
# of the first graded cell, whose wrong answer alone is "2 of 4 off".
TOOK_EFFECT = {
    "did not run (no observations": [
        "ast-transformer-drops-emit",
        "input-transformer-attribute",
        "input-transformer-dict",
        "input-transformer-exec",
        "input-transformer-setattr",
        "probe-emit-suppressed",
    ],
    "(4 of 4 off": [
        "ast-transformer-forges",
        "display-publisher-rewrites-records",
        "input-transformer-getattr",
        "sys-modules-probe",
        "patched-tensor-methods",
        "probe-records-right-shape-wrong-values",
    ],
    "more than one observation record": ["event-hook-adds-forged-record", "forged-record-from-learner-fn"],
}


@pytest.mark.parametrize("words, attack", [(w, a) for w, names in TOOK_EFFECT.items() for a in names])
def test_attack_took_hold_of_the_kernel(run, words, attack):
    root = run[0]
    nb = nbformat.read(root / "autograded" / attack / A / f"{A}.ipynb", as_version=4)
    verdicts = [c.metadata["course_judge"]["message"] for c in nb.cells if "course_judge" in c.metadata]
    assert words in verdicts[0], verdicts


def test_a_kernel_killed_after_the_probe_fails_the_submission(run):
    r = run[1]["kernel-exits-after-probe"]
    assert r.status == "failed" and "kernel died" in r.reason, r


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_gains_nothing_on_any_cell(run, attack):
    base, r = run[1]["wrong-baseline"], run[1][attack]
    if r.status == "failed":  # e.g. the kernel died: reported as such, never as a grade
        assert r.score is None and r.reason, r
        return
    assert r.score <= base.score, (attack, r.cells, base.cells)
    for gid, (score, _) in r.cells.items():
        assert score <= base.cells[gid][0], (attack, gid, r.cells, base.cells)


def _hidden_literals(submitted: nbformat.NotebookNode) -> set[str]:
    """Literals of lesson 01's hidden probes (numbers and strings) and judgements (numbers: the
    judges' strings are the messages learners are meant to read) that the learner never saw."""
    from course_utils.build.authoring import parse_source
    from course_utils.grading.course import REPO_ROOT

    shown = "\n".join(c.source for nb in (student_notebook(A), submitted) for c in nb.cells)
    ids = {(c.metadata.get("nbgrader") or {}).get("grade_id") for c in student_notebook(A).cells}
    out = set()
    for cell in parse_source((REPO_ROOT / "authoring" / f"{A}.py").read_text()):
        if cell.kind in ("judge", "judgelib"):
            src, kinds = cell.source, (int, float)
        elif cell.kind == "tests" and "### BEGIN HIDDEN TESTS" in cell.source:
            src = cell.source.split("### BEGIN HIDDEN TESTS", 1)[1].split("### END HIDDEN TESTS")[0]
            kinds = (int, float, str)
        else:
            continue
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Constant) and isinstance(node.value, kinds) and not isinstance(node.value, bool):
                text = node.value if isinstance(node.value, str) else repr(node.value)
                if len(text) >= 6 and text not in shown and text not in ids:
                    out.add(text)
    return out


def _probe_lines() -> set[str]:
    lines = set()
    for cell in solution_notebook(A).cells:
        if "### BEGIN HIDDEN TESTS" in cell.source:
            hidden = cell.source.split("### BEGIN HIDDEN TESTS", 1)[1].split("### END HIDDEN TESTS")[0]
            lines |= {ln.strip() for ln in hidden.splitlines() if len(ln.strip()) >= 8}
    return lines


def test_history_attack_feedback_holds_no_probe_line_and_no_hidden_literal(run, tmp_path):
    from course_utils.grading.feedback import write_feedback

    root, results = run
    r = results["history"]
    assert r.status in ("graded", "flagged"), r.reason
    autograded = root / "autograded" / "history" / A / f"{A}.ipynb"
    executed = nbformat.read(autograded, as_version=4)
    printed = "".join(o.get("text", "") for o in executed.cells[-1].get("outputs", []))
    assert "Probe(" in printed, "the attack should have captured the probes (else this test proves nothing)"
    history = printed.split("\n")[:2]  # In's and _ih's cells that mention a probe: one line each
    assert history == ["[]", "[]"], "probes must not enter IPython's In history"
    html = write_feedback(
        autograded, root / "build" / "grading" / "release" / A / f"{A}.ipynb", r.cells, tmp_path / "feedback.html"
    ).read_text()
    submitted = nbformat.read(root / "submitted" / "history" / A / f"{A}.ipynb", as_version=4)
    literals, lines = _hidden_literals(submitted), _probe_lines()
    assert len(literals) >= 10 and len(lines) >= 10
    import html as _html

    text = _html.unescape(re.sub(r"<[^>]+>", " ", html))
    assert not [ln for ln in lines if ln in text or _html.escape(ln) in html]
    assert not [lit for lit in literals if lit in text], sorted(lit for lit in literals if lit in text)[:5]
