"""Grading with the gradebook in PostgreSQL (nbgrader's SQLAlchemy ``db_url``), as on several machines.

The server is Debian's PostgreSQL, started by this module on loopback with password
authentication, in a throwaway data folder, as an unprivileged user (PostgreSQL
refuses to run as root). `.ci/run` installs the package; elsewhere the server tests
skip when PostgreSQL is missing, except under CI, where that is a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from course_utils.grading import autograde as autograde_mod
from course_utils.grading import cli
from course_utils.grading.autograde import GradebookError, _backup_gradebook, autograde
from course_utils.grading.course import CourseDirs
from course_utils.grading.sandbox import SandboxUnavailable
from gradekit import assert_full_marks, assert_zero_everywhere, grade, solution_notebook, \
    solution_source, student_notebook, with_answers

A = "01_sinusoidal_embedding"
TOTAL = 10
PASSWORD = "not-the-learners-business"


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pg_url():
    """A running PostgreSQL on 127.0.0.1 with an empty database; yields its SQLAlchemy URL."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL's initdb/pg_ctl are missing; .ci/run should have installed "
                        "Debian's postgresql package")
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="course-pg-"))  # under /tmp: traversable by its owner
    as_user: list[str] = []
    if os.geteuid() == 0:  # run the server as nobody, which must own its folder
        os.chown(folder, 65534, 65534)
        as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    (folder / "pw").write_text(PASSWORD + "\n")
    if as_user:
        os.chown(folder / "pw", 65534, 65534)
    port = _free_port()
    env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8")

    def run(*cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run([*as_user, *cmd], capture_output=True, text=True, env=env,
                              cwd=folder, timeout=120)

    init = run(initdb, "-D", str(folder / "data"), "-U", "grader", "--auth=scram-sha-256",
               f"--pwfile={folder / 'pw'}", "-E", "UTF8")
    assert init.returncode == 0, init.stderr
    start = run(pg_ctl, "-D", str(folder / "data"), "-l", str(folder / "log"), "-w", "-t", "60",
                "-o", f"-c listen_addresses=127.0.0.1 -c port={port} "
                      f"-c unix_socket_directories={folder}", "start")
    assert start.returncode == 0, start.stderr + (folder / "log").read_text()
    try:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=port, user="grader", password=PASSWORD,
                                dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE course")
        conn.close()
        yield f"postgresql+psycopg2://grader:{PASSWORD}@127.0.0.1:{port}/course"
    finally:
        run(pg_ctl, "-D", str(folder / "data"), "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def _rows(url: str, sql: str) -> list[tuple]:
    import psycopg2

    u = make_url(url)
    with psycopg2.connect(host=u.host, port=u.port, user=u.username, password=u.password,
                          dbname=u.database) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def _reaches_the_server(port: int) -> str:
    """The solution, preceded by a line that fails unless the kernel can open a TCP connection."""
    return (f"import socket as _s\n_s.create_connection(('127.0.0.1', {port}), timeout=3).close()\n"
            + solution_source(A, "sinusoidal_impl"))


def test_parallel_grading_into_postgresql(tmp_path, pg_url):
    subs = {"ada": solution_notebook(A), "blank": student_notebook(A),
            "prober": with_answers(A, {"sinusoidal_impl": _reaches_the_server(make_url(pg_url).port)})}
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
    stored = dict(_rows(pg_url, "SELECT s.student_id, SUM(g.auto_score) FROM grade g "
                                "JOIN submitted_notebook n ON g.notebook_id = n.id "
                                "JOIN submitted_assignment s ON n.assignment_id = s.id "
                                "GROUP BY s.student_id"))
    assert stored == {"ada": TOTAL, "blank": 0, "prober": first["prober"].score}, stored

    # Backed up with pg_dump before each run (the first dump is of the empty database);
    # a second run gives the same grades.
    assert len(list((root / "backups").glob("gradebook-*.sql"))) == 1
    again = grade(tmp_path, A, subs, jobs=2, sandbox=True, db_url=pg_url)
    assert {k: (r.status, r.score) for k, r in again.items()} == \
           {k: (r.status, r.score) for k, r in first.items()}
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
