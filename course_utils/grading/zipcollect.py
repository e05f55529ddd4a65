"""Unpack an LMS export into ``submitted/``: nbgrader's ``zip_collect`` with the LMSes' file names.

nbgrader's ``zip_collect`` (https://nbgrader.readthedocs.io, "Submitting assignments
via an LMS") extracts ``downloaded/<assignment>/archive/*.zip`` and asks a
``FileNameCollectorPlugin`` which learner each file belongs to. Its stock plugin
needs a regular expression and, without one, collects nothing and still exits 0.
:class:`CourseCollector` (set in ``nbgrader_config.py``) knows the common exports:

* Canvas, "Download Submissions": one flat folder of
  ``<name>_<userid>_<fileid>_<original>.ipynb``, or ``<name>_late_<userid>_...``
  for a late one (Canvas may add ``-1``, ``-2`` to a resubmitted original name);
  the learner id is Canvas's numeric user id.
* Moodle, "Download all submissions": a folder per learner,
  ``<Full Name>_<participantid>_assignsubmission_file_/<original>.ipynb``; the
  learner id is the participant id.

Every learner id is checked (:func:`valid_learner_id`: no ``/``, no ``..``, no
control characters, at most 64 characters) before it names a folder.
:func:`zip_collect` runs nbgrader's command and says how many notebooks it put in
``submitted/``, so ``make zip-collect`` can fail when that is none.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from nbgrader.plugins import FileNameCollectorPlugin
from traitlets import List, Unicode

__all__ = ["CANVAS", "MOODLE", "CourseCollector", "valid_learner_id", "zip_collect"]

CANVAS = (
    r"(?:^|/)(?P<name>[A-Za-z0-9-]+)(?:_late|_LATE)?_(?P<student_id>\d+)_(?P<fileid>\d+)_"
    r"(?P<file_id>[^/]+?)(?:-\d+)?\.ipynb$"
)
MOODLE = (
    r"(?:^|/)(?P<name>[^/]+)_(?P<student_id>\d+)_assignsubmission_file_/(?:[^/]+/)*"
    r"(?P<file_id>[^/]+?)\.ipynb$"
)
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}")


def valid_learner_id(student_id: str) -> bool:
    """Whether ``student_id`` can safely name a folder: letters, digits, ``_ . @ + -``, no ``..``."""
    return bool(_ID.fullmatch(student_id)) and ".." not in student_id


class CourseCollector(FileNameCollectorPlugin):
    """A collector trying each of ``patterns`` (searched in the file's path) and refusing bad ids."""

    patterns = List(
        Unicode(),
        default_value=[MOODLE, CANVAS],
        help="regular expressions with (?P<student_id>...) and (?P<file_id>...), "
        "searched in each extracted file's path; the first match wins",
    ).tag(config=True)

    def collect(self, submitted_file: str) -> Optional[dict]:
        path = submitted_file.replace(os.sep, "/")
        if os.path.splitext(path)[1] not in self.valid_ext:
            return None
        for pattern in self.patterns:
            match = re.search(pattern, path)
            if match:
                info = match.groupdict()
                if not valid_learner_id(info.get("student_id") or ""):
                    self.log.warning(
                        "refused learner id %r in %s: only letters, digits and _.@+- are allowed",
                        info.get("student_id"),
                        submitted_file,
                    )
                    return None
                return {
                    "student_id": info["student_id"],
                    "file_id": info["file_id"] + ".ipynb",
                    "first_name": None,
                    "last_name": None,
                    "email": None,
                    "timestamp": None,
                }
        self.log.warning("no LMS file-name pattern matched %s (see course_utils/grading/zipcollect.py)", submitted_file)
        return None


def zip_collect(root: Path, assignment: str) -> tuple[list[Path], str]:
    """Run ``nbgrader zip_collect --force <assignment>`` in ``root``; (notebooks it put in
    ``submitted/``, its log). Raises ValueError for an assignment name that is not a plain name."""
    if not valid_learner_id(assignment):
        raise ValueError(f"assignment must be a plain name like 01_sinusoidal_embedding, got {assignment!r}")
    start = time.time() - 1
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nbgrader",
            "zip_collect",
            "--force",
            assignment,
            f"--CourseDirectory.root={root}",
            f"--ZipCollectApp.collector_plugin={__name__}.CourseCollector",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    collected = [p for p in sorted((root / "submitted").glob(f"*/{assignment}/*.ipynb")) if p.stat().st_mtime >= start]
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"nbgrader zip_collect failed (exit {proc.returncode}): {log.strip()[-600:]}")
    return collected, log
