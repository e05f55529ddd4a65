"""Run Jupyter kernels, and so nbgrader's autograding, inside the grading sandbox.

The sandbox itself (a throw-away uid, its scratch home, the mount namespace) is
:mod:`.sandbox`; this module plugs it into Jupyter:

* :class:`SandboxKernelManager` is a ``jupyter_client`` ``AsyncKernelManager``
  (https://jupyter-client.readthedocs.io, "Kernel managers" / "Kernel provisioning")
  usable as ``kernel_manager_class`` of ``nbclient.NotebookClient``. It starts
  ``python -m ipykernel_launcher -f <connection file>`` inside a
  :class:`~.sandbox.SandboxJob` (a bubblewrap box, bwrap(1), with the job's limits,
  as its uid via util-linux setpriv(1)) and closes the job when the kernel stops.
  How each kernel ended (its exit status, out-of-memory kills, processes that had to
  be killed) is appended to :data:`ENDINGS`, from which the worker names a limit the
  kernel ran into (:func:`~.limits.limit_exceeded`).
* :class:`SandboxedExecute` is nbgrader's ``Execute`` preprocessor using it
  (https://nbgrader.readthedocs.io, "Autograding"; plain traitlets config cannot
  switch ``Execute.kernel_manager_class``: nbgrader's ``Execute.__init__`` passes
  ``AsyncKernelManager`` as a keyword, which wins over config). It is built on first
  use, so nbgrader is imported only when asked for. :func:`configure_nbgrader_sandbox`
  returns the config overrides.

The kernel talks to the grader over ZeroMQ ``ipc`` sockets inside its 0700 home, so
no other uid can connect to it or read its output, and it has no network at all.

Everything here is also importable from :mod:`.sandbox`, and names of that module are
looked up through it at call time (``_sb.NAME``), so monkeypatching
``course_utils.grading.sandbox.NAME`` reaches this code as before the split.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import replace
from typing import Any, Iterable

import psutil

from jupyter_client.manager import AsyncKernelManager, KernelManager
from traitlets import Instance

from course_utils.grading import sandbox as _sb
from course_utils.grading.limits import Limits

# One entry per kernel job this process closed: {"label", "uid", "exit_code", "oom_kills",
# "cgroup", "seconds", "leftovers", "leftover_names"}; the worker reports them (see worker.py).
ENDINGS: list[dict[str, Any]] = []


class SandboxKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernel runs as a fresh sandbox uid (see module doc).

    Set ``c.SandboxKernelManager.sandbox_config = SandboxConfig(...)`` in the traitlets config
    of the ``NotebookClient`` (nbclient passes its config on). The kernelspec's argv is
    ignored: the kernel is always ``<config.python> -m ipykernel_launcher``.
    """

    sandbox_config = Instance(_sb.SandboxConfig, allow_none=True, help="Sandbox settings (None: SandboxConfig()).").tag(
        config=True
    )

    _job: _sb.SandboxJob | None = None
    _imported_cwd = False
    _exit_code: int | None = None
    _leftovers: list[str] | None = None
    _stopping = False  # our shutdown began: later exit statuses are our own doing
    _started: float | None = None  # time.monotonic() when the kernel was started
    _ran_s: float | None = None  # how long it ran until it ended on its own
    _children_cpu0: float | None = None  # this process's reaped children's CPU time at the start
    _cpu_s: float | None = None  # CPU time of the kernel (and what it started) when it ended on its own

    @property
    def sandbox_job(self) -> _sb.SandboxJob | None:
        """The current job (uid, home) while the kernel runs; None before start / after cleanup."""
        return self._job

    def _require_job(self) -> _sb.SandboxJob:
        """The job for this kernel, opened (with its connection file and ipc transport) on first use."""
        if self._job is None:
            job = self._job = _sb.SandboxJob.open(self.sandbox_config or _sb.SandboxConfig())
            self.connection_file = job.connection_file_path()
            # ZeroMQ over unix sockets in the 0700 home: other uids cannot connect to (or
            # subscribe to the output of) this kernel, and it needs no network at all.
            ipc = str(job.home / ".ipc" / "k")
            if len(ipc) >= 90:
                raise _sb.SandboxUnavailable(
                    f"the scratch path {job.home} is too long for unix sockets: "
                    "set a shorter SandboxConfig.scratch_root"
                )
            self.transport, self.ip = "ipc", ipc
        return self._job

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        """Start in the job's home with its environment; copy the learner's files there once."""
        job = self._require_job()
        requested_cwd = kw.pop("cwd", None)
        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
        if not self._imported_cwd:
            self._imported_cwd = True
            skipped = job.import_files(requested_cwd)
            if skipped:
                self.log.info("sandbox: not copied into the kernel's cwd: %s", ", ".join(skipped[:20]))
        job.hand_over(self.connection_file)
        kw["env"] = job.environment()
        kw["cwd"] = str(job.home)
        self._started = time.monotonic()
        self._children_cpu0 = _children_cpu_seconds()
        return kernel_cmd, kw

    pre_start_kernel = _async_pre_start_kernel  # AsyncKernelManager binds the base function

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        """``<config.python> -m ipykernel_launcher -f <connection file>``, wrapped by the job."""
        job = self._require_job()
        # parent_handle=1: in its PID namespace the kernel's parent is bwrap's init (pid 1), which
        # ipykernel would take for "the parent died"; bwrap --die-with-parent does that job.
        argv = [
            job.config.python,
            "-m",
            "ipykernel_launcher",
            "-f",
            self.connection_file,
            "--IPKernelApp.parent_handle=1",
        ]
        return job.wrap(argv + list(extra_arguments or []))

    def _note_exit(self) -> None:
        """Remember how the kernel ended on its own (before any shutdown signal of ours)."""
        process = getattr(self.provisioner, "process", None)
        if self._exit_code is None and not self._stopping and process is not None:
            self._exit_code = process.poll()
            if self._exit_code is not None and self._started is not None:
                self._ran_s = time.monotonic() - self._started
                if self._children_cpu0 is not None:  # poll() reaped it: its CPU time is counted now
                    self._cpu_s = _children_cpu_seconds() - self._children_cpu0

    async def _async_is_alive(self) -> bool:
        alive = await super()._async_is_alive()
        if not alive:
            self._note_exit()
        return alive

    is_alive = _async_is_alive

    async def _async_shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
        """Count the uid's processes other than the kernel (left over: killed at close), then stop."""
        self._note_exit()
        if self._job is not None and self._leftovers is None:
            self._leftovers = _leftovers(self._job.uid, kernel_alive=self._exit_code is None)
        self._stopping = not restart
        await super()._async_shutdown_kernel(now=now, restart=restart)

    shutdown_kernel = _async_shutdown_kernel

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        """On restart kill the uid's processes; otherwise close the job (scratch, uid) and record
        how the kernel ended in :data:`ENDINGS`."""
        try:
            await super()._async_cleanup_resources(restart=restart)
        finally:
            if self._job is not None:
                if restart:
                    self._job.kill_processes()
                else:
                    job, self._job = self._job, None
                    oom = job.cgroup.oom_kills() if job.cgroup is not None else 0
                    job.close()
                    ENDINGS.append(
                        {
                            "label": job.config.label,
                            "uid": job.uid,
                            "exit_code": self._exit_code,
                            "oom_kills": oom,
                            "cgroup": job.cgroup is not None,
                            "seconds": self._ran_s,
                            "cpu_seconds": self._cpu_s,
                            "leftovers": max(len(self._leftovers or []), job.killed_at_close),
                            "leftover_names": sorted(set(self._leftovers or [])),
                        }
                    )

    cleanup_resources = _async_cleanup_resources

    def __del__(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            try:
                job.close()
            except Exception:  # best effort at interpreter shutdown
                pass
        KernelManager.__del__(self)


_EXECUTE_CLASS: type | None = None


def _sandboxed_execute_class() -> type:
    """``SandboxedExecute``, built (importing nbgrader) on the first call and then cached."""
    global _EXECUTE_CLASS
    if _EXECUTE_CLASS is None:
        from course_utils.grading.preprocessors import CourseExecute

        class SandboxedExecute(CourseExecute):
            """The course's ``Execute`` whose kernels run in the sandbox (SandboxKernelManager)."""

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                kwargs.setdefault("kernel_manager_class", _sb.SandboxKernelManager)
                super().__init__(*args, **kwargs)

        SandboxedExecute.__module__ = __name__
        _EXECUTE_CLASS = SandboxedExecute
    return _EXECUTE_CLASS


def __getattr__(name: str) -> Any:  # lazy: nbgrader is imported only when asked for
    if name == "SandboxedExecute":
        return _sb._sandboxed_execute_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _children_cpu_seconds() -> float:
    """User + system CPU time of this process's children that have ended and been waited for.

    The grading worker starts one kernel at a time, so the difference across a kernel's life is
    that kernel's CPU time plus what it started (getrusage(2), RUSAGE_CHILDREN: bwrap waits for
    the kernel, the worker waits for bwrap). It tells the CPU-time limit's SIGKILL from another.
    """
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _leftovers(uid: int, kernel_alive: bool) -> list[str]:
    """Names of the processes of ``uid`` besides the kernel (the oldest one, if alive): left by learner code."""
    procs = []
    for pid in _sb.processes_of(uid):
        try:
            p = psutil.Process(pid)
            procs.append((p.create_time(), p.name()))
        except psutil.NoSuchProcess:
            pass
    return [name for _, name in sorted(procs)[int(kernel_alive) :]]


def configure_nbgrader_sandbox(
    label: str = "",
    readable_paths: Iterable[str] = (),
    config: _sb.SandboxConfig | None = None,
    hidden_paths: Iterable[str] = (),
    secret_paths: Iterable[str | os.PathLike] = (),
    limits: Limits | None = None,
) -> dict[str, Any]:
    """Config overrides (``Section__trait`` -> value) that make nbgrader autograde sandboxed.

    Puts :class:`SandboxedExecute` (and the judge after it, see :mod:`.preprocessors`) in
    ``Autograde.autograde_preprocessors`` and sets ``SandboxKernelManager.sandbox_config``.
    ``label`` (e.g. the learner id) names the scratch dir; ``readable_paths`` are bound
    into the box; ``hidden_paths`` (e.g. the course root) and ``secret_paths`` (e.g.
    :func:`course_secret_paths`) must stay out of it (a job refuses to start if a bind
    would show one); all are added to ``config``'s. ``limits`` replaces ``config.limits``.
    """
    from course_utils.grading.preprocessors import autograde_preprocessors

    base = config or _sb.SandboxConfig()
    cfg = replace(
        base,
        label=label or base.label,
        limits=limits or base.limits,
        readable_paths=tuple(base.readable_paths) + tuple(os.path.abspath(p) for p in readable_paths),
        hidden_paths=tuple(base.hidden_paths) + tuple(os.path.abspath(p) for p in hidden_paths),
        secret_paths=tuple(base.secret_paths) + tuple(os.path.abspath(p) for p in secret_paths),
    )
    procs = autograde_preprocessors(_sb._sandboxed_execute_class())
    return {"Autograde__autograde_preprocessors": procs, "SandboxKernelManager__sandbox_config": cfg}
