"""nbgrader's own tools (``nbgrader autograde``, ``nbgrader generate_feedback``, formgrader's
buttons) made as safe as the Makefile's, through ``nbgrader_config.py``.

nbgrader runs a learner's code with the grader's rights and renders feedback from the
autograded notebook, hidden tests included (nbgrader's FAQ, "Does nbgrader protect
against unsafe code?"; "Generating feedback"). :func:`configure_plain_nbgrader` sets, in
the configuration that nbgrader's CLI and formgrader load:

* ``Autograde.autograde_preprocessors``: the course's list (:mod:`.preprocessors`: the judge
  decides every graded cell outside the kernel) with :class:`CliSandboxedExecute`, whose
  kernels run in the course's bubblewrap sandbox (:mod:`.sandbox_kernel`), hidden from the
  course folder. Before the first kernel it runs the sandbox's preflight
  (:func:`~.sandbox_check.require_sandbox`); where the sandbox cannot work it refuses,
  naming ``make autograde``. The Makefile's path overrides this list with its own, per
  submission (:mod:`.worker`).
* ``GenerateFeedback.preprocessors``: nbgrader's ``GetGrades``, then
  :class:`CourseFeedbackView` (the course's learner view, :func:`~.feedback.learner_view`:
  hidden tests and their outputs removed, tracebacks cut), then nbgrader's CSS header;
  nbconvert's HTML sanitiser on.
* ``ExportApp.plugin_class``: :class:`~.export.CourseExportPlugin` (one grades.csv schema).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor

from course_utils.grading.sandbox_kernel import _sandboxed_execute_class

__all__ = ["CliSandboxedExecute", "CourseFeedbackView", "configure_plain_nbgrader", "SAFE_COMMAND"]

SAFE_COMMAND = "make autograde"
_PREFLIGHT: dict[str, str] = {}  # course root -> "" (passed) or why not, once per process


def _preflight(root: str) -> str:
    """Run the sandbox's preflight for the course at ``root`` once; "" when grading is safe."""
    if root not in _PREFLIGHT:
        from course_utils.grading.course import REPO_ROOT, CourseDirs
        from course_utils.grading.sandbox import SandboxUnavailable, require_sandbox

        try:
            require_sandbox(CourseDirs(root=Path(root)), [str(REPO_ROOT / "data")])
            _PREFLIGHT[root] = ""
        except SandboxUnavailable as exc:
            _PREFLIGHT[root] = "; ".join(exc.problems)
    return _PREFLIGHT[root]


class CliSandboxedExecute(_sandboxed_execute_class()):  # type: ignore[misc]
    """The course's sandboxed ``Execute`` for nbgrader's own CLI and formgrader: refuses where
    the sandbox is unavailable (the message names the safe command)."""

    def preprocess(self, nb, resources, km=None):
        import os

        root = os.path.abspath(str(self.config.CourseDirectory.get("root", ".") or "."))
        why = _preflight(root)
        if why:
            from course_utils.grading.sandbox import SandboxUnavailable

            raise SandboxUnavailable(
                f"nbgrader autograde refuses to run learner code here: the course's sandbox is "
                f"unavailable ({why}). Use `{SAFE_COMMAND}`, which checks the sandbox first and says "
                f"what to fix."
            )
        from dataclasses import replace

        from course_utils.grading.course import REPO_ROOT, CourseDirs
        from course_utils.grading.sandbox import SandboxConfig
        from course_utils.grading.sandbox_check import course_secret_paths

        # Hidden from the kernel: the repository and this course (whatever root the command
        # line gave); its secrets listed now, when nbgrader has created the autograded copy.
        base = self.config.SandboxKernelManager.get("sandbox_config") or SandboxConfig()
        self.config.SandboxKernelManager.sandbox_config = replace(
            base,
            hidden_paths=tuple(dict.fromkeys((*base.hidden_paths, str(REPO_ROOT), root))),
            secret_paths=tuple(str(p) for p in course_secret_paths(CourseDirs(root=Path(root)))),
        )
        return super().preprocess(nb, resources, km=km)


def _released(
    root: str, release_dir: str, assignment: str, notebook: str, autograded: nbformat.NotebookNode
) -> nbformat.NotebookNode:
    """The notebook as released to learners; when that file is missing, the autograded
    notebook with its hidden tests cleared by nbgrader's own ``ClearHiddenTests``."""
    path = Path(root) / release_dir / assignment / f"{notebook}.ipynb"
    if path.is_file():
        return nbformat.read(path, as_version=4)
    from nbgrader.preprocessors import ClearHiddenTests

    copy = nbformat.from_dict(autograded)
    ClearHiddenTests().preprocess(copy, {})
    return copy


class CourseFeedbackView(NbGraderPreprocessor):
    """Replace the autograded notebook by the course's learner view (see :mod:`.feedback`)."""

    def preprocess(self, nb, resources):
        from course_utils.grading.feedback import learner_view

        info = resources["nbgrader"]
        cd = self.config.CourseDirectory
        released = _released(
            str(cd.get("root", ".")),
            str(cd.get("release_directory", "release")),
            info["assignment"],
            info["notebook"],
            nb,
        )
        scores = {}
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader") or {}
            if meta.get("grade"):
                scores[meta["grade_id"]] = (float(meta.get("score") or 0.0), float(meta.get("points") or 0.0))
        return learner_view(nb, released, scores), resources


def configure_plain_nbgrader(c: Any) -> None:
    """Set the three safe paths (module doc) in the traitlets config ``c`` of ``nbgrader_config.py``."""
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades

    from course_utils.grading.course import REPO_ROOT
    from course_utils.grading.preprocessors import autograde_preprocessors
    from course_utils.grading.sandbox import SandboxConfig

    c.Autograde.autograde_preprocessors = autograde_preprocessors(CliSandboxedExecute)
    c.SandboxKernelManager.sandbox_config = SandboxConfig(
        label="nbgrader-cli", readable_paths=(str(REPO_ROOT / "data"),), hidden_paths=("/root", "/home", str(REPO_ROOT))
    )
    c.GenerateFeedback.preprocessors = [GetGrades, CourseFeedbackView, CSSHTMLHeaderPreprocessor]
    c.HTMLExporter.sanitize_html = True
    c.ExportApp.plugin_class = "course_utils.grading.export.CourseExportPlugin"
