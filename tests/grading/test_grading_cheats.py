"""Cheats submitted through the real pipeline (sandbox on) gain nothing and harm no one.

Every cheat below comes with a wrong answer (zeros of the right shape) that scores 0
honestly; the cheat must not raise that score, must be flagged for review, and must
not change the honest learner's grade in the same run. Spy cells try to read another
learner's file, the hidden tests and the gradebook; all of it must be denied.
"""

import os
import shutil

import nbformat
import pytest

from gradekit import grade, solution_source, with_answers

A = "01_sinusoidal_embedding"
ID = "sinusoidal_impl"
WRONG = (
    "def sinusoidal_embedding(t, d_emb=256):\n    return torch.zeros(len(t) if hasattr(t, '__len__') else 1, d_emb)\n"
)

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="the sandbox needs root and util-linux setpriv"
)

CHEATS = {
    "allclose-always-true": "torch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True",
    "numpy-testing-noop": "import numpy as np\nnp.testing.assert_allclose = lambda *a, **k: None",
    "tensor-tolist-patched": "torch.Tensor.tolist = lambda self: [[0.0] * 8] * 4",
    "ast-transformer-drops-asserts": (
        "import ast\nclass _Drop(ast.NodeTransformer):\n"
        "    def visit_Assert(self, node):\n        return ast.Pass()\n"
        "get_ipython().ast_transformers.append(_Drop())"
    ),
    "input-transformer-empties-cells": (
        "def _empty(lines):\n    return ['pass\\n']\nget_ipython().input_transformers_post.append(_empty)"
    ),
    # aimed at the course's real gradebook (GRADEBOOK is filled in by the fixture)
    "writes-the-gradebook": (
        "import sqlite3\n"
        "try:\n    c = sqlite3.connect(GRADEBOOK); c.execute('update grade set manual_score = 10'); c.commit()\n"
        "except Exception:\n    pass"
    ),
}


def _spy(paths):
    lines = [
        "import os",
        "for _p in %r:" % (paths,),
        "    try:",
        "        open(_p, 'rb').read(1)",
        "        print('LEAKED', _p)",
        "    except Exception as _e:",
        "        print('DENIED', type(_e).__name__)",
    ]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cheats")
    root = tmp / "course"
    honest = with_answers(A, {ID: solution_source(A, ID)})
    subs = {"honest": honest, "wrong-baseline": with_answers(A, {ID: WRONG})}
    for name, code in CHEATS.items():
        code = code.replace("GRADEBOOK", repr(str(root / "gradebook.db")))
        subs[name] = with_answers(A, {ID: WRONG + "\n" + code})
    secrets = [
        str(root / "submitted" / "honest" / A / f"{A}.ipynb"),
        str(root / "solutions" / A / f"{A}.ipynb"),
        str(root / "gradebook.db"),
        str(root / "autograded" / "honest" / A / f"{A}.ipynb"),
    ]
    subs["spy"] = with_answers(A, {ID: solution_source(A, ID) + "\n" + _spy(secrets)})
    first = grade(tmp, A, {"honest": honest}, jobs=1, sandbox=True)  # the honest grade exists first
    results = grade(tmp, A, {k: v for k, v in subs.items() if k != "honest"}, jobs=2, sandbox=True)
    return root, first, results


def test_wrong_answer_scores_zero_honestly(run):
    assert run[2]["wrong-baseline"].score == 0


@pytest.mark.parametrize("cheat", sorted(CHEATS))
def test_cheat_gains_no_points_and_is_flagged(run, cheat):
    r = run[2][cheat]
    assert r.status == "flagged", (r.status, r.reason, r.findings)
    assert r.score == 0, r.cells


def test_honest_learner_grade_is_unchanged(run):
    from course_utils.grading.autograde import read_scores
    from course_utils.grading.course import CourseDirs

    root, first, _ = run
    assert first["honest"].score == 10
    score, max_score, cells = read_scores(CourseDirs(root=root), A, "honest")
    assert (score, max_score) == (10, 10) and cells == first["honest"].cells


def test_spy_cannot_read_other_learners_hidden_tests_or_gradebook(run):
    root, _, results = run
    nb = nbformat.read(root / "autograded" / "spy" / A / f"{A}.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "LEAKED" not in text and text.count("DENIED") == 4, text[-500:]
    assert results["spy"].status == "flagged"
