import os
import sys
from pathlib import Path

import pytest

from course_utils.cpu_threads import limit_threads

ROOT = Path(__file__).resolve().parents[1]
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
