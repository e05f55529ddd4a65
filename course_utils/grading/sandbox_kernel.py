"""Run Jupyter kernels, and so nbgrader's autograding, inside the grading sandbox.

The sandbox itself (a throw-away uid, its scratch home, the mount namespace) is
:mod:`.sandbox`; this module plugs it into Jupyter:

* :class:`SandboxKernelManager` is a ``jupyter_client`` ``AsyncKernelManager``
  (https://jupyter-client.readthedocs.io, "Kernel managers" / "Kernel provisioning")
  usable as ``kernel_manager_class`` of ``nbclient.NotebookClient``. It starts
  ``python -m ipykernel_launcher -f <connection file>`` inside a
  :class:`~.sandbox.SandboxJob` (util-linux ``setpriv --reuid --regid --clear-groups
  --no-new-privs``, setpriv(1); in an ``unshare --mount --net`` namespace when
  available, unshare(1)) and closes the job when the kernel stops.
* :class:`SandboxedExecute` is nbgrader's ``Execute`` preprocessor using it
  (https://nbgrader.readthedocs.io, "Autograding"; plain traitlets config cannot
  switch ``Execute.kernel_manager_class``: nbgrader's ``Execute.__init__`` passes
  ``AsyncKernelManager`` as a keyword, which wins over config). It is built on first
  use, so nbgrader is imported only when asked for. :func:`configure_nbgrader_sandbox`
  returns the config overrides.

The kernel talks to the grader over ZeroMQ ``ipc`` sockets inside its 0700 home, so
no other uid can connect to it or read its output, and with the namespace it gets no
network at all.

Everything here is also importable from :mod:`.sandbox`, and names of that module are
looked up through it at call time (``_sb.NAME``), so monkeypatching
``course_utils.grading.sandbox.NAME`` reaches this code as before the split.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any, Iterable

from jupyter_client.manager import AsyncKernelManager, KernelManager
from traitlets import Instance

from . import sandbox as _sb


class SandboxKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernel runs as a fresh sandbox uid (see module doc).

    Set ``c.SandboxKernelManager.sandbox_config = SandboxConfig(...)`` in the traitlets config
    of the ``NotebookClient`` (nbclient passes its config on). The kernelspec's argv is
    ignored: the kernel is always ``<config.python> -m ipykernel_launcher``.
    """

    sandbox_config = Instance(_sb.SandboxConfig, allow_none=True,
                              help="Sandbox settings (None: SandboxConfig()).").tag(config=True)

    _job: _sb.SandboxJob | None = None
    _imported_cwd = False

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
            if len(ipc) < 90:
                self.transport, self.ip = "ipc", ipc
            elif job.network_isolated:
                raise _sb.SandboxUnavailable(f"the scratch path {job.home} is too long for unix sockets: "
                                         "set a shorter SandboxConfig.scratch_root")
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
        return kernel_cmd, kw

    pre_start_kernel = _async_pre_start_kernel  # AsyncKernelManager binds the base function

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        """``<config.python> -m ipykernel_launcher -f <connection file>``, wrapped by the job."""
        job = self._require_job()
        argv = [job.config.python, "-m", "ipykernel_launcher", "-f", self.connection_file]
        return job.wrap(argv + list(extra_arguments or []))

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        """On restart kill the uid's processes; otherwise close the job (scratch, uid)."""
        try:
            await super()._async_cleanup_resources(restart=restart)
        finally:
            if self._job is not None:
                if restart:
                    self._job.kill_processes()
                else:
                    self._job.close()
                    self._job = None

    cleanup_resources = _async_cleanup_resources

    def __del__(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            try:
                job.close()
            except Exception:  # noqa: BLE001 - best effort at interpreter shutdown
                pass
        KernelManager.__del__(self)


_EXECUTE_CLASS: type | None = None


def _sandboxed_execute_class() -> type:
    """``SandboxedExecute``, built (importing nbgrader) on the first call and then cached."""
    global _EXECUTE_CLASS
    if _EXECUTE_CLASS is None:
        from .preprocessors import CourseExecute

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


def configure_nbgrader_sandbox(label: str = "", readable_paths: Iterable[str] = (),
                               config: _sb.SandboxConfig | None = None, hidden_paths: Iterable[str] = (),
                               secret_paths: Iterable[str | os.PathLike] = ()) -> dict[str, Any]:
    """Config overrides (``Section__trait`` -> value) that make nbgrader autograde sandboxed.

    Puts :class:`SandboxedExecute` (and the judge after it, see :mod:`.preprocessors`) in
    ``Autograde.autograde_preprocessors`` and sets ``SandboxKernelManager.sandbox_config``.
    ``label`` (e.g. the learner id) names the scratch dir; ``readable_paths``,
    ``hidden_paths`` (e.g. the course root: only the venv, ``course_utils`` and the
    readable paths stay visible in it) and ``secret_paths`` (e.g.
    :func:`course_secret_paths`; sealed before every kernel) are added to ``config``'s.
    """
    from .preprocessors import autograde_preprocessors

    base = config or _sb.SandboxConfig()
    cfg = replace(base, label=label or base.label,
                  readable_paths=tuple(base.readable_paths) + tuple(os.path.abspath(p) for p in readable_paths),
                  hidden_paths=tuple(base.hidden_paths) + tuple(os.path.abspath(p) for p in hidden_paths),
                  secret_paths=tuple(base.secret_paths) + tuple(os.path.abspath(p) for p in secret_paths))
    procs = autograde_preprocessors(_sb._sandboxed_execute_class())
    return {"Autograde__autograde_preprocessors": procs, "SandboxKernelManager__sandbox_config": cfg}
