"""The integrity scan flags tampering in editable cells and stays quiet on ordinary lesson code."""

from __future__ import annotations

import nbformat
import pytest

from course_utils.grading.integrity import (
    RULES,
    Finding,
    course_code,
    locked_grade_ids,
    scan_notebook,
    scan_source,
    summarize,
)

# source -> the rule it must raise
SUSPICIOUS = {
    "torch.allclose = lambda *a, **k: True": "monkeypatch",
    "import torch as T\nT.isclose = lambda *a, **k: True": "monkeypatch",
    "import numpy as np\nnp.testing.assert_allclose = lambda *a, **k: None": "monkeypatch",
    "import numpy.testing as npt\nnpt.assert_allclose = print": "monkeypatch",
    "setattr(torch, 'allclose', f)": "monkeypatch",
    "from torch import Tensor\nTensor.__eq__ = lambda a, b: True": "monkeypatch",
    "torch.Tensor.tolist = fake": "monkeypatch",
    "import builtins\nbuiltins.isinstance = lambda *a: True": "monkeypatch",
    "__builtins__.len = lambda x: 3": "monkeypatch",
    "import course_utils\ncourse_utils.grading = None": "monkeypatch",
    "import math\ndel math.isclose": "monkeypatch",
    "def isinstance(a, b):\n    return True": "shadow",
    "torch = FakeTorch()": "shadow",
    "get_ipython().ast_transformers.append(NoAsserts())": "ipython-hooks",
    "ip = get_ipython()\nip.input_transformers_post.append(f)": "ipython-hooks",
    "get_ipython().input_transformers_cleanup.insert(0, f)": "ipython-hooks",
    "get_ipython().events.register('pre_run_cell', hook)": "ipython-hooks",
    "get_ipython().register_magic_function(f)": "ipython-hooks",
    "get_ipython().set_custom_exc((AssertionError,), handler)": "ipython-hooks",
    "get_ipython().run_cell = lambda *a, **k: None": "ipython-hooks",
    "shell.run_line_magic = f": "ipython-hooks",
    "class T(torch.Tensor):\n    @classmethod\n    def __torch_function__(cls, f, t, a=(), k=None):\n        return True": "torch-function",
    "import sqlite3\nsqlite3.connect('x.db')": "gradebook",
    "from sqlalchemy import create_engine": "gradebook",
    "path = 'gradebook.db'": "gradebook",
    "import os\nos._exit(0)": "exit-signal",
    "import sys\nsys.exit()": "exit-signal",
    "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)": "exit-signal",
    "import signal\nsignal.signal(signal.SIGALRM, h)": "exit-signal",
    "import importlib, course_utils\nimportlib.reload(course_utils)": "import-system",
    "import sys\nsys.modules['torch'] = fake": "import-system",
    "import sys\ndel sys.modules['course_utils.grading.guard']": "import-system",
    "import sys\nsys.path.insert(0, '.')": "import-system",
    "import sys\nsys.meta_path.insert(0, Finder())": "import-system",
    "data = open('../../gradebook.db').read()": "file-read",
    "open('/work/main/solutions/01.ipynb')": "file-read",
    "open(some_path)": "file-read",
    "import os\nos.listdir('../other-learner')": "path-escape",
    "p = '/home/instructor/course'": "path-escape",
    "p = '~/.ssh/id_rsa'": "path-escape",
    "p = 'autograded/alice/01'": "path-escape",
    "p = 'solutions/01_sinusoidal_embedding/01_sinusoidal_embedding.ipynb'": "path-escape",
    "import os\nos.path.expanduser('~')": "path-escape",
    "import subprocess\nsubprocess.run(['ls'])": "process",
    "import os\nos.system('cat /etc/passwd')": "process",
    "import pty": "process",
    "import socket\nsocket.create_connection(('10.0.0.1', 80))": "process",
    "get_ipython().system('ls')": "process",
    "!cat ../../gradebook.db": "process",
    "files = !ls /work": "process",
    "import ctypes": "introspection",
    "import gc\nobjs = gc.get_objects()": "introspection",
    "import sys\nframe = sys._getframe(1)": "introspection",
    "import sys\nsys.settrace(tracer)": "introspection",
    "from course_utils.reference import sinusoidal_embedding": "reference-import",
    "from course_utils import reference": "reference-import",
    "import course_utils.components.film as f": "reference-import",
    "from course_utils.components.adagn import AdaGN": "reference-import",
    "from course_utils.components.timestep_mlp import *": "reference-import",
    "import importlib\nm = importlib.import_module('course_utils.components.sinusoidal')": "reference-import",
    "from course_utils.unets import UNetSinusoidal": "reference-import",  # an old name (course_utils.moved)
    "from course_utils import film": "reference-import",
    "from course_utils import components": "reference-import",
    "from course_utils.components import score2d": "reference-import",
    "from course_utils.diffusion.vpsde import reverse_sde_step": "reference-import",
    "from course_utils.components import sinusoidal\nthis is not python(": "reference-import",
    "%%writefile course_utils.py\nx = 1": "magic",
    "%%bash\nrm -rf /": "magic",
    "%load_ext autoreload": "magic",
    "%run ../solutions/answer.py": "magic",
    # cells that do not parse fall back to line patterns
    "torch.allclose = lambda *a: True\nthis is not python(": "monkeypatch",
    "%time x = 1\nget_ipython().ast_transformers.append(t) +": "ipython-hooks",
}

BENIGN = [
    "from course_utils.components.time_checks import output_change_with_t",  # a check, not a solution
    "from course_utils.diffusion.ddpm import DDPMSchedule",
    "import course_utils",
    "y = torch.sin(x)",
    "print(x.shape)",
    "z = np.zeros((3, 4))",
    "import torch.nn as nn\nimport torch.nn.functional as F",
    "class AdaGN(nn.Module):\n    def __init__(self, c, d, groups=32):\n        super().__init__()\n"
    "        self.norm = nn.GroupNorm(groups, c, affine=False)\n        self.proj = nn.Linear(d, 2 * c)\n"
    "    def forward(self, h, t_emb):\n        gamma, beta = self.proj(t_emb).chunk(2, dim=-1)\n"
    "        return (1 + gamma[:, :, None, None]) * self.norm(h) + beta[:, :, None, None]",
    "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 2])\nplt.show()",
    "%matplotlib inline\nx = torch.linspace(0, 1, 5)",
    "%%time\nloss = ((model(x) - y) ** 2).mean()",
    "torch.manual_seed(0)\nnp.random.seed(0)",
    "torch.backends.cudnn.deterministic = True",
    "model.weight.data = torch.zeros(3)\nself_x = x.clone()",
    "half = d_emb // 2\nfreqs = torch.exp(-math.log(10000) * torch.arange(half) / half)",
    "emb = torch.cat([torch.sin(a), torch.cos(a)], dim=-1)\nif d_emb % 2:\n    emb = F.pad(emb, (0, 1))",
    "msg = ('%d of %d'\n       % (1, 2))",
    "results = {'loss': 0.1}\nwith open('results.json', 'w') as f:\n    json.dump(results, f)",
    "data = open('my_data.txt').read()",
    "def sinusoidal_embedding(t, d_emb):\n    '''Embed t; see the lesson.'''\n    return t",
    "for i in range(3):\n    total = sum([i, 1])",
    "x = 1 +",  # a learner's syntax error is not tampering
]


@pytest.mark.parametrize("src,rule", list(SUSPICIOUS.items()))
def test_suspicious_code_is_flagged(src, rule):
    rules = {r for _, r, _ in scan_source(src)}
    assert rule in rules, (src, scan_source(src))


@pytest.mark.parametrize("src", BENIGN)
def test_ordinary_lesson_code_is_not_flagged(src):
    assert scan_source(src) == []


def _nb(cells):
    nb = nbformat.v4.new_notebook()
    for src, meta in cells:
        cell = nbformat.v4.new_code_cell(src)
        if meta:
            cell.metadata["nbgrader"] = meta
        nb.cells.append(cell)
    return nb


LOCKED = {"grade": False, "solution": False, "locked": True, "grade_id": "setup", "schema_version": 3}
TESTS = {
    "grade": True,
    "solution": False,
    "locked": True,
    "grade_id": "tests-embedding",
    "points": 2,
    "schema_version": 3,
}
SOLUTION = {"grade": False, "solution": True, "locked": False, "grade_id": "embedding", "schema_version": 3}


def test_notebook_scan_covers_editable_cells_only():
    nb = _nb(
        [
            ("from course_utils.grading import guard as _g\nimport sqlite3  # locked: restored by nbgrader", LOCKED),
            ("def f(x):\n    return x\ntorch.allclose = lambda *a, **k: True", SOLUTION),
            ("import os\nos._exit(0)", TESTS),  # a grade cell is overwritten from the gradebook
            ("_g = None", None),  # a cell the learner added
        ]
    )
    found = scan_notebook(nb)
    assert [(f.cell_index, f.grade_id, f.line, f.rule) for f in found] == [
        (1, "embedding", 3, "monkeypatch"),
        (3, None, 1, "shadow"),
    ]
    assert found[0].snippet == "torch.allclose = lambda *a, **k: True"
    assert isinstance(found[0], Finding) and found[0].rule in RULES


def test_fake_locked_metadata_does_not_hide_code_when_the_release_is_known():
    release = _nb([("x = 1", LOCKED), ("raise NotImplementedError()", SOLUTION), ("check()", TESTS)])
    fake = dict(LOCKED, grade_id="looks-locked")
    submission = _nb([("x = 1", LOCKED), ("torch.allclose = f", fake)])
    assert scan_notebook(submission) == []  # trusting metadata alone is fooled ...
    found = scan_notebook(submission, locked_ids=locked_grade_ids(release))  # ... the release is not
    assert [(f.cell_index, f.rule) for f in found] == [(1, "monkeypatch")]


def test_course_code_as_released_is_not_the_learners_but_any_edit_is():
    demo = "from course_utils.diffusion.vpsde import sample_reverse_sde\nsamples = sample_reverse_sde(model, sde, 500)"
    release = _nb([("x = 1", LOCKED), ("raise NotImplementedError()", SOLUTION), (demo, None)])
    as_given = _nb([("x = 1", LOCKED), ("def answer():\n    return 1", SOLUTION), (demo, None)])
    assert scan_notebook(as_given) != []  # without the release, the demo cell looks like a cheat ...
    assert scan_notebook(as_given, locked_ids=locked_grade_ids(release), course_sources=course_code(release)) == []
    edited = _nb(
        [
            ("x = 1", LOCKED),
            ("def answer():\n    return 1", SOLUTION),
            (demo + "\nfrom course_utils.diffusion.vpsde import dsm_loss", None),
        ]
    )
    found = scan_notebook(edited, locked_ids=locked_grade_ids(release), course_sources=course_code(release))
    # ... an edited one is scanned whole: both of its imports are reported
    assert [(f.cell_index, f.line, f.rule) for f in found] == [(2, 1, "reference-import"), (2, 3, "reference-import")]
    moved = _nb(
        [
            ("x = 1", LOCKED),
            ("from course_utils.diffusion.vpsde import dsm_loss\n" + "raise NotImplementedError()", SOLUTION),
            (demo, None),
        ]
    )
    found = scan_notebook(moved, locked_ids=locked_grade_ids(release), course_sources=course_code(release))
    assert [(f.cell_index, f.rule) for f in found] == [(1, "reference-import")]


def test_summary_lists_findings_for_review():
    assert summarize([]) == "integrity scan: nothing to review"
    nb = _nb([("import subprocess\ntorch.allclose = f", SOLUTION)])
    text = summarize(scan_notebook(nb))
    assert text.splitlines()[0].startswith("integrity scan: 2 finding(s) to review (not penalised")
    assert "cell 0 (embedding), line 2: [monkeypatch] replaces torch.allclose: torch.allclose = f" in text


def test_scan_needs_a_notebook():
    with pytest.raises(TypeError, match="nbformat.read"):
        scan_notebook("torch.allclose = f")
