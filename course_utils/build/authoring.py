"""Build the nbgrader solution notebooks from their plain-text sources.

Lessons are written as percent-format Python files in ``authoring/`` (the cell
syntax of Jupytext's "percent" format, https://jupytext.readthedocs.io, with the
course's own cell kinds). This module turns one into the nbgrader *source*
notebook in ``solutions/<assignment>/<assignment>.ipynb`` with the right nbgrader
cell metadata (schema 3, see https://nbgrader.readthedocs.io "Developing
assignments"). Text sources review and diff well; the notebooks are derived.

Cell headers (one per cell, ``# %%`` at the start of a line)::

    # %% [markdown]                      markdown; each line's leading "# " is removed
    # %% [setup] needs_gpu=no            the standard setup cell (install-if-missing,
                                         seed, device), then this cell's own lines
    # %%                                 an ordinary, editable code cell
    # %% [locked] id=NAME                a read-only code cell
    # %% [solution] id=NAME              an answer cell (BEGIN/END SOLUTION markers)
    # %% [tests] id=NAME points=N        a graded, locked test cell (visible checks,
                                         then BEGIN/END HIDDEN TESTS: the probe)
    # %% [judge] id=NAME                 the judgement of test cell NAME: runs in the
                                         grading process, never in a notebook
                                         (course_utils/grading/judge.py)
    # %% [judgelib]                      helpers shared by the lesson's judgements

Judge blocks are not cells: :func:`build_notebook` leaves them out of every notebook,
so they reach neither ``solutions/`` nor ``notebooks/`` nor a learner's kernel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_utils.about import PIP_SPEC

__all__ = ["Cell", "parse_source", "build_notebook", "setup_cell_source", "solution_answer", "KERNELSPEC"]

KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
_HEADER = re.compile(r"^# %%(?:\s+\[(?P<kind>[a-z]+)\])?(?P<attrs>(?:\s+[a-z_]+=\S+)*)\s*$")
_KINDS = {"code", "markdown", "setup", "locked", "solution", "tests", "judge", "judgelib"}
_NOT_CELLS = {"judge", "judgelib"}  # grading-process code, never in a notebook


@dataclass
class Cell:
    kind: str
    attrs: dict
    source: str


def setup_cell_source(lesson: str, needs_gpu: str, extra: str = "") -> str:
    """The first code cell of every notebook; the package URL comes from ``course_utils/about.py``."""
    head = f'''# Setup: run this cell first. It installs the course helpers when they are missing
# (on Colab), seeds every random generator, picks the device and says what it found,
# and whether the kernel must be restarted.
import importlib.util, subprocess, sys
if importlib.util.find_spec("course_utils") is None:
    print("Installing the course helpers (course_utils), about 30 s ...", flush=True)
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "{PIP_SPEC}"])
    importlib.invalidate_caches()
from course_utils.grading import guard as _guard
_guard.snapshot()  # records the grading environment before any of your code runs
from course_utils.runtime import setup_lesson
RUN = setup_lesson(lesson="{lesson}", needs_gpu="{needs_gpu}", seed=0)
device = RUN.device'''
    return head + ("\n" + extra if extra.strip() else "")


def _parse_attrs(text: str) -> dict:
    attrs = {}
    for item in text.split():
        key, _, value = item.partition("=")
        attrs[key] = value
    return attrs


def parse_source(text: str) -> list[Cell]:
    """Split a percent-format lesson source into cells."""
    cells: list[Cell] = []
    current: Cell | None = None
    lines: list[str] = []

    def flush():
        if current is not None:
            body = "\n".join(lines).strip("\n")
            if current.kind == "markdown":
                body = "\n".join(re.sub(r"^# ?", "", ln) for ln in body.split("\n"))
            current.source = body
            cells.append(current)

    for lineno, line in enumerate(text.split("\n"), 1):
        if line.startswith("# %%"):
            m = _HEADER.match(line)
            if not m:
                raise ValueError(f"line {lineno}: cannot parse cell header {line!r}")
            flush()
            kind = m.group("kind") or "code"
            if kind not in _KINDS:
                raise ValueError(f"line {lineno}: unknown cell kind {kind!r}; use one of {sorted(_KINDS)}")
            current, lines = Cell(kind, _parse_attrs(m.group("attrs") or ""), ""), []
        elif current is None:
            if line.strip():
                raise ValueError(f"line {lineno}: text before the first '# %%' cell header")
        else:
            lines.append(line)
    flush()
    return cells


def _nbgrader_meta(cell: Cell) -> dict | None:
    kind, attrs = cell.kind, cell.attrs
    if kind in {"code", "markdown"}:
        return None
    grade_id = attrs.get("id", "setup" if kind == "setup" else None)
    if not grade_id:
        raise ValueError(f"a [{kind}] cell needs id=NAME")
    meta = {"grade": False, "grade_id": grade_id, "locked": True, "schema_version": 3, "solution": False, "task": False}
    if kind == "solution":
        meta.update(locked=False, solution=True)
        if "### BEGIN SOLUTION" not in cell.source:
            raise ValueError(f"solution cell {grade_id!r} has no '### BEGIN SOLUTION' marker")
    elif kind == "tests":
        meta.update(grade=True, points=int(attrs["points"]))
    return meta


def solution_answer(nb: nbformat.NotebookNode, grade_id: str) -> str:
    """The source of solution cell ``grade_id`` in ``nb`` without its BEGIN/END SOLUTION lines:
    what a learner who solved the exercise would have typed."""
    for cell in nb.cells:
        if (cell.metadata.get("nbgrader") or {}).get("grade_id") == grade_id:
            return "\n".join(
                ln for ln in cell.source.splitlines() if "### BEGIN SOLUTION" not in ln and "### END SOLUTION" not in ln
            )
    raise KeyError(f"no cell with grade_id {grade_id!r} in the notebook")


def build_notebook(source_path: Path, lesson: str) -> nbformat.NotebookNode:
    """Build the solution notebook (no outputs) for one lesson source file."""
    cells = parse_source(Path(source_path).read_text())
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": dict(KERNELSPEC),
        "language_info": {"name": "python"},
        "accelerator": "GPU"
        if any(c.kind == "setup" and c.attrs.get("needs_gpu") in {"recommended", "optional"} for c in cells)
        else "None",
    }
    ids = set()
    cells = [c for c in cells if c.kind not in _NOT_CELLS]
    for i, c in enumerate(cells):
        if c.kind == "setup":
            src = setup_cell_source(lesson, c.attrs.get("needs_gpu", "no"), c.source)
        else:
            src = c.source
        if c.kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(src)
        else:
            cell = nbformat.v4.new_code_cell(src)
        meta = _nbgrader_meta(c)
        if meta is not None:
            if meta["grade_id"] in ids:
                raise ValueError(f"duplicate cell id {meta['grade_id']!r} in {source_path}")
            ids.add(meta["grade_id"])
            cell.metadata["nbgrader"] = meta
        cell["id"] = f"c{i:03d}-{meta['grade_id'] if meta else c.kind}"[:64]
        nb.cells.append(cell)
    return nb
