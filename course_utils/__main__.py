"""``python -m course_utils``: every task of the course from one command line.

``python -m course_utils --help`` lists them; ``python -m course_utils TASK --help`` shows a
task's options; ``python -m course_utils TASK ...`` runs it. The tasks are the build
commands (:data:`course_utils.build.cli.COMMANDS`), the grading commands
(:data:`course_utils.grading.cli.COMMANDS`) and the modules whose ``main`` builds
the site or recomputes a cached result (:data:`MODULE_TASKS`). The Makefile runs the same
commands; the few tasks that are only Makefile targets (a venv, the tests, the linter,
the benchmarks in ``bench/``) are listed at the end of the help.
"""

from __future__ import annotations

import importlib
import sys
from typing import Sequence

__all__ = ["MODULE_TASKS", "MAKE_ONLY", "tasks", "usage", "main"]

# task -> (module with main(argv), what it does)
MODULE_TASKS = {
    "site": ("course_utils.build.site", "the static HTML site of the executed solutions (--out build/site)"),
    "lesson04-sample-quality": (
        "course_utils.lessons.lesson04.sample_quality",
        "lesson 04's sample scores of the shipped weights: print them, or --recompute them",
    ),
    "lesson05-comparison": (
        "course_utils.lessons.lesson05.experiment2d",
        "lesson 05's network comparison: print the cached results, or --recompute them",
    ),
    "lesson05-bands": (
        "course_utils.lessons.lesson05.metric_bands2d",
        "lesson 05's reference bands of sliced W: print them, or --recompute them",
    ),
    "lesson05-width-study": (
        "course_utils.lessons.lesson05.time_width_study",
        "lesson 05's time-embedding width study: print it, or --recompute it",
    ),
}

# Makefile targets that are not a command of the package, and what runs them.
MAKE_ONLY = {
    "make env": "create .venv with the pinned packages",
    "make test": "the whole test-suite (pytest)",
    "make lint": "ruff check and ruff format --check with the settings in pyproject.toml",
    "make bench": "bench/run.py: the original notebook's MNIST loop against the course trainer",
    "make bench-grading": "bench/grading.py: submissions autograded per minute",
    "make bench-queue": "bench/grading_queue.py: the grading queue on PostgreSQL",
    "make clean": "remove build products",
    "python bench/lesson04_results.py": "recompute lesson 04's cached results (see bench/RESULTS.md)",
    "python bench/lesson04_weights.py": "train lesson 04's shipped sampling weights, four networks in lockstep",
}


def _command_lines():
    """The build and the grading command lines: ``(COMMANDS, main)`` of each."""
    from course_utils.build import cli as build_cli
    from course_utils.grading import cli as grading_cli

    return [(build_cli.COMMANDS, build_cli.main), (grading_cli.COMMANDS, grading_cli.main)]


def tasks() -> dict[str, str]:
    """Every task of ``python -m course_utils`` and its one-line summary, in help order."""
    out = {name: summary for commands, _ in _command_lines() for name, (_, summary) in commands.items()}
    out.update({name: summary for name, (_, summary) in MODULE_TASKS.items()})
    return out


def usage() -> str:
    """The help text: every task, then the Makefile-only ones."""
    width = max(len(n) for n in [*tasks(), *MAKE_ONLY]) + 2
    lines = ["usage: python -m course_utils TASK [options]   (python -m course_utils TASK --help)", "", "tasks:"]
    lines += [f"  {name:<{width}}{summary}" for name, summary in tasks().items()]
    lines += ["", "outside the package (see the README's table of Makefile targets):"]
    lines += [f"  {name:<{width}}{summary}" for name, summary in MAKE_ONLY.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one task with its own arguments; ``--help`` or no task prints :func:`usage`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    task, rest = argv[0], argv[1:]
    if task in MODULE_TASKS:
        module = importlib.import_module(MODULE_TASKS[task][0])
        return int(module.main(rest) or 0)
    for commands, command_main in _command_lines():
        if task in commands:
            return command_main([task, *rest])
    print(f"unknown task {task!r}; python -m course_utils --help lists them: {', '.join(tasks())}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
