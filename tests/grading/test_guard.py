"""Hidden tests built on course_utils.grading.guard fail when learner code tampers with the kernel.

One notebook, one kernel (nbclient, no sandbox needed): an honest solution passes both a
naive hidden test and a guarded one; then, for each cheat, a wrong solution plus the cheat
passes the naive test (the attack is real) while the guarded test raises, and a scaffold
cell undoes the cheat before the next one.
"""

from __future__ import annotations

import math
import re

import nbformat
import pytest
import torch

from course_utils.grading import guard

T, D = [0, 1, 10], 4
EXPECTED = [
    [
        round(v, 7)
        for v in [math.sin(t * 10000 ** (-i / 2)) for i in range(2)]
        + [math.cos(t * 10000 ** (-i / 2)) for i in range(2)]
    ]
    for t in T
]

SETUP = f"""
import torch, numpy as np
from course_utils.grading import guard as _guard
_guard.snapshot()
EXPECTED = {EXPECTED!r}
_ORIG = dict(allclose=torch.allclose, assert_allclose=np.testing.assert_allclose)
class AnyList(list):
    def __eq__(self, other):
        return True
"""
HONEST = """
def sinusoidal_embedding(t, d_emb):
    half = d_emb // 2
    freqs = torch.exp(-torch.arange(half, dtype=torch.float64) / half * torch.log(torch.tensor(10000.0, dtype=torch.float64)))
    angles = t.to(torch.float64)[:, None] * freqs[None]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1).float()
"""
WRONG = """
def sinusoidal_embedding(t, d_emb):
    return torch.zeros(len(t), d_emb)
"""
PLOTS = """
%matplotlib inline
import matplotlib.pyplot as plt
plt.plot(sinusoidal_embedding(torch.arange(5), 4).numpy()); plt.show()
"""
NAIVE = """
_out = sinusoidal_embedding(torch.tensor([0, 1, 10]), 4)
assert torch.allclose(_out, torch.tensor(EXPECTED), atol=1e-4)
"""
GUARDED = """
_guard.verify()
_out = sinusoidal_embedding(torch.tensor([0, 1, 10]), 4)
_guard.assert_shape(_out, (3, 4), "the embedding")
_guard.assert_dtype(_out, torch.float32, "the embedding")
_guard.assert_close_literal(_out, EXPECTED, atol=1e-4, name="the embedding")
"""
CLEAN = "\nassert not _guard.changes(), _guard.changes()"

# name: (cheat installed after the wrong solution, a naive test it defeats, undo)
CHEATS = {
    "torch.allclose": ("torch.allclose = lambda *a, **k: True", NAIVE, "torch.allclose = _ORIG['allclose']"),
    "numpy.testing": (
        "np.testing.assert_allclose = lambda *a, **k: None",
        "np.testing.assert_allclose(np.asarray(sinusoidal_embedding(torch.tensor([0, 1, 10]), 4)), EXPECTED)",
        "np.testing.assert_allclose = _ORIG['assert_allclose']",
    ),
    "Tensor.tolist": (
        "torch.Tensor.tolist = lambda self: AnyList()",
        "assert sinusoidal_embedding(torch.tensor([0, 1, 10]), 4).tolist() == EXPECTED",
        "del torch.Tensor.tolist",
    ),
    "Tensor.__eq__": (
        "torch.Tensor.__eq__ = lambda a, b: torch.ones((), dtype=torch.bool)",
        "assert (sinusoidal_embedding(torch.tensor([0, 1, 10]), 4) == torch.tensor(EXPECTED)).all()",
        "del torch.Tensor.__eq__",
    ),
    "ast transformer": (
        "import ast\n"
        "class _NoAssert(ast.NodeTransformer):\n"
        "    def visit_Assert(self, node):\n"
        "        return ast.Pass()\n"
        "_t = _NoAssert()\nget_ipython().ast_transformers.append(_t)",
        NAIVE,
        "get_ipython().ast_transformers.remove(_t)",
    ),
    "input transformer": (
        "def _weaken(lines):\n"
        "    return [l.replace('assert ', 'assert True or ') for l in lines]\n"
        "get_ipython().input_transformers_cleanup.append(_weaken)",
        NAIVE,
        "get_ipython().input_transformers_cleanup.remove(_weaken)",
    ),
    "pre_run_cell hook": (
        "def _hook(info):\n"
        "    if 'verify' in info.raw_cell:\n"  # hide the patch from the checker
        "        torch.allclose = _ORIG['allclose']\n"
        "    else:\n"
        "        torch.allclose = lambda *a, **k: True\n"
        "get_ipython().events.register('pre_run_cell', _hook)",
        NAIVE,
        "get_ipython().events.unregister('pre_run_cell', _hook)\ntorch.allclose = _ORIG['allclose']",
    ),
    "tensor subclass": (
        "class _Fake(torch.Tensor):\n"
        "    def tolist(self):\n"
        "        return AnyList()\n"
        "def sinusoidal_embedding(t, d_emb):\n"
        "    return torch.zeros(len(t), d_emb).as_subclass(_Fake)",
        "assert sinusoidal_embedding(torch.tensor([0, 1, 10]), 4).tolist() == EXPECTED",
        WRONG,
    ),
    "torch function mode": (
        "from torch.overrides import TorchFunctionMode\n"
        "class _Yes(TorchFunctionMode):\n"
        "    def __torch_function__(self, func, types, args=(), kwargs=None):\n"
        "        if func is torch.allclose:\n"
        "            return True\n"
        "        return func(*args, **(kwargs or {}))\n"
        "_m = _Yes()\n_m.__enter__()",
        NAIVE,
        "_m.__exit__(None, None, None)",
    ),
    "builtins.abs": (
        "import builtins\nbuiltins.abs = lambda x: 0.0",
        "_flat = sum(sinusoidal_embedding(torch.tensor([0, 1, 10]), 4).tolist(), [])\n"
        "assert max(abs(a - b) for a, b in zip(_flat, sum(EXPECTED, []))) < 1e-4",
        "builtins.abs = _abs",
    ),
}


def _cell(src: str, role: str, scenario: str = ""):
    cell = nbformat.v4.new_code_cell(src)
    cell.metadata["test"] = {"role": role, "scenario": scenario}
    return cell


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cells = [
        _cell(SETUP + "_abs = abs", "setup"),
        _cell(HONEST, "learner", "honest"),
        _cell(PLOTS, "learner", "honest"),
        _cell(NAIVE, "naive", "honest"),
        _cell(GUARDED, "guarded", "honest"),
        _cell(WRONG, "learner", "wrong"),
        _cell(GUARDED, "guarded", "wrong"),
    ]
    for name, (cheat, naive, undo) in CHEATS.items():
        cells += [
            _cell(cheat, "cheat", name),
            _cell(naive, "naive", name),
            _cell(GUARDED, "guarded", name),
            _cell(undo + CLEAN, "undo", name),
        ]
    nb.cells = cells
    NotebookClient(
        nb, timeout=30, allow_errors=True, resources={"metadata": {"path": str(tmp_path_factory.mktemp("guard"))}}
    ).execute()
    return nb


def _error(nb, role: str, scenario: str) -> str | None:
    """'ename: evalue' of the matching cell's error, or None when it ran cleanly."""
    for cell in nb.cells:
        if cell.metadata["test"] == {"role": role, "scenario": scenario}:
            errs = [o for o in cell.outputs if o.output_type == "error"]
            return f"{errs[0].ename}: {errs[0].evalue}" if errs else None
    raise KeyError((role, scenario))


def test_scaffolding_ran_cleanly(executed):
    broken = [
        (c.metadata["test"], _error(executed, **c.metadata["test"]))
        for c in executed.cells
        if c.metadata["test"]["role"] in {"setup", "learner", "cheat", "undo"}
        and _error(executed, **c.metadata["test"])
    ]
    assert not broken


def test_honest_solution_passes_with_plots_and_inline_backend(executed):
    assert _error(executed, "naive", "honest") is None
    assert _error(executed, "guarded", "honest") is None


def test_wrong_solution_fails_without_revealing_expected_values(executed):
    err = _error(executed, "guarded", "wrong")
    # the only numbers: where, how many, the worst error (2 digits) and the tolerances
    assert re.fullmatch(
        r"AssertionError: the embedding: values differ from the expected ones at row \d "
        r"\(\d+ of 12 off; max error [0-9.e+-]+; atol 0\.0001, rtol 0\)",
        err,
    ), err


@pytest.mark.parametrize("scenario", list(CHEATS))
def test_cheat_fools_a_naive_test_but_not_the_guarded_one(executed, scenario):
    assert _error(executed, "naive", scenario) is None, "the cheat should defeat the naive test"
    err = _error(executed, "guarded", scenario)
    assert err is not None and err.startswith("AssertionError: ")
    if scenario == "tensor subclass":
        assert "exactly that type" in err
    else:
        assert "grading environment was modified" in err


def test_helpers_in_process():
    guard.snapshot()
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    guard.assert_close_literal(x, [[1.0, 2.0], [3.0, 4.00001]])
    guard.assert_shape(x, (None, 2))
    guard.assert_dtype(x, torch.float32)
    assert guard.tensor_to_floats(torch.tensor([1, 2])) == [1.0, 2.0]
    assert guard.count_parameters(torch.nn.Linear(256, 512)) == 256 * 512 + 512
    with pytest.raises(AssertionError, match=r"shape \(2, 2\) but should have shape \(3,\)"):
        guard.assert_shape(x, (3,))
    with pytest.raises(AssertionError, match="dtype torch.float32 but should have dtype torch.float64"):
        guard.assert_dtype(x, torch.float64)
    with pytest.raises(AssertionError, match="exactly that type"):
        guard.assert_close_literal(torch.nn.Parameter(x), [[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(AssertionError, match="not finite"):
        guard.assert_close_literal(x * float("nan"), [[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(AssertionError, match=r"at index \(1, 0, 1\)"):
        guard.assert_close_literal(torch.zeros(2, 2, 2), [[[0.0] * 2] * 2, [[0.0, 5.0], [0.0, 0.0]]])
    with pytest.raises(ValueError):
        guard.assert_close_literal(x, [[1.0]], atol=-1)
    assert guard.changes() == []
