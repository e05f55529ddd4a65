"""What a sandbox job's uid may see of this machine, and taking back what it leaves there.

:mod:`.sandbox` decides who runs learner code (a pool uid, via util-linux setpriv(1))
and whether the job gets private namespaces (unshare(1)); this module is the file
system and process work on the host behind that:

* The view. In the job's private mount namespace (``unshare --mount --propagation
  private``; mount_namespaces(7)), :func:`_mount_script_for` writes the shell that,
  run as root before setpriv drops to the uid, covers the hidden and secret paths with
  empty tmpfs mounts (a file: with a mode-0 file) and puts back, by bind mounts, only
  what the kernel needs: the interpreter's directories (asked of the interpreter
  once, :func:`_python_info`, :func:`_runtime_paths`), the readable data paths and the
  job dir. An ancestor others cannot traverse (:func:`_closed_ancestor`, e.g. a 0700
  ``/root`` holding the venv) is covered too, which is what makes such an interpreter
  usable; without the namespace :func:`~.sandbox_check.check_sandbox` names it as the
  reason the uid cannot run Python.
* File modes: :func:`_seal` (``chmod go-rwx`` on each secret path itself, at every job
  start) and :func:`_check_root_dir` (the scratch root and its lock dir must be real,
  root-owned directories others cannot write).
* Taking back: :func:`processes_of` finds the uid's processes by the real, effective
  and saved uids in ``/proc/<pid>/status`` (proc(5)); :func:`_kill_all` runs
  ``kill -9 -1`` as that uid (kill(2): every process it may signal, so a fork loop
  cannot outrun it); :func:`_remove_tree` removes files without following symlinks.

Everything here is also importable from :mod:`.sandbox`, and names of that module are
looked up through it at call time (``_sb.NAME``), so monkeypatching
``course_utils.grading.sandbox.NAME`` reaches this code as before the split.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import time
from pathlib import Path
from typing import Iterable


def _within(path: str, parent: str) -> bool:
    """``path`` is ``parent`` or lies below it (plain string test, no symlinks resolved)."""
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _minimal(paths: Iterable[str]) -> list[str]:
    """Drop paths nested inside another path of the list."""
    out: list[str] = []
    for p in sorted(set(paths), key=len):
        if not any(_sb._within(p, q) for q in out):
            out.append(p)
    return out


_PY_INFO: dict[str, dict] = {}
_INFO_CODE = ("import sys, os, json, importlib.util as u\n"
              "s = u.find_spec('course_utils')\n"
              "loc = list(s.submodule_search_locations or []) if s else []\n"
              "print(json.dumps({'stdlib': os.path.dirname(os.__file__), 'version': sys.version,\n"
              "                  'paths': [sys.prefix, sys.base_prefix, sys.exec_prefix] + sys.path + loc}))")


def _python_info(python: str) -> dict:
    """Where ``python`` finds its stdlib, packages and course_utils (asked once, as root)."""
    if python not in _sb._PY_INFO:
        out = subprocess.run([python, "-c", _sb._INFO_CODE], capture_output=True, text=True, timeout=60,
                             env={"PATH": _sb._SYS_PATH, "PYTHONNOUSERSITE": "1"}, cwd="/")
        info = json.loads(out.stdout) if out.returncode == 0 else {"stdlib": "", "version": "", "paths": []}
        found = info["paths"] + [os.path.dirname(os.path.dirname(python)), os.path.dirname(os.path.realpath(python))]
        info["paths"] = [os.path.realpath(p) for p in found if p and os.path.exists(p)]
        info["stdlib"] = os.path.realpath(info["stdlib"]) if info["stdlib"] else ""
        _sb._PY_INFO[python] = info
    return _sb._PY_INFO[python]


def _runtime_paths(python: str) -> list[str]:
    """The directories ``python`` needs to run and import the course packages."""
    return list(_sb._python_info(python)["paths"])


def _closed_ancestor(path: str) -> str | None:
    """The highest ancestor of ``path`` that others cannot traverse (mode without o+x)."""
    parts = Path(path).parts
    for i in range(2, len(parts)):
        anc = os.path.join(*parts[:i])
        try:
            if not os.stat(anc).st_mode & stat.S_IXOTH:
                return anc
        except OSError:
            return None
    return None


def _mount_script_for(cfg: _sb.SandboxConfig, job_dir: Path) -> str:
    """Shell run as root in the new mount namespace: cover hidden paths, keep needed ones."""
    keeps = _sb._runtime_paths(cfg.python) + [os.path.realpath(p) for p in cfg.readable_paths]
    keeps = [p for p in keeps if os.path.exists(p)] + [str(job_dir)]
    covers = [os.path.realpath(p) for p in cfg.hidden_paths + cfg.secret_paths if os.path.lexists(p)]
    covers += [a for a in map(_sb._closed_ancestor, keeps) if a]
    covers = sorted({c for c in covers if c != "/" and c not in keeps})
    keeps = [k for k in _sb._minimal(keeps) if any(_sb._within(k, c) for c in covers)]
    late = [c for c in covers if any(_sb._within(c, k) for k in keeps)]  # re-cover inside a keep
    early = _sb._minimal(c for c in covers if c not in late)
    stash = str(job_dir / ".mnt")
    if any(_sb._within(stash, c) for c in early):
        raise _sb.SandboxUnavailable(f"the scratch root {cfg.root} lies inside a hidden path: "
                                     "choose another SandboxConfig.scratch_root")
    os.mkdir(stash, 0o700)
    q = shlex.quote
    lines = ["set -e", "umask 022", f"mount -t tmpfs -o mode=0700,size=64k course-sandbox-stash {q(stash)}"]
    for i, k in enumerate(keeps):
        lines.append(f"{'mkdir' if os.path.isdir(k) else 'touch'} {q(stash)}/{i}")
        lines.append(f"mount --rbind {q(k)} {q(stash)}/{i}")

    blank = job_dir / ".hidden-file"  # bound over secret files: mode 0, so unreadable
    blank.touch(mode=0)
    os.chmod(blank, 0)

    def cover(c: str) -> str:
        if os.path.isdir(c):
            return f"mount -t tmpfs -o mode=0755,size=64k,nosuid,nodev course-sandbox-hidden {q(c)}"
        return f"mount --bind {q(str(blank))} {q(c)}"

    lines += [cover(c) for c in early]
    for i, k in enumerate(keeps):
        make = f"mkdir -p {q(k)}" if os.path.isdir(k) else f"mkdir -p {q(os.path.dirname(k))}; touch {q(k)}"
        lines += [make, f"mount --move {q(stash)}/{i} {q(k)}"]
    lines += [cover(c) for c in late]
    lines += [f"umount {q(stash)} || true", 'exec "$@"']
    return "\n".join(lines)


def _seal(paths: Iterable[str]) -> None:
    """``chmod go-rwx`` on each existing path itself (enough: nothing below is reachable)."""
    for p in paths:
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            continue
        if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o077:
            os.chmod(p, stat.S_IMODE(st.st_mode) & ~0o077)


def _check_root_dir(path: Path, mode: int) -> None:
    """Create ``path`` (or accept it) only as a real root-owned dir not writable by others."""
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o022:
        raise _sb.SandboxUnavailable(
            f"{path} must be a real directory owned by root and not writable by others "
            f"(found uid {st.st_uid}, mode {oct(st.st_mode)}): remove it, or choose another "
            "SandboxConfig.scratch_root")
    os.chmod(path, mode)


def processes_of(uid: int) -> list[int]:
    """Pids of live (non-zombie) processes whose real, effective or saved uid is ``uid``."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        uids = [int(v) for v in fields.get("Uid", "").split()[:3]]
        if uid in uids and not fields.get("State", "").strip().startswith(("Z", "X")):
            pids.append(int(entry.name))
    return pids


def _kill_all(uid: int, gid: int, timeout: float = 10.0) -> int:
    """SIGKILL every process of ``uid`` (``kill -9 -1`` as that uid beats fork loops)."""
    found = len(_sb.processes_of(uid))
    deadline = time.monotonic() + timeout
    while _sb.processes_of(uid):
        try:
            subprocess.run(["/bin/sh", "-c", "kill -9 -1 2>/dev/null; exit 0"], user=uid, group=gid,
                           extra_groups=[], env={"PATH": _sb._SYS_PATH}, cwd="/", timeout=5,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            for pid in _sb.processes_of(uid):
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"could not kill the processes of sandbox uid {uid}: {_sb.processes_of(uid)}")
        time.sleep(0.05)
    return found


def _remove_tree(path: str) -> None:
    """Remove a file or directory tree without following symlinks; missing is fine."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path, ignore_errors=True)  # fd-based on Linux: never follows symlinks
    else:
        os.unlink(path)


# Last, so that either module can be imported first (.sandbox imports names from this one);
# used only at call time.
from . import sandbox as _sb  # noqa: E402
