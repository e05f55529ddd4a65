"""Where the course's files are: the repository root, the shipped data and a writable folder.

The one place that locates the repository (``REPO_ROOT``: the clone, or ``site-packages``
when the package is installed); every module and test that needs a course file starts here.

Shipped files are the offline MNIST test split (lesson 04) and the cached experiment
results with their provenance (lessons 04 and 05). In a clone they are the
repository's ``data/`` folder. A ``pip install`` of ``course_utils`` (as the setup
cell does on Colab) carries the same files as package data in
``course_utils/_data/``: ``pyproject.toml`` maps that package to ``data/``
(setuptools' ``package-dir``), so there is one copy in the repository. Downloads
(torchvision's MNIST) and caches go to a writable folder instead: the repository's
``data/`` in a clone, else ``./data`` in the working directory.

``$COURSE_DATA_DIR`` overrides both.

:func:`display_path` names a course file in printed output relative to the repository or
the package (``data/lesson05/comparison.json``), so that stored notebook outputs hold no
absolute path of the machine that executed them.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["REPO_ROOT", "REPO_DATA", "PACKAGE_DATA", "shipped_dir", "data_dir", "display_path"]

PACKAGE_DIR = Path(__file__).resolve().parent  # course_utils/
REPO_ROOT = Path(__file__).resolve().parents[1]  # the clone, or site-packages when installed
REPO_DATA = REPO_ROOT / "data"
PACKAGE_DATA = PACKAGE_DIR / "_data"
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


def display_path(path: str | os.PathLike) -> str:
    """``path`` as printed in a notebook: relative to the clone or the installed package.

    A file of the repository becomes e.g. ``course_utils/components/unets.py`` or
    ``data/lesson05/comparison.json``; one in the installed package's data
    ``course_utils/_data/...``; one under ``$COURSE_DATA_DIR`` ``$COURSE_DATA_DIR/...``;
    one under the working directory a relative path. Anything else is returned as given
    (a path the user chose).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
    p = Path(path).expanduser()
    if not p.is_absolute():
        return p.as_posix()
    p = p.resolve()
    override = _override()
    for base, prefix in (
        (override.resolve() if override else None, "$COURSE_DATA_DIR"),
        (REPO_ROOT, ""),
        (Path.cwd().resolve(), ""),
    ):
        if base is not None and p.is_relative_to(base):
            rel = p.relative_to(base).as_posix()
            return f"{prefix}/{rel}" if prefix else rel
    return str(path)
