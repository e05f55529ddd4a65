"""`python -m course_utils --help` lists every task: each command, each module with a main, each Make target."""

import re
import subprocess
import sys

from course_utils.__main__ import MAKE_ONLY, MODULE_TASKS, main, tasks
from course_utils.build.cli import COMMANDS as BUILD_COMMANDS
from course_utils.grading.cli import COMMANDS as GRADING_COMMANDS

COMMANDS = {**BUILD_COMMANDS, **GRADING_COMMANDS}


def test_help_lists_every_task(repo_root):
    run = subprocess.run(
        [sys.executable, "-m", "course_utils", "--help"], capture_output=True, text=True, timeout=120, cwd=repo_root
    )
    assert run.returncode == 0, run.stderr
    listed = {ln.split()[0] for ln in run.stdout.splitlines() if ln.startswith("  ")}
    assert set(COMMANDS) | set(MODULE_TASKS) <= listed, sorted(set(COMMANDS) | set(MODULE_TASKS) - listed)


def test_every_module_with_a_command_line_is_a_task(repo_root):
    """A module of the package that runs as a program (``if __name__ == "__main__"``) is a task."""
    internal = {
        "course_utils.grading.cli",
        "course_utils.build.cli",  # the build and grading tasks
        "course_utils.grading.worker",
        "course_utils.__main__",
    }  # one grading worker; this CLI
    programs = set()
    for path in (repo_root / "course_utils").rglob("*.py"):
        if re.search(r'^if __name__ == "__main__":', path.read_text(), flags=re.M):
            programs.add(".".join(path.relative_to(repo_root).with_suffix("").parts))
    missing = programs - internal - {module for module, _ in MODULE_TASKS.values()}
    assert not missing, f"add {sorted(missing)} to course_utils.__main__.MODULE_TASKS"


def test_every_makefile_target_is_a_task_or_listed_as_make_only(repo_root):
    makefile = (repo_root / "Makefile").read_text()
    unlisted = []
    for target, recipe in re.findall(r"^([a-z][a-z-]*):[^\n]*##[^\n]*\n((?:\t[^\n]*\n?)*)", makefile, flags=re.M):
        commands = set(re.findall(r"-m course_utils\.(?:grading|build) ([a-z-]+)", recipe))
        if "-m course_utils.build.site" in recipe:
            commands.add("site")
        if target == "help" or (commands and commands <= set(tasks())) or f"make {target}" in MAKE_ONLY:
            continue
        unlisted.append(target)
    assert not unlisted, f"Makefile targets that --help does not mention: {unlisted}"


def test_an_unknown_task_says_what_exists(capsys):
    assert main(["no-such-task"]) == 2
    err = capsys.readouterr().err
    assert "autograde" in err and "release" in err
    assert main([]) == 2


def test_build_and_grading_commands_have_distinct_names_and_both_run_from_the_one_entry_point(capsys):
    assert not set(BUILD_COMMANDS) & set(GRADING_COMMANDS)
    assert main(["check"]) == 0  # python -m course_utils check == python -m course_utils.build check
    assert "up to date" in capsys.readouterr().out


def test_a_notebook_that_timed_out_is_reported_as_a_time_out():
    """nbclient's time-out message ends with a preview of the cell; the FAILED line says the reason."""
    import nbformat
    from nbclient.exceptions import CellTimeoutError

    from course_utils.build.cli import _failure

    cell = nbformat.v4.new_code_cell("train()\nplot()")
    err = CellTimeoutError.error_from_timeout_and_cell("Cell execution timed out", 600, cell)
    assert _failure(err) == "A cell timed out while it was being executed, after 600 seconds."
    assert _failure(RuntimeError("Traceback...\nValueError: bad shape")) == "ValueError: bad shape"
