"""One ``grades.csv`` schema for ``make export`` and ``nbgrader export``: nbgrader's columns plus the course's.

nbgrader's ``CsvExportPlugin`` (https://nbgrader.readthedocs.io, "Exporting grades" and
"Export plugins") writes one row per assignment and learner of the gradebook with
:data:`NBGRADER_COLUMNS`. :class:`CourseExportPlugin` writes the same rows with the
course's record (:mod:`.records`) after them: ``status`` (graded / flagged / failed, or
``missing`` when nothing was handed in, ``ungraded`` when nbgrader has a submission the
course never recorded), ``reason``, ``findings``, ``notes``. A failed submission's score
cells are left empty, never a plain 0. ``nbgrader_config.py`` makes it nbgrader's
exporter, and ``make export`` calls it too (:func:`export_csv`). Every text cell goes out
through :func:`~.escape.for_spreadsheet` (no cell a spreadsheet would run as a formula).
"""

from __future__ import annotations

import csv
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin

from course_utils.grading.escape import for_spreadsheet

__all__ = ["NBGRADER_COLUMNS", "COURSE_COLUMNS", "COLUMNS", "export_rows", "CourseExportPlugin", "export_csv"]

NBGRADER_COLUMNS = [
    "assignment",
    "duedate",
    "timestamp",
    "student_id",
    "last_name",
    "first_name",
    "email",
    "raw_score",
    "late_submission_penalty",
    "score",
    "max_score",
]
COURSE_COLUMNS = ["status", "reason", "findings", "notes"]
COLUMNS = NBGRADER_COLUMNS + COURSE_COLUMNS
_NUMERIC = {"raw_score", "late_submission_penalty", "score", "max_score"}


def _db_url(gradebook: Gradebook) -> str:
    return gradebook.engine.url.render_as_string(hide_password=False)


def export_rows(
    gradebook: Gradebook, students: list[str] | None = None, assignments: list[str] | None = None
) -> list[dict]:
    """One row per (assignment, learner) of the gradebook, as nbgrader's CSV export has them,
    with the course's status columns; values as strings, text made safe for spreadsheets."""
    from course_utils.grading.records import load_results

    course = {(r["student"], r["assignment"]): r for r in load_results(_db_url(gradebook))}
    rows = []
    for assignment in gradebook.assignments:
        if assignments and assignment.name not in assignments:
            continue
        for student in gradebook.students:
            if students and student.id not in students:
                continue
            row = {
                "assignment": assignment.name,
                "duedate": assignment.duedate,
                "student_id": student.id,
                "last_name": student.last_name,
                "first_name": student.first_name,
                "email": student.email,
                "max_score": assignment.max_score,
            }
            rec = course.get((student.id, assignment.name))
            try:
                sub = gradebook.find_submission(assignment.name, student.id)
            except MissingEntry:
                row.update(timestamp="", raw_score=0.0, late_submission_penalty=0.0, score=0.0)
                status = rec["status"] if rec else "missing"
            else:
                penalty = sub.late_submission_penalty
                row.update(
                    timestamp=sub.timestamp,
                    raw_score=sub.score,
                    late_submission_penalty=penalty,
                    score=max(0.0, sub.score - penalty),
                )
                status = rec["status"] if rec else "ungraded"
            if status == "failed":  # never a plain 0: the grade is not known
                row.update(raw_score="", late_submission_penalty="", score="")
            row.update(
                status=status,
                reason=(rec or {}).get("reason", ""),
                findings=" | ".join((rec or {}).get("findings", [])),
                notes=" | ".join((rec or {}).get("notes", [])),
            )
            rows.append(
                {
                    k: (
                        ""
                        if row[k] is None
                        else str(row[k])
                        if k in _NUMERIC or k in {"duedate", "timestamp"}
                        else for_spreadsheet(str(row[k]))
                    )
                    for k in COLUMNS
                }
            )
    return rows


def _write(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)


class CourseExportPlugin(ExportPlugin):
    """nbgrader's CSV export with the course's status, reason, findings and notes (see module doc)."""

    def export(self, gradebook: Gradebook) -> None:
        dest = Path(self.to or "grades.csv")
        self.log.info("Exporting grades with the course's statuses to %s", dest)
        _write(
            export_rows(gradebook, [str(s) for s in self.student] or None, [str(a) for a in self.assignment] or None),
            dest,
        )


def export_csv(db_url: str, path: Path, assignments: list[str] | None = None) -> list[dict]:
    """What ``make export`` runs: :class:`CourseExportPlugin`'s rows for the gradebook at ``db_url``."""
    with Gradebook(db_url) as gb:
        rows = export_rows(gb, None, assignments)
    _write(rows, Path(path))
    return rows
