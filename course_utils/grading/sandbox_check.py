"""Decide whether learner code may be graded here: probe the sandbox from inside its box.

The sandbox (:mod:`.sandbox`: bubblewrap, bwrap(1), with read-only binds of what a
kernel needs; a throw-away uid via util-linux setpriv(1)) protects by showing
nothing else. This module proves that before grading starts:

* :func:`check_sandbox` is the preflight: it runs a probe *inside a job's box, as its
  uid*, and reports, as a :class:`SandboxReport`, what the kernel could import and
  read, every path it could see (each must be one of the binds or a parent folder
  made to reach them), the processes in its ``/proc`` (only its own) and its network
  interfaces (loopback only), and that none of the secret paths exists in the box;
  :func:`require_sandbox` is the pipeline's entry point (raises
  :class:`~.sandbox.SandboxUnavailable` with what to fix).
* :func:`course_secret_paths` lists what a course must keep out of the box (hidden
  tests, submissions, the gradebook, the repository's ``.git`` and solutions, ...).

The kernels themselves are started by :mod:`.sandbox_kernel` (jupyter_client kernel
manager, nbgrader's ``Execute``); see the nbgrader FAQ, "Does nbgrader protect
against unsafe code?", for why all this is needed.

Everything here is also importable from :mod:`.sandbox`, and names of that module are
looked up through it at call time (``_sb.NAME``), so monkeypatching
``course_utils.grading.sandbox.NAME`` reaches this code as before the split.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

from course_utils.paths import REPO_ROOT
from course_utils.grading import sandbox as _sb


def course_secret_paths(course: Any) -> list[Path]:
    """What learner kernels must not reach in a course laid out like ``CourseDirs``.

    ``course`` needs ``root``, ``path(name)`` and ``sqlite_file`` (see
    :class:`course_utils.grading.course.CourseDirs`): the nbgrader source (hidden tests),
    submitted/, autograded/, feedback/, the gradebook and its journal files, backups/,
    build/, downloaded/ (LMS exports); plus, for the repository this package runs from, .git/ (its history holds
    the solutions), solutions/, authoring/ and tests/.
    """
    root = Path(course.root)
    found = [course.path(n) for n in ("source", "submitted", "autograded", "feedback")]
    db = course.sqlite_file
    if db is not None:
        found += [Path(str(db) + suffix) for suffix in ("", "-journal", "-wal", "-shm")]
    found += [root / n for n in ("gradebook.db", "backups", "build", ".git", "authoring", "grades.csv", "downloaded")]
    repo = REPO_ROOT
    if (repo / "pyproject.toml").is_file():
        found += [
            repo / n
            for n in (
                ".git",
                "solutions",
                "authoring",
                "tests",
                "build",
                "backups",
                "gradebook.db",
                "submitted",
                "autograded",
                "feedback",
                "downloaded",
            )
        ]
    return list(dict.fromkeys(p for p in found if os.path.lexists(p)))


def require_sandbox(
    secrets_or_course: Any, readable_paths: Iterable[str] = (), config: _sb.SandboxConfig | None = None
) -> SandboxReport:
    """The pipeline's preflight: :func:`check_sandbox` on a course or a list of secrets (raises).

    ``secrets_or_course``: a list of paths, or a course object (see :func:`course_secret_paths`);
    for a course, its ``data/`` folder is added to ``readable_paths`` when it exists.
    """
    readable = [str(p) for p in readable_paths]
    if hasattr(secrets_or_course, "path") and hasattr(secrets_or_course, "root"):
        secrets_list: list[Any] = _sb.course_secret_paths(secrets_or_course)
        data = Path(secrets_or_course.root) / "data"
        readable += [str(data)] if data.is_dir() else []
    else:
        secrets_list = [p for p in secrets_or_course if p is not None]
    return _sb.check_sandbox(secrets_list, readable, config, raise_on_failure=True)


@dataclass(frozen=True)
class SandboxReport:
    """Outcome of :func:`check_sandbox`: ``problems`` say what to fix; ``passed`` what was verified."""

    ok: bool
    problems: tuple[str, ...]
    passed: tuple[str, ...]
    uid: int | None = None
    memory_cgroup: bool = False

    def summary(self) -> str:
        """A readable multi-line account: the verdict, then each check passed and each problem."""
        head = "sandbox OK" if self.ok else "sandbox NOT usable"
        mem = "memory cgroup" if self.memory_cgroup else "no memory cgroup: RLIMIT_AS"
        lines = [f"{head} (probe uid {self.uid}, bubblewrap, {mem})"]
        lines += [f"  ok: {p}" for p in self.passed] + [f"  PROBLEM: {p}" for p in self.problems]
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        """Raise :class:`~.sandbox.SandboxUnavailable` listing the problems, unless ``ok``."""
        if not self.ok:
            raise _sb.SandboxUnavailable(self.problems)


_PROBE = r"""
import importlib, json, os, socket, sys
req = json.load(sys.stdin)
def readable(p):
    try:
        if os.path.isdir(p):
            os.listdir(p)
        else:
            with open(p, "rb") as f:
                f.read(1)
        return True
    except OSError:
        return False
out = {"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "groups": os.getgroups(),
       "stdlib": os.path.realpath(os.path.dirname(os.__file__)), "version": sys.version,
       "imports": {}, "readable": {}, "secret": {}, "visible": [], "pids": [], "interfaces": []}
for m in req["modules"]:
    try:
        importlib.import_module(m)
        out["imports"][m] = ""
    except BaseException as e:
        out["imports"][m] = f"{type(e).__name__}: {e}"
for p in req["readable"]:
    out["readable"][p] = readable(p)
for p in req["secret"]:
    out["secret"][p] = os.path.lexists(p)
stop = set(req["binds"]) | {"/proc", "/dev"}
for dirpath, dirnames, filenames in os.walk("/"):
    for n in dirnames + filenames:
        out["visible"].append(os.path.join(dirpath, n))
    dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in stop]
out["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
out["interfaces"] = [name for _, name in socket.if_nameindex()]
print("PROBE" + json.dumps(out))
"""


def check_sandbox(
    secret_paths: Iterable[str | os.PathLike | None],
    readable_paths: Iterable[str] = (),
    config: _sb.SandboxConfig | None = None,
    *,
    modules: Sequence[str] = ("course_utils", "torch", "numpy", "ipykernel"),
    raise_on_failure: bool = True,
) -> SandboxReport:
    """Preflight: verify, from inside a job's box and as its uid, what learner kernels can reach.

    Checks that we are root with bwrap, setpriv and prlimit; that the sandbox uid can run
    ``config.python`` and import ``modules``; that ``readable_paths`` (plus
    ``config.readable_paths``) are readable; that every path visible in the box is one of
    its binds (or a folder made to reach one); that none of ``secret_paths`` exists in it;
    that ``/proc`` shows only the box's processes and that the only network interface is
    the box's own loopback. Raises :class:`SandboxUnavailable` when a check fails, unless
    ``raise_on_failure=False``.
    """
    cfg = config or _sb.SandboxConfig()
    secrets_list = [os.path.abspath(p) for p in secret_paths if p is not None]
    cfg = replace(
        cfg,
        readable_paths=tuple(dict.fromkeys(list(cfg.readable_paths) + [os.path.abspath(p) for p in readable_paths])),
        secret_paths=tuple(dict.fromkeys(cfg.secret_paths + tuple(secrets_list))),
    )
    problems, passed = _sb._basic_problems(cfg), []
    uid, cgroup = None, False
    if not problems and not _sb._bwrap_works():
        problems.append(
            "bubblewrap cannot create its namespaces here (`bwrap --unshare-pid "
            "--unshare-net` fails): grade as root on a machine (or container) that "
            "allows new PID, network and mount namespaces"
        )
    if not problems:
        try:
            with _sb.SandboxJob.open(cfg) as job:
                uid, cgroup = job.uid, job.cgroup is not None
                binds = [*_sb._system_paths(), *_sb._binds_for(cfg), str(job.job_dir)]
                request = {
                    "modules": list(modules),
                    "readable": list(cfg.readable_paths),
                    "secret": secrets_list,
                    "binds": binds,
                }
                proc = job.run([cfg.python, "-c", _sb._PROBE], input=json.dumps(request), timeout=300)
        except _sb.SandboxUnavailable as exc:
            problems.extend(exc.problems)
            proc = None
        if proc is not None:
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("PROBE")]
            if not lines:
                problems.append(
                    f"the sandbox uid could not run {cfg.python} in the box (exit "
                    f"{proc.returncode}): {proc.stderr.strip()[-500:]}"
                )
            else:
                res = json.loads(lines[-1][5:])
                want = _sb._python_info(cfg.python)
                if (res["stdlib"], res["version"]) != (want["stdlib"], want["version"]):
                    problems.append(
                        f"in the box, {cfg.python} runs Python {res['version'].split()[0]} with the "
                        f"standard library of {res['stdlib']}, not {want['version'].split()[0]} from "
                        f"{want['stdlib']}: a directory it needs is not bound (see sandbox_fs._binds_for)"
                    )
                problems += _sb._judge_probe(res, uid, passed, binds)
    report = _sb.SandboxReport(not problems, tuple(problems), tuple(passed), uid, cgroup)
    if raise_on_failure:
        report.raise_if_failed()
    return report


def _judge_probe(res: dict, uid: int | None, passed: list[str], binds: Sequence[str] = ()) -> list[str]:
    """The problems in the probe's answer ``res``; appends what was verified to ``passed``."""
    problems = []
    if res["uid"] != uid or res["euid"] != uid or res["gid"] != uid or res["groups"]:
        problems.append(
            f"the probe ran as uid {res['uid']}/{res['euid']} gid {res['gid']} groups "
            f"{res['groups']}, expected uid=gid={uid} and no groups: check setpriv"
        )
    else:
        passed.append(f"kernel identity: uid=gid={uid}, no supplementary groups")
    for mod, err in res["imports"].items():
        if err:
            problems.append(
                f"the sandbox uid cannot import {mod} ({err}): make the virtual "
                "environment and the repo readable by others (chmod -R o+rX <dir>)"
            )
        else:
            passed.append(f"import {mod}")
    for p, ok in res["readable"].items():
        if ok:
            passed.append(f"readable: {p}")
        else:
            problems.append(f"the sandbox uid cannot read {p}, which the lessons need: chmod -R o+rX {shlex.quote(p)}")
    allowed = [*binds, "/proc", "/dev", "/tmp"]
    extra = [p for p in res["visible"] if not any(_sb._within(p, b) or _sb._within(b, p) for b in allowed)]
    if extra:
        problems.append(f"the box shows paths that were not bound: {extra[:10]}: report this bug")
    elif binds:
        passed.append(f"only the {len(binds)} binds are visible in the box ({len(res['visible'])} paths)")
    if len(res["pids"]) > 3:
        problems.append(
            f"the box's /proc lists {len(res['pids'])} processes, expected only its own: "
            "bwrap --unshare-pid did not take effect"
        )
    else:
        passed.append(f"/proc lists only the box's own processes {res['pids']}")
    if set(res["interfaces"]) - {"lo"}:
        problems.append(f"the box has network interfaces {res['interfaces']}: no network isolation")
    else:
        passed.append("no network: the box has only its own loopback")
    shown = [p for p, exists in res["secret"].items() if exists]
    for p in shown[:20]:
        problems.append(f"learner code could see {p}: it must not be inside a readable path")
    if res["secret"] and not shown:
        passed.append(f"none of the {len(res['secret'])} secret paths exists in the box")
    return problems
