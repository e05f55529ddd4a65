"""Grading with the gradebook in PostgreSQL (nbgrader's SQLAlchemy ``db_url``), as on several machines.

The server is Debian's PostgreSQL, started on loopback with password authentication, in
a throwaway data folder, as an unprivileged user (tests/pgkit.py). `.ci/run` installs the
package; elsewhere the server tests skip when PostgreSQL is missing, except under CI,
where that is a failure.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy.engine import make_url

from course_utils.grading import autograde as autograde_mod
from course_utils.grading import cli
from course_utils.grading.autograde import GradebookError, _backup_gradebook, autograde
from course_utils.grading.course import CourseDirs
from course_utils.grading.sandbox import SandboxUnavailable
import pgkit
from gradekit import (
    assert_full_marks,
    assert_zero_everywhere,
    grade,
    solution_notebook,
    solution_source,
    student_notebook,
    with_answers,
)

A = "01_sinusoidal_embedding"
TOTAL = 10


def _reaches_the_server(port: int) -> str:
    """The solution, preceded by a line that fails unless the kernel can open a TCP connection."""
    return f"import socket as _s\n_s.create_connection(('127.0.0.1', {port}), timeout=3).close()\n" + solution_source(
        A, "sinusoidal_impl"
    )


def test_parallel_grading_into_postgresql(tmp_path, pg_url):
    subs = {
        "ada": solution_notebook(A),
        "blank": student_notebook(A),
        "prober": with_answers(A, {"sinusoidal_impl": _reaches_the_server(make_url(pg_url).port)}),
    }
    start = time.perf_counter()
    first = grade(tmp_path, A, subs, jobs=2, sandbox=True, db_url=pg_url)
    seconds = time.perf_counter() - start
    assert_full_marks(first["ada"], TOTAL)
    assert_zero_everywhere(first["blank"], TOTAL)
    # Learner kernels run in a network namespace of their own: the server is out of reach,
    # so the probing line fails and its cell scores nothing.
    assert first["prober"].score < TOTAL, first["prober"].cells

    # The grades live in PostgreSQL (nothing fell back to a local SQLite file).
    root = tmp_path / "course"
    assert not (root / "gradebook.db").exists()
    stored = dict(
        pgkit.query(
            pg_url,
            "SELECT s.student_id, SUM(g.auto_score) FROM grade g "
            "JOIN submitted_notebook n ON g.notebook_id = n.id "
            "JOIN submitted_assignment s ON n.assignment_id = s.id "
            "GROUP BY s.student_id",
        )
    )
    assert stored == {"ada": TOTAL, "blank": 0, "prober": first["prober"].score}, stored

    # Backed up with pg_dump before each run (the first dump is of the empty database);
    # a second run gives the same grades.
    assert len(list((root / "backups").glob("gradebook-*.sql"))) == 1
    again = grade(tmp_path, A, subs, jobs=2, sandbox=True, db_url=pg_url)
    assert {k: (r.status, r.score) for k, r in again.items()} == {k: (r.status, r.score) for k, r in first.items()}
    dumps = sorted((root / "backups").glob("gradebook-*.sql"))
    assert len(dumps) == 2
    newest = dumps[-1].read_text()  # taken before the re-grade: holds the first run's grades
    assert "submitted_assignment" in newest and "ada" in newest and "prober" in newest
    print(f"3 submissions graded into PostgreSQL with 2 jobs in {seconds:.1f} s")


def test_a_database_server_needs_network_isolated_kernels(tmp_path, monkeypatch):
    from course_utils.grading import sandbox

    monkeypatch.setattr(sandbox, "_bwrap_works", lambda: False)
    (tmp_path / "solutions").mkdir()
    dirs = CourseDirs(root=tmp_path, db_url="postgresql+psycopg2://grader@127.0.0.1:9/course")
    with pytest.raises(SandboxUnavailable, match="database server.*bwrap --unshare-net"):
        autograde(dirs, [A])


def test_no_pg_dump_means_nothing_is_graded(tmp_path, monkeypatch):
    monkeypatch.setattr(autograde_mod.shutil, "which", lambda name: None)
    dirs = CourseDirs(root=tmp_path, db_url="postgresql+psycopg2://grader:pw@127.0.0.1:9/course")
    with pytest.raises(GradebookError, match="pg_dump is not installed.*nothing was graded"):
        _backup_gradebook(dirs)


def test_a_malformed_db_url_is_one_clear_line(capsys):
    assert cli.main(["report", "--db-url", "gradebook.db"]) == 2
    err = capsys.readouterr().err
    assert "must be an SQLAlchemy URL" in err and "Traceback" not in err
