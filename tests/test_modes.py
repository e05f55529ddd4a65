"""The course's modes are read from the environment in one place (runtime.modes) and passed on."""

import re

import pytest

from course_utils import paths, runtime
from course_utils.lessons.lesson04.profiles import choose_profile
from course_utils.runtime import Modes, modes
from course_utils.widgets import widgets_available

MODE_VARS = ("COURSE_GRADING", "COURSE_SMOKE", "COURSE_NO_WIDGETS", "COURSE_DEVICE")


@pytest.fixture
def clean_env(monkeypatch):
    for name in MODE_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_modes_reads_the_four_variables(clean_env):
    assert modes() == Modes()
    clean_env.setenv("COURSE_SMOKE", "yes")
    clean_env.setenv("COURSE_DEVICE", " cpu ")
    m = modes()
    assert m.smoke and not m.grading and m.quick and not m.widgets and m.device == "cpu"
    clean_env.setenv("COURSE_SMOKE", "0")
    clean_env.setenv("COURSE_NO_WIDGETS", "1")
    assert not modes().quick and not modes().widgets


def test_an_explicit_mode_wins_over_the_environment(clean_env):
    assert choose_profile(device="cpu", smoke=True).name == "smoke"
    clean_env.setenv("COURSE_SMOKE", "1")
    assert choose_profile(device="cpu").name == "smoke"  # the default follows modes()
    assert choose_profile(device="cpu", smoke=False).name == "cpu"


def test_widgets_follow_modes(clean_env):
    clean_env.setenv("COURSE_GRADING", "1")
    assert widgets_available() is False


def test_setup_lesson_reports_the_modes(clean_env):
    clean_env.setenv("COURSE_GRADING", "1")
    rt = runtime.setup_lesson("01", quiet=True)
    assert rt.grading and not rt.smoke and rt.quick


def test_no_library_module_reads_the_mode_variables_itself(repo_root):
    """runtime.py reads the modes, paths.py reads COURSE_DATA_DIR; the rest take arguments.

    The grading package runs in the grader's process and reads its own settings."""
    allowed = {paths.__file__, runtime.__file__}
    readers = []
    for path in sorted((repo_root / "course_utils").glob("*.py")):
        if str(path) in allowed:
            continue
        text = path.read_text()
        if re.search(r"os\.environ|os\.getenv|env_flag\(", text):
            readers.append(path.name)
    assert not readers, f"read the environment through course_utils.runtime.modes(): {readers}"
