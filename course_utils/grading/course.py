"""Where a course's files live, and the nbgrader configuration built from them.

nbgrader (https://nbgrader.readthedocs.io) keeps an assignment's *source* (here
``solutions/``), its *release* (``notebooks/``), learners' ``submitted/`` work,
the ``autograded/`` copies and ``feedback/`` under one course root, plus a
gradebook database. :class:`CourseDirs` names those places; :func:`nbgrader_config`
loads the repository's ``nbgrader_config.py`` and points it at them, so the
instructor's CLI, the Makefile and the tests' temporary courses share one setup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from course_utils.paths import REPO_ROOT

__all__ = ["REPO_ROOT", "CourseDirs", "nbgrader_config"]


@dataclass(frozen=True)
class CourseDirs:
    """The folders and database of one course (the repo itself, or a temporary copy)."""

    root: Path = REPO_ROOT
    source: str = "solutions"
    release: str = "notebooks"
    submitted: str = "submitted"
    autograded: str = "autograded"
    feedback: str = "feedback"
    db_url: str = field(default="")
    cell_timeout_s: int = 120

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).resolve())
        if self.db_url and "://" not in self.db_url:
            raise ValueError(
                f"db_url must be an SQLAlchemy URL such as "
                f"'postgresql+psycopg2://grader@dbhost/course', got {self.db_url!r}"
            )
        if not self.db_url:
            object.__setattr__(self, "db_url", f"sqlite:///{self.root / 'gradebook.db'}?timeout=60")

    def path(self, which: str) -> Path:
        """Absolute path of one of the named folders, e.g. ``path("submitted")``."""
        return self.root / getattr(self, which)

    @property
    def db_kind(self) -> str:
        """The gradebook's database: ``"sqlite"``, ``"postgresql"``, or another SQLAlchemy dialect."""
        return self.db_url.split(":", 1)[0].split("+", 1)[0]

    @property
    def sqlite_file(self) -> Path | None:
        """The gradebook file when the database is SQLite, else ``None``."""
        if not self.db_url.startswith("sqlite:///"):
            return None
        return Path(self.db_url[len("sqlite:///") :].split("?", 1)[0])


def _alembic_head() -> str:
    """The newest revision of nbgrader's gradebook schema, from Alembic's Python API.

    What ``alembic heads`` prints for nbgrader's migrations (``nbgrader/dbutil.py``'s
    ``ALEMBIC_DIR``), asked of ``alembic.script.ScriptDirectory`` in this interpreter.
    """
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import ALEMBIC_DIR

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", ALEMBIC_DIR)
    return ScriptDirectory.from_config(cfg).get_current_head()


def _alembic_head_in_process() -> None:
    """Let nbgrader learn its schema version without running a program found on ``PATH``.

    A new gradebook asks ``nbgrader.api.get_alembic_version``, which runs the ``alembic``
    console script by name (``subprocess.check_output(["alembic", ...])``): that fails when
    the venv was not activated (``.venv/bin/python -m course_utils.grading``) and would run
    whichever ``alembic`` comes first on ``PATH``. The same answer comes from Alembic's API,
    in the running interpreter, with ``PATH`` left alone.
    """
    import nbgrader.api

    if nbgrader.api.get_alembic_version is not _alembic_head:
        nbgrader.api.get_alembic_version = _alembic_head


def nbgrader_config(dirs: CourseDirs, **overrides) -> Config:
    """nbgrader's configuration for ``dirs``: the repo's nbgrader_config.py, re-rooted.

    ``overrides`` are extra ``Section__trait=value`` settings, e.g.
    ``Execute__timeout=30``.
    """
    _alembic_head_in_process()
    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(REPO_ROOT)).load_config()
    cd = cfg.CourseDirectory
    cd.root = str(dirs.root)
    cd.source_directory = dirs.source
    cd.release_directory = dirs.release
    cd.submitted_directory = dirs.submitted
    cd.autograded_directory = dirs.autograded
    cd.feedback_directory = dirs.feedback
    cd.db_url = dirs.db_url
    cfg.Execute.timeout = dirs.cell_timeout_s
    for key, value in overrides.items():
        section, _, trait = key.partition("__")
        if not trait:
            raise ValueError(f"override {key!r} must look like Section__trait")
        setattr(cfg[section], trait, value)
    return cfg
