"""The import paths that released notebooks use keep working.

A learner may open a notebook released in an earlier term against the newest package (the setup
cell installs the latest one on Colab), so every ``from course_utils... import ...`` in the committed
notebooks, and the public paths named below, must still resolve. A module that moves keeps a
thin re-export at its old path (e.g. ``course_utils.datafiles`` for ``course_utils.paths``).
"""

import importlib
import re

import nbformat
import pytest

from course_utils.lessons import LESSONS

# Public paths released notebooks have used, beyond what today's notebooks import.
PUBLIC = {
    "course_utils.reference": ["sinusoidal_embedding", "TimestepEmbedding", "FiLM", "AdaGN",
                               "ScoreNetworkWithFiLM", "UNetSimple", "UNetSinusoidal"],
    "course_utils.runtime": ["setup_lesson"],
    "course_utils.grading.guard": [],
    "course_utils.grading.probe": ["Probe"],
    "course_utils.grading.probe_helpers": [],
    "course_utils.datafiles": ["display_path", "shipped_dir", "data_dir"],
}
IMPORT = re.compile(r"^\s*from (course_utils[\w.]*) import \(?([\w\s,]+?)\)?\s*(?:#.*)?$", flags=re.M)


def _notebook_imports(root) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for lesson in LESSONS:
        for path in (root / lesson.student, root / lesson.solution):
            for cell in nbformat.read(path, as_version=4).cells:
                if cell.cell_type != "code":
                    continue
                for module, names in IMPORT.findall(cell.source):
                    found.setdefault(module, set()).update(
                        n.split(" as ")[0].strip() for n in names.split(",") if n.strip())
    return found


def _has(module, name: str) -> bool:
    """``from module import name`` works: an attribute, or a submodule (``from pkg import mod``)."""
    if hasattr(module, name):
        return True
    try:
        importlib.import_module(f"{module.__name__}.{name}")
    except ImportError:
        return False
    return True


def test_notebooks_import_something_this_test_can_read(repo_root):
    assert len(_notebook_imports(repo_root)) >= 10


@pytest.mark.parametrize("source", ["notebooks", "public"])
def test_every_released_import_resolves(repo_root, source):
    wanted = _notebook_imports(repo_root) if source == "notebooks" else PUBLIC
    broken = []
    for module, names in sorted(wanted.items()):
        try:
            mod = importlib.import_module(module)
        except ImportError as err:
            broken.append(f"{module}: {err}")
            continue
        broken += [f"{module}.{n}" for n in sorted(names) if not _has(mod, n)]
    assert not broken, f"released notebooks would fail on: {broken}"
