"""What a sandbox job's uid may see of this machine, and taking back what it leaves there.

:mod:`.sandbox` decides who runs learner code (a pool uid, via util-linux setpriv(1))
and with which limits (:mod:`.limits`); this module is the file-system and process
work on the host behind that:

* The view. :func:`_bwrap_args` writes the bubblewrap (bwrap(1),
  https://github.com/containers/bubblewrap) options of a job: a fresh, empty root
  holding read-only binds of exactly what the kernel needs — the system (``/usr`` and
  its top-level links, :func:`_system_paths`), the interpreter's directories and the
  venv with ``course_utils`` (asked of the interpreter once, :func:`_python_info`,
  :func:`_runtime_paths`), the lessons' data — plus the job's writable scratch home;
  a new PID namespace with its own ``/proc``, no network, ``--die-with-parent`` and
  ``--new-session``. Nothing else of the host exists inside, so no file mode has to
  protect a secret.
* File modes of the sandbox's own folders: :func:`_check_root_dir` (the scratch root
  and its lock dir must be real, root-owned directories others cannot write).
* Taking back: :func:`processes_of` finds the uid's processes by the real, effective
  and saved uids in ``/proc/<pid>/status`` (proc(5)); :func:`_kill_all` runs
  ``kill -9 -1`` as that uid (kill(2): every process it may signal, so a fork loop
  cannot outrun it); :func:`_remove_tree` removes files without following symlinks;
  :func:`reclaim` does all of it for the jobs of a crashed or killed worker.

Everything here is also importable from :mod:`.sandbox`, and names of that module are
looked up through it at call time (``_sb.NAME``), so monkeypatching
``course_utils.grading.sandbox.NAME`` reaches this code as before the split.
"""

from __future__ import annotations

import fcntl
import json
import os
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
_INFO_CODE = (
    "import sys, os, json, importlib.util as u\n"
    "s = u.find_spec('course_utils')\n"
    "loc = list(s.submodule_search_locations or []) if s else []\n"
    "print(json.dumps({'stdlib': os.path.dirname(os.__file__), 'version': sys.version,\n"
    "                  'paths': [sys.prefix, sys.base_prefix, sys.exec_prefix] + sys.path + loc}))"
)


def _python_info(python: str) -> dict:
    """Where ``python`` finds its stdlib, packages and course_utils (asked once, as root)."""
    if python not in _sb._PY_INFO:
        out = subprocess.run(
            [python, "-c", _sb._INFO_CODE],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": _sb._SYS_PATH, "PYTHONNOUSERSITE": "1"},
            cwd="/",
        )
        info = json.loads(out.stdout) if out.returncode == 0 else {"stdlib": "", "version": "", "paths": []}
        found = info["paths"] + [os.path.dirname(os.path.dirname(python)), os.path.dirname(os.path.realpath(python))]
        info["paths"] = [os.path.realpath(p) for p in found if p and os.path.exists(p)]
        info["stdlib"] = os.path.realpath(info["stdlib"]) if info["stdlib"] else ""
        _sb._PY_INFO[python] = info
    return _sb._PY_INFO[python]


def _runtime_paths(python: str) -> list[str]:
    """The directories ``python`` needs to run and import the course packages."""
    return list(_sb._python_info(python)["paths"])


def _system_paths() -> list[str]:
    """What every program needs from the host: ``/usr`` and the top-level binary and
    library dirs (symlinks into ``/usr`` on merged-/usr systems), the loader cache and
    the time zone. None of it holds course data."""
    found = ["/usr"] + [t for t in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32") if os.path.lexists(t)]
    return found + [p for p in ("/etc/ld.so.cache", "/etc/localtime") if os.path.exists(p)]


def _binds_for(cfg: "_sb.SandboxConfig") -> list[str]:
    """The read-only binds of a job besides the system: the interpreter, the venv and
    ``course_utils``, the readable paths (nested ones dropped). An entry of the
    interpreter's ``sys.path`` that holds a hidden or secret path (e.g. the repository
    root added by an old-style editable install) is left out: ``course_utils`` itself
    is bound from where Python finds it."""
    private = [os.path.realpath(h) for h in cfg.hidden_paths + cfg.secret_paths]
    runtime = [p for p in _sb._runtime_paths(cfg.python) if not any(_sb._within(h, p) for h in private)]
    keeps = runtime + [os.path.realpath(p) for p in cfg.readable_paths]
    system = _system_paths()
    keeps = [p for p in keeps if p != "/" and os.path.exists(p) and not any(_sb._within(p, s) for s in system)]
    return _sb._minimal(keeps)


def _bwrap_args(cfg: "_sb.SandboxConfig", job_dir: Path, home: Path) -> list[str]:
    """bwrap(1) options for a job (see the module doc); ``home/tmp`` is also ``/dev/shm`` (and ``/tmp``).

    Raises :class:`~.sandbox.SandboxUnavailable` when a bind would show a hidden or
    secret path (the bind is that path or lies above it)."""
    binds = _binds_for(cfg)
    shown = sorted(
        {
            p
            for p in binds + [str(job_dir)]
            for h in cfg.hidden_paths + cfg.secret_paths
            if _sb._within(os.path.realpath(h), p)
        }
    )
    if shown:
        raise _sb.SandboxUnavailable(
            f"the sandbox would show {shown}, which hold(s) a hidden or secret path: remove it from "
            "SandboxConfig.readable_paths, or install the interpreter and venv outside it"
        )
    args = [
        "--die-with-parent",
        "--new-session",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "sandbox",
    ]
    made = {"/"}

    def parents_of(path: str) -> None:  # bwrap would make them 0700: the uid could not pass
        parts = Path(path).parts
        for i in range(2, len(parts)):
            d = os.path.join(*parts[:i])
            if d not in made:
                made.add(d)
                args.extend(["--perms", "0755", "--dir", d])

    for top in _system_paths():
        if os.path.islink(top):
            args.extend(["--symlink", os.readlink(top), top])
        else:
            parents_of(top)
            args.extend(["--ro-bind", top, top])
        made.add(top)
    for path in binds:
        parents_of(path)
        args.extend(["--ro-bind", path, path])
        made.add(path)
    parents_of(str(home))
    args += [
        "--ro-bind",
        str(job_dir),
        str(job_dir),
        "--bind",
        str(home),
        str(home),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--bind",
        str(home / "tmp"),
        "/dev/shm",
    ]
    if "/tmp" not in made:  # else /tmp holds the scratch root: TMPDIR points into home
        args += ["--bind", str(home / "tmp"), "/tmp"]
    return args + ["--chdir", str(home)]


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
            "SandboxConfig.scratch_root"
        )
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
            subprocess.run(
                ["/bin/sh", "-c", "kill -9 -1 2>/dev/null; exit 0"],
                user=uid,
                group=gid,
                extra_groups=[],
                env={"PATH": _sb._SYS_PATH},
                cwd="/",
                timeout=5,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
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


def reclaim(root: Path, tag: str) -> int:
    """Take back what the jobs labelled ``tag`` left under ``root`` (a worker that was
    killed cannot close its jobs): kill each one's processes, remove its scratch dir
    and cgroup. A uid whose lock another job already holds was cleaned by that job when
    it opened. Returns how many processes had to be killed."""
    killed = 0
    for job_dir in sorted(root.glob(f"job-*-{tag}-*")) if tag else []:
        uid = int(job_dir.name.split("-")[1])
        try:
            fd = os.open(root / ".locks" / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            killed += _sb._kill_all(uid, uid)
            _sb._remove_tree(str(job_dir))
            _sb._remove_cgroup(uid)
        finally:
            os.close(fd)
    return killed


# Last, so that either module can be imported first (.sandbox imports names from this one);
# used only at call time.
from course_utils.grading import sandbox as _sb  # noqa: E402
