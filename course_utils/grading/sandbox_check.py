"""Decide whether learner code may be graded here: seal the secrets, then probe the sandbox.

The sandbox (:mod:`.sandbox`: a throw-away uid via util-linux setpriv(1), a private
mount namespace via unshare(1) where root has CAP_SYS_ADMIN) only protects what the
sandbox uid cannot reach. This module checks that before grading starts:

* :func:`make_private` strips group/other permissions from the secret paths
  (``chmod -R go-rwx``, symlinks untouched, content never modified);
  :func:`course_secret_paths` lists them for a course (hidden tests, submissions,
  the gradebook, the repository's ``.git`` and solutions, ...).
* :func:`check_sandbox` is the preflight: it runs a probe *as a sandbox uid* and
  reports, as a :class:`SandboxReport`, what the kernel could import, read and write;
  :func:`require_sandbox` is the pipeline's entry point (seal, then check, raising
  :class:`~.sandbox.SandboxUnavailable` with what to fix).

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
import stat
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

from . import sandbox as _sb


def make_private(paths: Iterable[str | os.PathLike | None]) -> int:
    """``chmod -R go-rwx`` on each path (symlinks untouched); returns how many modes changed.

    Use it on the secrets learner code must not reach: the source dir with hidden tests,
    the gradebook, submitted/, autograded/, feedback/. Content is never modified.
    """
    changed = 0

    def fix(p: str) -> None:
        nonlocal changed
        st = os.lstat(p)
        if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o077:
            os.chmod(p, stat.S_IMODE(st.st_mode) & ~0o077)
            changed += 1

    for top in paths:
        if top is None or not os.path.lexists(top):
            continue
        fix(str(top))
        if os.path.isdir(top) and not os.path.islink(top):
            for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
                for name in dirnames + filenames:
                    fix(os.path.join(dirpath, name))
    return changed


def course_secret_paths(course: Any) -> list[Path]:
    """What learner kernels must not reach in a course laid out like ``CourseDirs``.

    ``course`` needs ``root``, ``path(name)`` and ``sqlite_file`` (see
    :class:`course_utils.grading.course.CourseDirs`): the nbgrader source (hidden tests),
    submitted/, autograded/, feedback/, the gradebook and its journal files, backups/,
    build/; plus, for the repository this package runs from, .git/ (its history holds
    the solutions), solutions/, authoring/ and tests/.
    """
    root = Path(course.root)
    found = [course.path(n) for n in ("source", "submitted", "autograded", "feedback")]
    db = course.sqlite_file
    if db is not None:
        found += [Path(str(db) + suffix) for suffix in ("", "-journal", "-wal", "-shm")]
    found += [root / n for n in ("gradebook.db", "backups", "build", ".git", "authoring", "grades.csv")]
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file():
        found += [repo / n for n in (".git", "solutions", "authoring", "tests", "build", "backups",
                                     "gradebook.db", "submitted", "autograded", "feedback")]
    return list(dict.fromkeys(p for p in found if os.path.lexists(p)))


def require_sandbox(secrets_or_course: Any, readable_paths: Iterable[str] = (),
                    config: _sb.SandboxConfig | None = None, *, privatize: bool = True) -> SandboxReport:
    """The pipeline's preflight: make the secrets private, then :func:`check_sandbox` (raises).

    ``secrets_or_course``: a list of paths, or a course object (see :func:`course_secret_paths`);
    for a course, its ``data/`` folder is added to ``readable_paths`` when it exists.
    ``privatize``: run :func:`make_private` on the secrets first (changes modes, never content).
    """
    readable = [str(p) for p in readable_paths]
    if hasattr(secrets_or_course, "path") and hasattr(secrets_or_course, "root"):
        secrets_list: list[Any] = _sb.course_secret_paths(secrets_or_course)
        data = Path(secrets_or_course.root) / "data"
        readable += [str(data)] if data.is_dir() else []
    else:
        secrets_list = [p for p in secrets_or_course if p is not None]
    if privatize and os.geteuid() == 0:
        _sb.make_private(secrets_list)
    return _sb.check_sandbox(secrets_list, readable, config, raise_on_failure=True)


@dataclass(frozen=True)
class SandboxReport:
    """Outcome of :func:`check_sandbox`: ``problems`` say what to fix; ``passed`` what was verified."""

    ok: bool
    problems: tuple[str, ...]
    passed: tuple[str, ...]
    uid: int | None = None
    mount_namespace: bool = False
    network_isolated: bool = False

    def summary(self) -> str:
        """A readable multi-line account: the verdict, then each check passed and each problem."""
        head = "sandbox OK" if self.ok else "sandbox NOT usable"
        ns = "with" if self.mount_namespace else "without"
        net = "no network" if self.network_isolated else "network NOT isolated"
        lines = [f"{head} (probe uid {self.uid}, {ns} private mount namespace, {net})"]
        lines += [f"  ok: {p}" for p in self.passed] + [f"  PROBLEM: {p}" for p in self.problems]
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        """Raise :class:`~.sandbox.SandboxUnavailable` listing the problems, unless ``ok``."""
        if not self.ok:
            raise _sb.SandboxUnavailable(self.problems)


_PROBE = r"""
import importlib, json, os, sys
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
       "imports": {}, "readable": {}, "secret": {}}
for m in req["modules"]:
    try:
        importlib.import_module(m)
        out["imports"][m] = ""
    except BaseException as e:
        out["imports"][m] = f"{type(e).__name__}: {e}"
for p in req["readable"]:
    out["readable"][p] = readable(p)
for p in req["secret"]:
    out["secret"][p] = [readable(p), os.access(p, os.W_OK)]
print("PROBE" + json.dumps(out))
"""


def check_sandbox(secret_paths: Iterable[str | os.PathLike | None], readable_paths: Iterable[str] = (),
                  config: _sb.SandboxConfig | None = None, *,
                  modules: Sequence[str] = ("course_utils", "torch", "numpy", "ipykernel"),
                  raise_on_failure: bool = True, max_entries: int = 20000) -> SandboxReport:
    """Preflight: verify, as a sandbox uid, what learner kernels can and cannot reach.

    Checks that we are root with setpriv; that the sandbox uid can run ``config.python``
    and import ``modules``; that ``readable_paths`` (plus ``config.readable_paths``) are
    readable; and that nothing under each of ``secret_paths`` (walked as root, up to
    ``max_entries`` entries each) is readable or writable. Raises :class:`SandboxUnavailable`
    when a check fails, unless ``raise_on_failure=False``.
    """
    cfg = config or _sb.SandboxConfig()
    cfg = replace(cfg, readable_paths=tuple(dict.fromkeys(
        list(cfg.readable_paths) + [os.path.abspath(p) for p in readable_paths])))
    problems, passed = _sb._basic_problems(cfg), []
    uid, namespace, net = None, False, False
    if not problems:
        secrets_list: list[str] = []
        for top in secret_paths:
            if top is None:
                continue
            top = os.path.abspath(top)
            if not os.path.lexists(top):
                passed.append(f"secret {top} does not exist (nothing to protect)")
                continue
            found = [top]
            for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
                found += [os.path.join(dirpath, n) for n in dirnames + filenames]
                if len(found) >= max_entries:
                    passed.append(f"secret {top}: only the first {max_entries} entries were probed")
                    break
            secrets_list += found[:max_entries]
        with _sb.SandboxJob.open(cfg) as job:
            uid, namespace, net = job.uid, job.namespace, job.network_isolated
            request = {"modules": list(modules), "readable": list(cfg.readable_paths), "secret": secrets_list}
            proc = job.run([cfg.python, "-c", _sb._PROBE], input=json.dumps(request), timeout=300)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("PROBE")]
        if not lines:
            closed = sorted({a for a in map(_sb._closed_ancestor, _sb._runtime_paths(cfg.python)) if a})
            why = (f" The directories {closed} are private (no o+x): install Python and the venv "
                   "outside them, grant traversal (chmod o+x), or run the grader where "
                   "`unshare --mount` works so the sandbox can hide and re-expose paths "
                   "(SandboxConfig.mount_namespace)." if closed and not namespace else "")
            problems.append(f"the sandbox uid could not run {cfg.python} (exit {proc.returncode}): "
                            f"{proc.stderr.strip()[-500:]}{why}")
        else:
            res = json.loads(lines[-1][5:])
            want = _sb._python_info(cfg.python)
            if (res["stdlib"], res["version"]) != (want["stdlib"], want["version"]):
                closed = sorted({a for a in map(_sb._closed_ancestor, want["paths"]) if a})
                problems.append(
                    f"as the sandbox uid, {cfg.python} runs Python {res['version'].split()[0]} with the "
                    f"standard library of {res['stdlib']}, not {want['version'].split()[0]} from "
                    f"{want['stdlib']}: the directories {closed} are private (no o+x). Install Python "
                    "and the venv outside them, grant traversal (chmod o+x), or grade where `unshare "
                    "--mount` works so the sandbox re-exposes them (SandboxConfig.mount_namespace)")
            problems += _sb._judge_probe(res, uid, passed)
    report = _sb.SandboxReport(not problems, tuple(problems), tuple(passed), uid, namespace, net)
    if raise_on_failure:
        report.raise_if_failed()
    return report


def _judge_probe(res: dict, uid: int | None, passed: list[str]) -> list[str]:
    """The problems in the probe's answer ``res``; appends what was verified to ``passed``."""
    problems = []
    if res["uid"] != uid or res["euid"] != uid or res["gid"] != uid or res["groups"]:
        problems.append(f"the probe ran as uid {res['uid']}/{res['euid']} gid {res['gid']} groups "
                        f"{res['groups']}, expected uid=gid={uid} and no groups: check setpriv")
    else:
        passed.append(f"kernel identity: uid=gid={uid}, no supplementary groups")
    for mod, err in res["imports"].items():
        if err:
            problems.append(f"the sandbox uid cannot import {mod} ({err}): make the virtual "
                            "environment and the repo readable by others (chmod -R o+rX <dir>)")
        else:
            passed.append(f"import {mod}")
    for p, ok in res["readable"].items():
        if ok:
            passed.append(f"readable: {p}")
        else:
            problems.append(f"the sandbox uid cannot read {p}, which the lessons need: "
                            f"chmod -R o+rX {shlex.quote(p)} (and o+x on its parents)")
    leaks = [(p, r, w) for p, (r, w) in res["secret"].items() if r or w]
    for p, r, w in leaks[:20]:
        what = " and ".join(x for x, flag in (("read", r), ("write", w)) if flag)
        problems.append(f"learner code could {what} {p}: make the secrets private, e.g. "
                        "course_utils.grading.sandbox.make_private([...]) (chmod -R go-rwx)")
    if len(leaks) > 20:
        problems.append(f"... and {len(leaks) - 20} more secret entries are reachable")
    if res["secret"] and not leaks:
        passed.append(f"{len(res['secret'])} secret entries are neither readable nor writable")
    return problems
