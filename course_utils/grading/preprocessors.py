"""The course's nbgrader preprocessors: graded cells run out of history, and the judge decides.

nbgrader's autograde runs a list of preprocessors over the submission
(``Autograde.autograde_preprocessors``: Execute, ..., SaveAutoGrades; see
https://nbgrader.readthedocs.io, "Customizing autograding"). The course changes two:

* :class:`CourseExecute` is nbgrader's ``Execute``, except that graded test cells
  (the hidden probes) are sent with ``store_history=False`` (Jupyter messaging,
  "execute"), so their source never enters IPython's ``In`` / ``_ih`` history, where a
  later learner cell could print it into feedback.
* :class:`JudgeObservations` runs right after execution, in the grading process: for
  every graded test cell it reads the probe's observation record, runs the cell's
  judgement (:mod:`.judge`) and rewrites the cell's outputs to the verdict -- a clean
  pass, or one error carrying the judge's message. nbgrader's ``SaveAutoGrades`` then
  scores the cell from that alone (``nbgrader.utils.determine_grade``: an error output
  scores 0), so the gradebook, feedback and formgrader work unchanged, and nothing the
  kernel printed decides a grade. The verdict is also kept in the cell's metadata
  (``course_judge``) for the orchestrator's report.

:func:`autograde_preprocessors` is the list to configure, with the plain or sandboxed
Execute class.
"""

from __future__ import annotations

from typing import Any

import nbformat
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Unicode

from course_utils.grading.judge import Judgement, Verdict, judge_outputs, load_judgements

__all__ = ["CourseExecute", "JudgeObservations", "autograde_preprocessors", "is_graded_test"]

VERDICT_KEY = "course_judge"


def is_graded_test(cell: Any) -> bool:
    """A graded, non-solution code cell: a test cell whose points a judgement decides."""
    meta = cell.get("metadata", {}).get("nbgrader") or {}
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


class CourseExecute(Execute):
    """nbgrader's ``Execute``; graded test cells run with ``store_history=False``."""

    def preprocess_cell(self, cell, resources, index):
        self._check_assign_resources(resources)
        cell = self.execute_cell(cell, index, store_history=not is_graded_test(cell))
        return cell, self.resources


class JudgeObservations(NbGraderPreprocessor):
    """Replace each graded test cell's outputs by its judgement's verdict (see module doc)."""

    authoring_dir = Unicode(
        "", help="Folder of the lesson sources with the [judge] blocks (default: the repository's authoring/)."
    ).tag(config=True)

    def _judgements(self, assignment: str) -> dict[str, Judgement]:
        from pathlib import Path

        from course_utils.grading.course import REPO_ROOT

        folder = Path(self.authoring_dir) if self.authoring_dir else REPO_ROOT / "authoring"
        return load_judgements(folder / f"{assignment}.py")

    def preprocess(self, nb, resources):
        assignment = resources["nbgrader"]["assignment"]
        judgements = self._judgements(assignment)
        for cell in nb.cells:
            if not is_graded_test(cell):
                continue
            gid = cell.metadata["nbgrader"]["grade_id"]
            judgement = judgements.get(gid)
            if judgement is None:
                verdict = Verdict(
                    False,
                    "the course has no judgement for this cell; tell your instructor",
                    internal_error=f"no [judge] block for {gid!r} in authoring/{assignment}.py",
                )
            else:
                verdict = judge_outputs(judgement, list(cell.get("outputs", [])))
            if verdict.internal_error:
                self.log.error("judgement of %s/%s: %s", assignment, gid, verdict.internal_error)
            cell.outputs = [_verdict_output(verdict)]
            cell.metadata[VERDICT_KEY] = {
                "passed": verdict.passed,
                "message": verdict.message,
                "environment": verdict.environment,
                "internal_error": verdict.internal_error,
            }
        return nb, resources


def _verdict_output(verdict: Verdict) -> nbformat.NotebookNode:
    if verdict.passed:
        return nbformat.v4.new_output("stream", name="stdout", text="Hidden checks passed.\n")
    return nbformat.v4.new_output(
        "error", ename="HiddenCheckFailed", evalue=verdict.message, traceback=[f"HiddenCheckFailed: {verdict.message}"]
    )


def autograde_preprocessors(execute_class: type | None = None) -> list[type]:
    """nbgrader's default autograde list with ``execute_class`` (default :class:`CourseExecute`)
    in place of ``Execute`` and :class:`JudgeObservations` right after it."""
    from nbgrader.converters.autograde import Autograde

    execute_class = execute_class or CourseExecute
    if not issubclass(execute_class, CourseExecute):
        raise TypeError(f"{execute_class.__name__} must derive from CourseExecute (graded cells out of history)")
    out: list[type] = []
    for p in Autograde.class_traits()["autograde_preprocessors"].default():
        if p is Execute:
            out += [execute_class, JudgeObservations]
        else:
            out.append(p)
    return out
