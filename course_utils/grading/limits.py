"""Resource limits of one learner kernel, and naming the limit a kernel ran into.

A learner kernel must not be able to take the grading machine down, so each one
runs with limits (:class:`Limits`):

* memory: a memory cgroup of its own where the machine lets the grader make one
  (cgroup v1 ``memory.limit_in_bytes`` or v2 ``memory.max``; the kernel docs,
  Documentation/admin-guide/cgroup-v1/memory.rst and cgroup-v2.rst), else
  ``RLIMIT_AS`` (setrlimit(2)); :class:`MemoryCgroup` makes, joins, reads and removes it;
* CPU time (``RLIMIT_CPU``: SIGXCPU at the soft limit, SIGKILL a second later),
  file size (``RLIMIT_FSIZE``), processes of the uid (``RLIMIT_NPROC``) and open
  files (``RLIMIT_NOFILE``), all set by util-linux prlimit(1) (:meth:`Limits.prlimit_args`).

:func:`limit_exceeded` turns what the grader saw (the kernel's exit status, the
cgroup's out-of-memory count, the error outputs of the executed notebook) into a
reason that names the limit, e.g. ``exceeded the CPU-time limit (60 s)``.
"""

from __future__ import annotations

import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

__all__ = ["Limits", "MemoryCgroup", "limit_exceeded", "describe_exit"]

_GIB = 2**30


@dataclass(frozen=True)
class Limits:
    """Per-kernel limits. ``memory_gb``: cgroup memory (else address space) in GiB;
    ``cpu_seconds``: CPU time of the kernel process; ``file_size_mb``: largest file it
    may write; ``max_processes``: processes and threads of its uid; ``open_files``:
    file descriptors per process. ``use_cgroup``: ``"auto"`` (when the machine allows
    it), ``"on"`` (refuse to start without one) or ``"off"`` (RLIMIT_AS only)."""

    memory_gb: float = 4.0
    cpu_seconds: int = 600
    file_size_mb: int = 1024
    max_processes: int = 1024
    open_files: int = 1024
    use_cgroup: str = "auto"

    def __post_init__(self) -> None:
        if not 0.25 <= self.memory_gb <= 4096:
            raise ValueError(f"memory_gb must be between 0.25 and 4096 (GiB), got {self.memory_gb}")
        if self.cpu_seconds < 1:
            raise ValueError(f"cpu_seconds must be >= 1, got {self.cpu_seconds}")
        if self.file_size_mb < 1:
            raise ValueError(f"file_size_mb must be >= 1, got {self.file_size_mb}")
        if self.max_processes < 16:
            raise ValueError(f"max_processes must be >= 16 (a kernel uses ~10 threads), got {self.max_processes}")
        if self.open_files < 64:
            raise ValueError(f"open_files must be >= 64 (a kernel needs sockets and libraries), got {self.open_files}")
        if self.use_cgroup not in {"auto", "on", "off"}:
            raise ValueError(f"use_cgroup must be 'auto', 'on' or 'off', not {self.use_cgroup!r}")

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_gb * _GIB)

    def prlimit_args(self, address_space: bool) -> list[str]:
        """prlimit(1) options; ``address_space``: also cap RLIMIT_AS (no memory cgroup)."""
        args = [
            f"--cpu={self.cpu_seconds}:{self.cpu_seconds + 1}",
            f"--fsize={self.file_size_mb * 2**20}",
            f"--nproc={self.max_processes}",
            f"--nofile={self.open_files}",
            "--core=0",
        ]
        return args + ([f"--as={self.memory_bytes}"] if address_space else [])

    def describe(self, cgroup: bool) -> str:
        """One line for logs and reports."""
        mem = f"{self.memory_gb:g} GiB ({'cgroup' if cgroup else 'address space'})"
        return (
            f"memory {mem}, CPU {self.cpu_seconds} s, files {self.file_size_mb} MB, "
            f"{self.max_processes} processes, {self.open_files} open files"
        )


def _own_cgroup_dir() -> Path | None:
    """The memory-controller directory of this process's cgroup (v1 or v2), or None."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            d = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            if (d / "memory.limit_in_bytes").exists():
                return d
    for line in lines:
        if line.startswith("0::"):
            d = Path("/sys/fs/cgroup") / line[3:].lstrip("/")
            try:
                if "memory" in (d / "cgroup.subtree_control").read_text().split():
                    return d
            except OSError:
                return None
    return None


class MemoryCgroup:
    """A memory cgroup for one job, below the grader's own.

    Used as ``create`` -> ``join_argv`` -> ``oom_kills`` -> ``remove``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.v1 = (path / "memory.limit_in_bytes").exists()

    @classmethod
    def create(cls, name: str, limit_bytes: int) -> "MemoryCgroup | None":
        """Make ``<own cgroup>/<name>`` with the limit; None where the machine does not allow it."""
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", name):
            raise ValueError(f"cgroup name must be letters, digits, '_', '.', '-', got {name!r}")
        parent = _own_cgroup_dir()
        if parent is None or os.geteuid() != 0:
            return None
        path = parent / name
        try:
            path.mkdir(exist_ok=True)
            cg = cls(path)
            if cg.v1:
                (path / "memory.limit_in_bytes").write_text(str(limit_bytes))
                try:  # the same cap for memory + swap where swap accounting exists
                    (path / "memory.memsw.limit_in_bytes").write_text(str(limit_bytes))
                except OSError:
                    pass
            else:
                (path / "memory.max").write_text(str(limit_bytes))
                (path / "memory.swap.max").write_text("0")
            return cg
        except OSError:
            try:
                path.rmdir()
            except OSError:
                pass
            return None

    def join_argv(self, argv: list[str]) -> list[str]:
        """``argv`` started inside this cgroup (a root shell writes its pid, then execs)."""
        return ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(self.path), *argv]

    def oom_kills(self) -> int:
        """How many times the limit was hit (v1 ``failcnt``/``oom_kill``; v2 ``memory.events``)."""
        try:
            if self.v1:
                control = dict(ln.split() for ln in (self.path / "memory.oom_control").read_text().splitlines())
                if "oom_kill" in control:  # Linux >= 4.13
                    return int(control["oom_kill"])
                return int((self.path / "memory.failcnt").read_text())  # times the limit was reached
            events = dict(ln.split() for ln in (self.path / "memory.events").read_text().splitlines())
            return int(events.get("oom_kill", 0))
        except (OSError, ValueError):
            return 0

    def remove(self, wait_s: float = 5.0) -> None:
        """Kill what is still in the cgroup (e.g. a root-owned bwrap wrapper on its way out), then
        remove it; missing is fine. Still busy after ``wait_s``: the next job of the uid removes it."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                pids = [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.05)


def describe_exit(code: int | None) -> str:
    """``"exit 1"``, ``"signal SIGKILL"`` for a Popen code or bwrap's 128+signal code."""
    if code is None:
        return "still running"
    sig = -code if code < 0 else code - 128 if code > 128 else 0
    if sig:
        try:
            return f"signal {signal.Signals(sig).name}"
        except ValueError:
            return f"signal {sig}"
    return f"exit {code}"


# Error outputs that only a limit produces (errno 27 EFBIG, 24 EMFILE; allocation failures;
# a fork refused by RLIMIT_NPROC is EAGAIN from fork/clone: "Resource temporarily unavailable").
_OUTPUT_LIMITS = (
    ("memory", re.compile(r"^(MemoryError|_ArrayMemoryError)$|can't allocate memory|Cannot allocate memory")),
    ("file-size", re.compile(r"\[Errno 27\]|File too large")),
    ("open-file", re.compile(r"\[Errno 24\]|Too many open files")),
    ("process", re.compile(r"can't start new thread|\[Errno 11\] Resource temporarily unavailable")),
)


def _limit_value(limits: Limits, name: str, cgroup: bool) -> str:
    return {
        "memory": f"{limits.memory_gb:g} GiB" + ("" if cgroup else " of address space"),
        "CPU-time": f"{limits.cpu_seconds} s",
        "file-size": f"{limits.file_size_mb} MB",
        "open-file": f"{limits.open_files} per process",
        "process": f"{limits.max_processes} processes and threads",
    }[name]


def limit_exceeded(
    limits: Limits,
    exit_code: int | None,
    oom_kills: int,
    cgroup: bool,
    error_texts: Iterable[str] = (),
    seconds: float | None = None,
    cpu_used: float | None = None,
) -> str:
    """The reason naming the limit a kernel hit, or ``""``.

    ``exit_code``: how the kernel ended (None if it was still running when shut down);
    ``oom_kills``: from :meth:`MemoryCgroup.oom_kills`; ``error_texts``: ``ename: evalue``
    of the notebook's error outputs; ``seconds``: how long the kernel ran; ``cpu_used``: the
    CPU time it used, where measured. A SIGKILL is the CPU limit's when the kernel used at
    least 90% of ``cpu_seconds``; without ``cpu_used``, when it ran long enough to have used
    ``cpu_seconds`` on all cores (a guess that a kernel killing itself late can fool).
    """
    how = describe_exit(exit_code)
    if oom_kills and how == "signal SIGKILL":  # the out-of-memory killer sends SIGKILL
        return f"exceeded the memory limit ({_limit_value(limits, 'memory', cgroup)}): the kernel was killed"
    if cpu_used is not None:
        could_burn = cpu_used >= 0.9 * limits.cpu_seconds
    else:
        could_burn = seconds is None or seconds * (os.cpu_count() or 1) >= limits.cpu_seconds
    if how == "signal SIGXCPU" or (how == "signal SIGKILL" and not oom_kills and could_burn):
        return f"exceeded the CPU-time limit ({limits.cpu_seconds} s): the kernel was stopped ({how})"
    if how == "signal SIGXFSZ":
        return f"exceeded the file-size limit ({limits.file_size_mb} MB): the kernel was stopped"
    for text in error_texts:
        for name, pattern in _OUTPUT_LIMITS:
            if any(pattern.search(part) for part in text.split(": ", 1)):
                return f"exceeded the {name} limit ({_limit_value(limits, name, cgroup)}): {text[:160]}"
    return ""
