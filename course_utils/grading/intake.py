"""What a learner handed in, checked before anything is graded: each refusal says what it was.

nbgrader grades whatever ``submitted/<learner>/<assignment>/`` holds. That folder
comes from learners (through an LMS export and ``zip_collect``), so before a
submission is staged (:mod:`.submissions`) :func:`check_intake` refuses, with
:class:`IntakeRefused` and a reason that names what was handed in:

* anything but regular files and folders: a symlink (it could point at
  ``solutions/``), a hard link (a second name of a file elsewhere), a device, a
  FIFO or socket (``not a regular file``); the learner's and the submission's
  folders themselves must be real folders too (lstat(2));
* more notebooks than the lesson has (one would be ignored silently);
* an empty notebook (no cell with any content);
* a notebook of another lesson (most of its graded cells belong to another assignment);
* graded cells whose nbgrader metadata (points, grade, solution, locked, ...) was
  changed (nbgrader's "Developing assignments" docs: this metadata decides grading),
  naming the cell and the field.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import nbformat

from course_utils.grading.submissions import Submission, read_submission

__all__ = ["IntakeRefused", "check_intake", "graded_ids"]

# The nbgrader cell-metadata fields that decide how a cell is graded.
_GRADING_FIELDS = ("grade", "grade_id", "locked", "points", "schema_version", "solution", "task")


class IntakeRefused(Exception):
    """What was handed in cannot be graded; the message says what it is."""


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISLNK, "a symlink"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a file"


def _check_files(sub: Submission) -> None:
    """Only real folders and regular files with one name each (no symlinks, hard links, devices)."""
    for folder in (sub.folder.parent, sub.folder):
        st = os.lstat(folder)
        if not stat.S_ISDIR(st.st_mode):
            raise IntakeRefused(f"not a regular file: {folder.name}/ is {_kind(st.st_mode)}, not a folder")
    for dirpath, dirnames, filenames in os.walk(sub.folder, followlinks=False):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, sub.folder)
            st = os.lstat(path)
            if stat.S_ISDIR(st.st_mode):
                continue
            if not stat.S_ISREG(st.st_mode):
                raise IntakeRefused(f"not a regular file: {rel} is {_kind(st.st_mode)}")
            if st.st_nlink > 1:
                raise IntakeRefused(f"not a regular file: {rel} is a hard link ({st.st_nlink} names for one file)")


def graded_ids(nb: nbformat.NotebookNode) -> dict[str, dict]:
    """grade id -> nbgrader metadata of each cell that has a grade id."""
    out = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader") or {}
        if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str):
            out.setdefault(meta["grade_id"], meta)
    return out


def _lesson_of(ids: set[str]) -> tuple[str, int]:
    """The assignment whose solution notebook has most of ``ids`` ("" when none has any), and how many."""
    from course_utils.lessons import LESSONS
    from course_utils.grading.course import REPO_ROOT

    best, hits = "", 0
    for lesson in LESSONS:
        path = REPO_ROOT / lesson.solution
        if path.is_file():
            n = len(ids & set(graded_ids(nbformat.read(path, as_version=4))))
            if n > hits:
                best, hits = lesson.assignment, n
    return best, hits


def _show(value: object) -> str:
    return json.dumps(value)[:40]


def check_intake(sub: Submission, release_folder: Path) -> None:
    """Raise :class:`IntakeRefused` when ``sub`` is not a gradable hand-in of ``release_folder``'s lesson."""
    _check_files(sub)
    expected = sorted(p.name for p in release_folder.glob("*.ipynb"))
    handed = sorted(p.name for p in sub.folder.glob("*.ipynb"))
    if len(handed) > max(1, len(expected)):
        raise IntakeRefused(
            f"{len(handed)} notebooks handed in ({', '.join(handed)}); the lesson has "
            f"{len(expected)} ({', '.join(expected)}): hand in only that one"
        )
    for name in expected:
        path = sub.folder / name if (sub.folder / name).exists() or len(handed) != 1 else sub.folder / handed[0]
        if not path.exists():
            continue  # staging reports the missing notebook
        learner = read_submission(path)
        if not any(str(c.get("source", "")).strip() for c in learner.cells):
            raise IntakeRefused(
                f"{path.name} is an empty notebook ({len(learner.cells)} cells, none with "
                "content): the learner handed in no work"
            )
        released = graded_ids(nbformat.read(release_folder / name, as_version=4))
        theirs = graded_ids(learner)
        ours = len(set(theirs) & set(released))
        if theirs and ours * 2 < len(released):  # most of the lesson's cells missing: whose notebook?
            other, hits = _lesson_of(set(theirs))
            if other != sub.assignment and (hits > ours or not ours):
                raise IntakeRefused(
                    f"{path.name} is a notebook of another lesson ({other or 'unknown'}), "
                    f"not of {sub.assignment}: {ours} of its graded cells belong to this lesson"
                )
        for gid, meta in theirs.items():
            want = released.get(gid)
            if want is None:
                continue  # renamed or invented: staging ignores it and restores the lesson's cell
            for field in _GRADING_FIELDS:
                if meta.get(field) != want.get(field):
                    raise IntakeRefused(
                        f"{path.name}: the grading metadata of cell {gid!r} was changed: field "
                        f"{field!r} is {_show(meta.get(field))}, the lesson has {_show(want.get(field))}"
                    )
