"""Build, execute and release the course's notebooks.

Three steps, each a Makefile target:

1. ``authoring/*.py`` -> ``solutions/<a>/<a>.ipynb``: :func:`build_solutions`
   (see :mod:`course_utils.build.authoring` for the source format);
2. execute a notebook top to bottom with nbclient (https://nbclient.readthedocs.io):
   :func:`execute_notebook`, used for the committed solutions (so self-study readers
   see every plot) and by ``make demo`` / the tests on a scratch copy;
3. ``solutions/`` -> ``notebooks/``: nbgrader's ``generate_assignment`` strips
   solutions, hidden tests and outputs and locks the read-only cells:
   :func:`release`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterable

import nbformat

from course_utils.build.authoring import build_notebook
from course_utils.lessons import LESSONS, Lesson
from course_utils.grading.course import REPO_ROOT, CourseDirs, nbgrader_config

__all__ = ["build_solutions", "solution_drift", "release_drift", "execute_notebook", "release", "strip_outputs"]


def _same_cells(a: nbformat.NotebookNode, b: nbformat.NotebookNode) -> bool:
    key = lambda nb: [(c.cell_type, c.source, c.metadata.get("nbgrader")) for c in nb.cells]  # noqa: E731
    return key(a) == key(b) and a.metadata.get("kernelspec") == b.metadata.get("kernelspec")


def solution_drift(lessons: Iterable[Lesson] = LESSONS, root: Path = REPO_ROOT) -> list[str]:
    """Lessons whose committed solution notebook differs from what its source builds."""
    drifted = []
    for lesson in lessons:
        built = build_notebook(root / lesson.source, lesson.number)
        path = root / lesson.solution
        if not path.exists() or not _same_cells(built, nbformat.read(path, as_version=4)):
            drifted.append(lesson.assignment)
    return drifted


def build_solutions(lessons: Iterable[Lesson] = LESSONS, root: Path = REPO_ROOT) -> list[Path]:
    """Write each lesson's solution notebook from its source; return those that changed.

    A notebook whose cells are unchanged is left alone, so its executed outputs stay.
    """
    changed = []
    for lesson in lessons:
        built = build_notebook(root / lesson.source, lesson.number)
        path = root / lesson.solution
        if path.exists() and _same_cells(built, nbformat.read(path, as_version=4)):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(built, path)
        changed.append(path)
    return changed


def strip_outputs(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove outputs and execution counts (in place) and return the notebook."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


def execute_notebook(
    src: Path, dst: Path | None = None, *, timeout_s: int = 600, env: dict | None = None, cwd: Path | None = None
) -> tuple[nbformat.NotebookNode, float]:
    """Execute ``src`` top to bottom on a fresh kernel; write it to ``dst`` if given.

    The kernel talks over Unix sockets (ipc transport) and runs with ``COURSE_NO_WIDGETS=1``
    (nothing renders widgets here); ``env`` adds or overrides variables of the kernel's
    environment (this process's own environment is left unchanged).
    Raises ``nbclient.exceptions.CellExecutionError`` on the first failing cell.
    Returns the executed notebook and the wall time in seconds.
    """
    from nbclient import NotebookClient
    from traitlets.config import Config

    nb = nbformat.read(src, as_version=4)
    # A headless execution has no widget frontend: explorers and progress bars take their
    # static / line-by-line form (course_utils.widgets, course_utils.progress).
    # jupyter_client's provisioner starts the kernel with exactly the `env` it is given
    # (KernelProvisionerBase.pre_launch: kwargs.pop("env", os.environ)): pass a full copy.
    kernel_env = {**os.environ, "COURSE_NO_WIDGETS": "1", **(env or {})}
    sockets = tempfile.mkdtemp(prefix="course-kernel-")
    try:
        # The kernel is local: its channels are Unix sockets in a private folder (jupyter_client's
        # "ipc" transport), not loopback TCP ports, so ipykernel has nothing to warn about.
        ipc = Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(sockets, "kernel")}})
        start = time.perf_counter()
        client = NotebookClient(
            nb,
            timeout=timeout_s,
            kernel_name="python3",
            config=ipc,
            resources={"metadata": {"path": str(cwd or Path(src).parent)}},
        )
        client.execute(env=kernel_env)
        elapsed = time.perf_counter() - start
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
    if dst is not None:
        Path(dst).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, dst)
    return nb, elapsed


def release(dirs: CourseDirs, assignments: Iterable[str]) -> None:
    """Run nbgrader's generate_assignment for each assignment (source -> release + gradebook)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    cfg = nbgrader_config(dirs)
    api = NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)
    for assignment in assignments:
        result = api.generate_assignment(assignment, force=True, create=True)
        if not result["success"]:
            raise RuntimeError(f"nbgrader could not generate {assignment}:\n{result.get('error') or result.get('log')}")


def release_drift(lessons: Iterable[Lesson] = LESSONS) -> list[str]:
    """Lessons whose committed student notebook differs from a fresh generate_assignment."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shutil.copytree(REPO_ROOT / "solutions", tmp / "solutions")
        dirs = CourseDirs(root=tmp, db_url=f"sqlite:///{tmp / 'gb.db'}")
        lessons = list(lessons)
        release(dirs, [l.assignment for l in lessons])
        drift = []
        for lesson in lessons:
            fresh = (tmp / lesson.student).read_text()
            committed = REPO_ROOT / lesson.student
            if not committed.exists() or committed.read_text() != fresh:
                drift.append(lesson.assignment)
        return drift


def judgement_problems(lessons: Iterable[Lesson] = LESSONS, root: Path = REPO_ROOT) -> list[str]:
    """What keeps each graded test cell from being judged outside the kernel (empty: nothing).

    Every graded test cell needs a hidden probe that records for its own id (``Probe("ID")``),
    with no assertion of its own (judging happens outside the kernel), and exactly one
    ``[judge] id=ID`` block; every judge block needs its test cell.
    """
    import ast

    from course_utils.build.authoring import parse_source
    from course_utils.grading.judge import load_judgements

    problems = []
    for lesson in lessons:
        src = Path(root) / lesson.source
        try:
            judges = load_judgements(src)
        except (ValueError, SyntaxError) as exc:
            problems.append(f"{lesson.source}: {exc}")
            continue
        tests = {c.attrs.get("id"): c.source for c in parse_source(src.read_text()) if c.kind == "tests"}
        for gid, body in tests.items():
            where = f"{lesson.source} [tests] id={gid}"
            hidden = (
                body.split("### BEGIN HIDDEN TESTS", 1)[1].split("### END HIDDEN TESTS", 1)[0]
                if "### BEGIN HIDDEN TESTS" in body
                else ""
            )
            if not hidden:
                problems.append(f"{where}: no hidden probe (### BEGIN HIDDEN TESTS)")
            elif f'Probe("{gid}")' not in hidden:
                problems.append(f'{where}: the probe must record for its own cell: Probe("{gid}")')
            elif any(isinstance(n, ast.Assert) for n in ast.walk(ast.parse(hidden))):
                problems.append(f"{where}: the hidden probe asserts; judging belongs in its [judge] block")
            if gid not in judges:
                problems.append(f"{where}: no [judge] id={gid} block")
        problems += [
            f"{lesson.source} [judge] id={gid}: no [tests] cell with that id" for gid in judges if gid not in tests
        ]
    return problems
