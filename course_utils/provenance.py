"""Where a cached result came from: one record for every results file the course ships.

A slow experiment is computed once and its numbers cached as JSON (``data/lesson04/``,
``data/lesson05/``); a reader of that file must be able to tell what produced it. Every
results file carries the record of :func:`record`: the date, the command, the device,
the versions of Python / torch / NumPy, the machine, the git commit of the code with
whether the course code had uncommitted changes, the seeds, the data and the settings
("budget"). :func:`check` refuses a file whose record lacks the fields a loader needs.

The git fields follow ``git rev-parse HEAD`` and ``git status --porcelain`` (Git's
plumbing commands, https://git-scm.com/docs/git-status#_porcelain_format_version_1):
``git_commit`` is the full 40-hex hash (``None`` outside a clone) and ``git_dirty`` is
``True`` when ``course_utils/`` or ``bench/`` differed from it (``None`` when unknown).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from course_utils.paths import REPO_ROOT

__all__ = ["git_state", "record", "machine", "check", "recompute_or_load", "CODE_DIRS"]

CODE_DIRS = ("course_utils", "bench")  # the code whose uncommitted changes make a result "dirty"


def _git(args: Sequence[str], root: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state(root: str | os.PathLike = REPO_ROOT) -> dict[str, Any]:
    """``{"git_commit": <full hash or None>, "git_dirty": <bool or None>}`` for the clone at ``root``.

    Outside a git clone (an installed package, a copied folder) both are ``None``.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"root must be an existing folder (the repository), got {str(root)!r}")
    commit = _git(["rev-parse", "HEAD"], root) or None
    if commit is None:
        return {"git_commit": None, "git_dirty": None}
    status = _git(["status", "--porcelain", "--", *CODE_DIRS], root)
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}


def record(
    command: str,
    *,
    device: Any,
    seeds: Iterable[int],
    data: str,
    wall_seconds: float | None = None,
    budget: Mapping[str, Any] | None = None,
    root: str | os.PathLike = REPO_ROOT,
) -> dict[str, Any]:
    """The provenance record of a result produced now by ``command`` on ``device``.

    Args:
        command: how to reproduce the file, e.g. ``"python -m course_utils.lessons.lesson05.experiment2d --recompute"``.
        device: where it ran (a ``torch.device`` or a description such as ``"GPU (H100)"``).
        seeds: the seeds of the runs (their spread is what the lessons report).
        data: what the models were trained on.
        wall_seconds: the whole run's wall-clock time, when measured.
        budget: the settings that size the run (steps, batch size, ...), when not stored elsewhere.
        root: the clone whose git commit is recorded.
    """
    import numpy as np
    import torch

    if not isinstance(command, str) or not command.strip():
        raise ValueError(
            "command must say how the result was produced, e.g. "
            "'python -m course_utils.lessons.lesson05.experiment2d --recompute'"
        )
    rec: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "device": str(device),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        **git_state(root),
        "seeds": [int(s) for s in seeds],
        "data": data,
    }
    if wall_seconds is not None:
        rec["wall_seconds"] = round(float(wall_seconds), 1)
    if budget is not None:
        rec["budget"] = dict(budget)
    return rec


def machine(command: str, root: str | os.PathLike = REPO_ROOT) -> dict[str, Any]:
    """Where and when a timing was measured: the header of every benchmark's figures (``bench/``).

    The command, the date, the cores, Python, the 1-minute load average (a busy machine reads
    slower) and the git state; unlike :func:`record` it imports neither torch nor NumPy.
    """
    if not isinstance(command, str) or not command.strip():
        raise ValueError("command must say how the figures were measured, e.g. 'python bench/grading.py --n 20'")
    return {
        "command": command,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1min": os.getloadavg()[0],
        **git_state(root),
    }


def check(results: dict, path: str | os.PathLike, schema: str, required: Iterable[str]) -> dict:
    """``results`` when it has ``schema`` and every ``required`` provenance field, else a ValueError."""
    if not isinstance(results, dict) or results.get("schema") != schema:
        found = results.get("schema") if isinstance(results, dict) else type(results).__name__
        raise ValueError(f"{path} is not a {schema} file (schema {found!r}); recompute it (its module's --recompute)")
    prov = results.get("provenance")
    missing = [k for k in required if not isinstance(prov, dict) or k not in prov]
    if missing:
        raise ValueError(f"{path} lacks provenance fields {missing}; recompute it rather than trust it")
    return results


def recompute_or_load(
    module: str,
    argv: Sequence[str],
    path: Path,
    compute: Callable[[str], dict],
    load: Callable[[], dict],
    description: str = "",
) -> dict:
    """The command line of a cached result: load the shipped file, or ``--recompute`` and save it.

    ``python -m <module> [--recompute]``. ``compute(command)`` runs the experiment and returns
    its results with a :func:`record` built from ``command`` (the exact command line); the
    results are written to ``path`` as JSON. Without ``--recompute``, ``load()`` reads them.
    """
    if not module.startswith("course_utils."):
        raise ValueError(f"module must be the dotted name run with python -m, got {module!r}")
    p = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    p.add_argument("--recompute", action="store_true", help="run the experiment and overwrite the shipped file")
    args = p.parse_args(list(argv))
    if not args.recompute:
        return load()
    results = compute(" ".join(["python -m", module, *argv]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1))
    print(f"Saved results to {path}.")
    return results
