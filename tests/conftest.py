import os
import sys
from pathlib import Path

import pytest

from course_utils.cpu_threads import limit_threads
from course_utils.paths import REPO_ROOT as ROOT

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture
def one_cpu_thread():
    """Tiny batches run as fast on one thread, and a busy shared CPU cannot make it spin."""
    with limit_threads(1):
        yield


@pytest.fixture(scope="module")
def pg_url():
    """A running PostgreSQL on 127.0.0.1 with an empty database (tests/pgkit.py); yields its URL.
    Skips when PostgreSQL is not installed, except under CI, where that is a failure."""
    import pgkit

    why = pgkit.missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(
                "PostgreSQL's initdb/pg_ctl are missing; .ci/run should have installed Debian's postgresql package"
            )
        pytest.skip(why)
    with pgkit.local_postgres() as url:
        yield url
