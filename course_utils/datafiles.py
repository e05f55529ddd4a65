"""Where the course's data files are: the shipped, read-only ones and a writable folder.

Shipped files are the offline MNIST test split (lesson 04) and the cached experiment
results with their provenance (lessons 04 and 05). In a clone they are the
repository's ``data/`` folder. A ``pip install`` of ``course_utils`` (as the setup
cell does on Colab) carries the same files as package data in
``course_utils/_data/``: ``pyproject.toml`` maps that package to ``data/``
(setuptools' ``package-dir``), so there is one copy in the repository. Downloads
(torchvision's MNIST) and caches go to a writable folder instead: the repository's
``data/`` in a clone, else ``./data`` in the working directory.

``$COURSE_DATA_DIR`` overrides both.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["REPO_DATA", "PACKAGE_DATA", "shipped_dir", "data_dir"]

REPO_DATA = Path(__file__).resolve().parents[1] / "data"
PACKAGE_DATA = Path(__file__).resolve().parent / "_data"
_MARKER = "mnist-t10k"  # present wherever the shipped files are


def _override() -> Path | None:
    value = os.environ.get("COURSE_DATA_DIR")
    return Path(value).expanduser() if value else None


def shipped_dir() -> Path:
    """The folder holding ``mnist-t10k/``, ``lesson04/`` and ``lesson05/`` as shipped.

    ``$COURSE_DATA_DIR``, else the clone's ``data/``, else the installed package's
    ``_data/``; when neither has the files, ``./data`` (so error messages name a place).
    """
    override = _override()
    if override is not None:
        return override
    for candidate in (REPO_DATA, PACKAGE_DATA):
        if (candidate / _MARKER).is_dir():
            return candidate
    return Path.cwd() / "data"


def data_dir() -> Path:
    """A writable data folder for downloads and caches.

    ``$COURSE_DATA_DIR``, else the clone's ``data/``, else ``./data`` in the working
    directory (never the installed package).
    """
    override = _override()
    if override is not None:
        return override
    if (REPO_DATA / _MARKER).is_dir():
        return REPO_DATA
    return Path.cwd() / "data"
