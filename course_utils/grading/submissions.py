"""Find learners' submissions and prepare a gradable copy of each.

A submission is ``submitted/<learner>/<assignment>/<notebook>.ipynb`` (nbgrader's
layout; an LMS zip export is first unpacked into it by nbgrader's ``zip_collect``).
Grading never touches that file: :func:`stage` writes a normalised copy into a
staging folder that nbgrader then autogrades. Normalising restores what a learner
may have broken by accident — deleted or renamed test cells, lost nbgrader
metadata, duplicated cells — from the released notebook, so the hidden tests always
run (nbgrader itself would then overwrite locked cells from the gradebook).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

__all__ = [
    "Submission",
    "find_submissions",
    "file_hashes",
    "normalise",
    "stage",
    "UnreadableSubmission",
    "write_submission",
]


class UnreadableSubmission(Exception):
    """The submitted file is not a notebook we can read (corrupt JSON, wrong format)."""


@dataclass(frozen=True)
class Submission:
    student: str
    assignment: str
    folder: Path

    @property
    def notebooks(self) -> list[Path]:
        return sorted(self.folder.glob("*.ipynb"))


def write_submission(submitted: Path, student: str, assignment: str, nb: nbformat.NotebookNode | bytes) -> Path:
    """Put a learner's notebook (or raw bytes, e.g. a broken file) where nbgrader expects it:
    ``<submitted>/<student>/<assignment>/<the lesson's notebook name>``; returns that path."""
    from course_utils.lessons import by_id

    folder = submitted / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / Path(by_id(assignment).solution).name
    if isinstance(nb, bytes):
        path.write_bytes(nb)
    else:
        nbformat.write(nb, path)
    return path


def find_submissions(submitted: Path, assignments: list[str]) -> list[Submission]:
    """Every ``<student>/<assignment>`` folder under ``submitted`` for the given assignments."""
    subs = []
    if not submitted.is_dir():
        return subs
    for student_dir in sorted(p for p in submitted.iterdir() if p.is_dir()):
        for assignment in assignments:
            folder = student_dir / assignment
            if folder.is_dir():
                subs.append(Submission(student_dir.name, assignment, folder))
    return subs


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (relative path -> hex digest)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _grade_id(cell) -> str | None:
    return (cell.get("metadata", {}).get("nbgrader") or {}).get("grade_id")


@dataclass
class NormaliseReport:
    restored: list[str] = field(default_factory=list)  # grade ids put back from the release
    reattached: list[str] = field(default_factory=list)  # metadata matched back by cell id
    dropped_duplicates: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # grade ids the release does not have

    def notes(self) -> list[str]:
        notes = []
        if self.restored:
            notes.append("restored missing cells: " + ", ".join(self.restored))
        if self.reattached:
            notes.append("re-attached lost grading metadata: " + ", ".join(self.reattached))
        if self.dropped_duplicates:
            notes.append("ignored duplicated graded cells: " + ", ".join(self.dropped_duplicates))
        if self.unknown:
            notes.append("ignored cells with unknown grading ids (renamed?): " + ", ".join(self.unknown))
        return notes


def normalise(
    learner: nbformat.NotebookNode, release: nbformat.NotebookNode
) -> tuple[nbformat.NotebookNode, NormaliseReport]:
    """Return a copy of ``learner`` in which every graded/locked cell of ``release`` exists once."""
    report = NormaliseReport()
    release_cells = [c for c in release.cells]
    release_ids = {_grade_id(c) for c in release_cells} - {None}
    by_cell_id = {c.get("id"): c for c in release_cells if c.get("id")}
    cells, seen = [], set()
    for cell in learner.cells:
        cell = nbformat.from_dict(json.loads(json.dumps(cell)))
        gid = _grade_id(cell)
        if gid is None and cell.get("id") in by_cell_id and _grade_id(by_cell_id[cell["id"]]):
            gid = _grade_id(by_cell_id[cell["id"]])
            cell.metadata["nbgrader"] = dict(by_cell_id[cell["id"]].metadata["nbgrader"])
            report.reattached.append(gid)
        if gid is not None and gid not in release_ids:  # renamed or invented: not a graded cell
            cell.metadata.pop("nbgrader", None)
            report.unknown.append(gid)
            gid = None
        if gid is not None:
            if gid in seen:
                cell.metadata.pop("nbgrader", None)
                report.dropped_duplicates.append(gid)
            seen.add(gid)
        cells.append(cell)
    # Put back every release cell with a grade id that the learner's notebook lacks,
    # right after the cell that precedes it in the release.
    for i, rcell in enumerate(release_cells):
        gid = _grade_id(rcell)
        if gid is None or gid in seen:
            continue
        anchor = next(
            (_grade_id(release_cells[j]) for j in range(i - 1, -1, -1) if _grade_id(release_cells[j]) in seen), None
        )
        pos = 0 if anchor is None else 1 + next(k for k, c in enumerate(cells) if _grade_id(c) == anchor)
        restored = nbformat.from_dict(json.loads(json.dumps(rcell)))
        if any(c.get("id") == restored.get("id") for c in cells):
            restored["id"] = f"restored-{gid}"[:64]
        cells.insert(pos, restored)
        seen.add(gid)
        report.restored.append(gid)
    out = nbformat.from_dict(json.loads(json.dumps(learner)))
    out.cells = cells
    return out, report


def read_submission(path: Path) -> nbformat.NotebookNode:
    """Read a notebook file or raise :class:`UnreadableSubmission` saying why."""
    try:
        raw = path.read_bytes()
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnreadableSubmission(
            f"{path.name} is not valid notebook JSON ({type(exc).__name__}: {str(exc)[:120]})"
        ) from None
    if not isinstance(data, dict) or "cells" not in data:
        raise UnreadableSubmission(f"{path.name} is JSON but not a notebook (no 'cells' list)")
    try:
        return nbformat.reads(json.dumps(data), as_version=4)
    except Exception as exc:  # nbformat raises several types for malformed notebooks
        raise UnreadableSubmission(f"{path.name} is not a readable notebook ({type(exc).__name__})") from None


def stage(sub: Submission, release_folder: Path, staged_root: Path) -> tuple[Path, list[str]]:
    """Write the normalised copy of ``sub`` into ``staged_root/<student>/<assignment>``.

    Returns the staged folder and notes about what was repaired. Raises
    :class:`UnreadableSubmission` when the expected notebook is missing or unreadable.
    """
    dst = staged_root / sub.student / sub.assignment
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    notes: list[str] = []
    expected = sorted(release_folder.glob("*.ipynb"))
    if not expected:
        raise FileNotFoundError(f"no released notebook in {release_folder}; run `make notebooks` first")
    for rel_path in expected:
        path = sub.folder / rel_path.name
        if not path.exists():
            others = [p.name for p in sub.notebooks]
            if len(expected) == 1 and len(others) == 1:  # renamed notebook: accept it
                path = sub.folder / others[0]
                notes.append(f"graded {others[0]} as {rel_path.name} (renamed)")
            else:
                raise UnreadableSubmission(
                    f"{rel_path.name} is missing from the submission (found: {others or 'nothing'})"
                )
        learner = read_submission(path)
        fixed, report = normalise(learner, nbformat.read(rel_path, as_version=4))
        notes += report.notes()
        nbformat.write(fixed, dst / rel_path.name)
    ts = sub.folder / "timestamp.txt"
    if ts.exists():
        shutil.copy2(ts, dst / "timestamp.txt")
    return dst, notes
