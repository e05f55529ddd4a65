"""A throwaway PostgreSQL server on loopback, for the tests and the queue benchmark.

Debian's PostgreSQL (``initdb``/``pg_ctl``), started with password authentication in a
temporary data folder, as an unprivileged user when run as root (PostgreSQL refuses to
run as root). `.ci/run` installs the package; elsewhere the callers skip when it is
missing (:func:`missing`), except under CI, where that is a failure.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

PASSWORD = "not-the-learners-business"


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def missing() -> str:
    """Why no server can be started here ("" when one can)."""
    if _pg_bin("initdb") and _pg_bin("pg_ctl"):
        return ""
    return "PostgreSQL is not installed (Debian: apt-get install postgresql)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def local_postgres(dbname: str = "course") -> Iterator[str]:
    """A running PostgreSQL on 127.0.0.1 with an empty database; yields its SQLAlchemy URL."""
    why = missing()
    if why:
        raise RuntimeError(why)
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
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
        return subprocess.run([*as_user, *cmd], capture_output=True, text=True, env=env, cwd=folder, timeout=120)

    init = run(
        initdb,
        "-D",
        str(folder / "data"),
        "-U",
        "grader",
        "--auth=scram-sha-256",
        f"--pwfile={folder / 'pw'}",
        "-E",
        "UTF8",
    )
    assert init.returncode == 0, init.stderr
    start = run(
        pg_ctl,
        "-D",
        str(folder / "data"),
        "-l",
        str(folder / "log"),
        "-w",
        "-t",
        "60",
        "-o",
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={folder}",
        "start",
    )
    assert start.returncode == 0, start.stderr + (folder / "log").read_text()
    try:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=port, user="grader", password=PASSWORD, dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {dbname}")
        conn.close()
        yield f"postgresql+psycopg2://grader:{PASSWORD}@127.0.0.1:{port}/{dbname}"
    finally:
        run(pg_ctl, "-D", str(folder / "data"), "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def query(url: str, sql: str) -> list[tuple]:
    """Rows of one SQL statement on the server at the SQLAlchemy ``url``."""
    import psycopg2
    from sqlalchemy.engine import make_url

    u = make_url(url)
    with (
        psycopg2.connect(host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database) as conn,
        conn.cursor() as cur,
    ):
        cur.execute(sql)
        return cur.fetchall()
