"""Cheap checks of the grading's input and output channels: LMS zips, escaping, limits named.

`make zip-collect` on Canvas- and Moodle-style exports (and on one that matches
nothing), learner-id validation, the escaping used by the report and the CSV, and
the reason given for each resource limit.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from course_utils.grading import cli
from course_utils.grading.escape import for_spreadsheet, for_terminal
from course_utils.paths import REPO_ROOT
from course_utils.grading.limits import Limits, limit_exceeded
from course_utils.grading.zipcollect import valid_learner_id, zip_collect

A = "01_sinusoidal_embedding"
NB = REPO_ROOT / "notebooks" / A / f"{A}.ipynb"


def _course(tmp: Path, members: dict[str, bytes]) -> Path:
    root = tmp / "course"
    archive = root / "downloaded" / A / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "export.zip", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return root


def test_canvas_export_puts_each_file_in_its_learners_folder(tmp_path):
    data = NB.read_bytes()
    root = _course(
        tmp_path,
        {
            f"doejane_12345_67890_{A}.ipynb": data,
            f"smithbob_late_222_333_{A}-1.ipynb": data,
            f"leeann_LATE_444_555_{A}.ipynb": data,
        },
    )
    collected, _ = zip_collect(root, A)
    got = sorted(str(p.relative_to(root / "submitted")) for p in collected)
    assert got == [f"{uid}/{A}/{A}.ipynb" for uid in ("12345", "222", "444")]
    assert (root / "submitted" / "12345" / A / f"{A}.ipynb").read_bytes() == data


def test_moodle_export_uses_the_participant_folder(tmp_path):
    root = _course(tmp_path, {f"Jane Doe_9001_assignsubmission_file_/{A}.ipynb": NB.read_bytes()})
    collected, _ = zip_collect(root, A)
    assert [str(p.relative_to(root / "submitted")) for p in collected] == [f"9001/{A}/{A}.ipynb"]


def test_a_zip_that_matches_nothing_makes_the_command_fail(tmp_path, monkeypatch, capsys):
    root = _course(tmp_path, {"my homework.ipynb": NB.read_bytes(), f"x_1_2_{A}.txt": b"{}"})
    monkeypatch.setattr(cli, "REPO_ROOT", root)
    assert cli.main(["zip-collect", "--assignment", A]) == 1
    assert "collected NOTHING" in capsys.readouterr().err
    assert not list(root.glob("submitted/*/*"))


def test_a_zip_member_outside_the_folder_is_refused(tmp_path, monkeypatch, capsys):
    root = _course(tmp_path / "t", {f"../doejane_1_2_{A}.ipynb": NB.read_bytes()})
    monkeypatch.setattr(cli, "REPO_ROOT", root)
    assert cli.main(["zip-collect", "--assignment", A]) == 1
    assert "outside" in capsys.readouterr().err and not list(root.glob("submitted/*/*"))


@pytest.mark.parametrize(
    "learner, ok",
    [
        ("12345", True),
        ("jane.doe@uni", True),
        ("..", False),
        ("a/b", False),
        ("x\x1b[2J", False),
        ("", False),
        ("-rf", False),
    ],
)
def test_learner_ids_are_validated(learner, ok):
    assert valid_learner_id(learner) is ok


def test_escaping_for_the_terminal_and_spreadsheets():
    assert for_terminal("ada\r\x1b[1A10 / 10\u202e") == "ada\\x0d\\x1b[1A10 / 10\\u202e"
    assert for_terminal("Zoë Ångström") == "Zoë Ångström"
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert for_spreadsheet(start + "SUM(A1)").startswith("'")
    assert for_spreadsheet("ada") == "ada"


@pytest.mark.parametrize(
    "exit_code, oom, errors, words",
    [
        (137, 1, [], ["memory limit", "4 GiB"]),
        (152, 0, [], ["CPU-time limit", "600 s"]),
        (None, 0, ["OSError: [Errno 27] File too large"], ["file-size limit", "1024 MB"]),
        (None, 0, ["RuntimeError: DefaultCPUAllocator: can't allocate memory: you tried"], ["memory limit"]),
        (None, 0, ["OSError: [Errno 24] Too many open files"], ["open-file limit"]),
        (None, 0, ["ValueError: wrong shape"], []),
        (1, 0, [], []),
    ],
)
def test_each_limit_is_named(exit_code, oom, errors, words):
    reason = limit_exceeded(Limits(), exit_code, oom, True, errors)
    assert all(w in reason for w in words) and bool(reason) == bool(words), reason


def test_a_sigkill_too_early_to_be_the_cpu_limit_is_not_called_one():
    assert limit_exceeded(Limits(cpu_seconds=600), 137, 0, True, [], seconds=2.0) == ""
    assert "CPU-time" in limit_exceeded(Limits(cpu_seconds=60), 137, 0, True, [], seconds=100.0)


def test_a_sigkill_is_the_cpu_limit_s_only_when_the_measured_cpu_time_reached_it():
    """Measured CPU time decides over wall time: a kernel that slept and then killed itself is not
    the CPU limit however long it ran, and one that burned its CPU seconds is, however fast."""
    sixty = Limits(cpu_seconds=60)
    assert limit_exceeded(sixty, 137, 0, True, [], seconds=100.0, cpu_used=7.0) == ""
    assert "CPU-time" in limit_exceeded(sixty, 137, 0, True, [], seconds=20.0, cpu_used=60.4)
    assert "CPU-time" in limit_exceeded(sixty, 137, 0, True, [], seconds=20.0, cpu_used=55.0)  # >= 90%
    assert "memory" in limit_exceeded(sixty, 137, 1, True, [], seconds=20.0, cpu_used=60.4)  # the OOM killer


def test_the_kernel_cpu_time_is_measured_from_its_reaped_process():
    import subprocess
    import sys

    from course_utils.grading.sandbox_kernel import _children_cpu_seconds

    before = _children_cpu_seconds()
    subprocess.run(
        [sys.executable, "-c", "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass"],
        check=True,
    )
    assert 0.4 <= _children_cpu_seconds() - before <= 5.0


def test_limits_reject_bad_values_with_what_to_fix():
    with pytest.raises(ValueError, match="cpu_seconds"):
        Limits(cpu_seconds=0)
    with pytest.raises(ValueError, match="use_cgroup"):
        Limits(use_cgroup="maybe")
    assert "--as=" in " ".join(Limits().prlimit_args(address_space=True))
    assert "--as=" not in " ".join(Limits().prlimit_args(address_space=False))
