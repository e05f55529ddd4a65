"""The grading sandbox: learner kernels run as a throw-away uid in a bubblewrap box that shows nothing secret.

Needs root, bubblewrap and util-linux's setpriv (the grader's own requirements); skipped otherwise.
One sandboxed notebook run (module fixture) answers most questions; the rest are cheap.
"""

from __future__ import annotations

import json
import os
import subprocess
import shutil
import stat
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest

from course_utils.grading import sandbox as sb
from course_utils.paths import REPO_ROOT

ROOT = REPO_ROOT
pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox is Linux-only"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root (the grader runs as root)"),
    pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is not installed"),
    pytest.mark.skipif(
        shutil.which("bwrap") is None, reason="bubblewrap is not installed (apt-get install bubblewrap)"
    ),
]
UIDS = (64000, 64099)  # a test-only part of the id space, apart from real grading runs

PROBE = r"""
import json, os, subprocess, sys
res = {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(), "cwd": os.getcwd(),
       "home": os.environ["HOME"], "grading": os.environ.get("COURSE_GRADING"), "env": sorted(os.environ),
       "stdlib": os.path.realpath(os.path.dirname(os.__file__))}
import torch, course_utils
res["torch"] = torch.__version__
def attempt(fn):
    try:
        fn()
        return "ok"
    except OSError as e:
        return type(e).__name__
def write(path):
    with open(path, "w") as f:
        f.write("x")
res["write_cwd"] = attempt(lambda: write("mine.txt"))
res["write_repo"] = attempt(lambda: write(REPO + "/planted.py"))
res["write_other_job"] = attempt(lambda: write(OTHER + "/planted.txt"))
res["read_secret"] = attempt(lambda: open(ARENA + "/gradebook.db").read())
res["list_other_learner"] = attempt(lambda: os.listdir(ARENA + "/other-learner"))
res["read_other_learner"] = attempt(lambda: open(ARENA + "/other-learner/work.ipynb").read())
res["read_public"] = attempt(lambda: open(ARENA + "/public/lesson-data.txt").read())
res["read_late_secret"] = attempt(lambda: open(ARENA + "/late-gradebook.db").read())
res["hidden_listing"] = sorted(os.listdir(ARENA + "/hidden")) if os.path.isdir(ARENA + "/hidden") else None
res["copied"] = sorted(os.listdir("."))
res["write_tmp"] = attempt(lambda: write("/tmp/sandbox-leftover-%d" % os.getuid()))
res["sleeper"] = subprocess.Popen(["sleep", "1000"], start_new_session=True).pid
print("RESULT" + json.dumps(res))
"""


def _private_dir(mode: int) -> Path:
    path = Path(tempfile.mkdtemp(prefix="sbx-test-", dir="/tmp"))
    os.chmod(path, mode)
    return path


@pytest.fixture(scope="module")
def cfg():
    root = _private_dir(0o711)
    yield sb.SandboxConfig(uid_range=UIDS, scratch_root=str(root / "scratch"))
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def arena():
    """Secrets (root 0600 file, 0700 dir) and public data, in a directory everyone can traverse."""
    base = _private_dir(0o755)
    (base / "gradebook.db").write_text("grades")
    os.chmod(base / "gradebook.db", 0o600)
    (base / "other-learner").mkdir(mode=0o700)
    (base / "other-learner" / "work.ipynb").write_text("{}")
    os.chmod(base / "other-learner" / "work.ipynb", 0o644)
    (base / "public").mkdir(mode=0o755)
    (base / "public" / "lesson-data.txt").write_text("data")
    os.chmod(base / "public" / "lesson-data.txt", 0o644)
    (base / "hidden").mkdir(mode=0o755)
    (base / "hidden" / "answers.txt").write_text("42")
    os.chmod(base / "hidden" / "answers.txt", 0o644)
    (base / "late-gradebook.db").write_text("created after the preflight, mode 0644")
    os.chmod(base / "late-gradebook.db", 0o644)
    src = base / "submission"  # what nbgrader would use as the kernel's cwd
    src.mkdir(mode=0o700)
    (src / "helper_data.txt").write_text("mine")
    (src / "01_lesson.ipynb").write_text("{}")  # the autograded copy holds hidden tests
    (src / ".hidden").write_text("x")
    (src / "link").symlink_to(base / "gradebook.db")
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def usable(cfg):
    """Skip kernel tests (with the reason) where the preflight says the sandbox cannot work."""
    report = sb.check_sandbox([], [], cfg, modules=("course_utils",), raise_on_failure=False)
    if not report.ok:
        pytest.skip("the sandbox cannot run kernels on this machine: " + "; ".join(report.problems))
    return report


@pytest.fixture(scope="module")
def run(cfg, arena, usable):
    """Execute the probe notebook once with nbclient + SandboxKernelManager (via traitlets config)."""
    from nbclient import NotebookClient
    from traitlets.config import Config

    other = sb.SandboxJob.open(cfg)  # another learner's job running at the same time
    try:
        code = f"REPO, OTHER, ARENA = {str(ROOT)!r}, {str(other.home)!r}, {str(arena)!r}\n" + PROBE
        nb = nbformat.v4.new_notebook()
        nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [nbformat.v4.new_code_cell(code)]
        c = Config()
        c.SandboxKernelManager.sandbox_config = replace(
            cfg,
            hidden_paths=cfg.hidden_paths + (str(arena / "hidden"),),
            secret_paths=(str(arena / "late-gradebook.db"),),
            readable_paths=(str(arena / "public"),),
        )
        client = NotebookClient(
            nb,
            config=c,
            kernel_manager_class=sb.SandboxKernelManager,
            timeout=120,
            resources={"metadata": {"path": str(arena / "submission")}},
        )
        start = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - start
        text = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.output_type == "stream")
        errors = [o for o in nb.cells[0].outputs if o.output_type == "error"]
        assert not errors, errors
        line = [ln for ln in text.splitlines() if ln.startswith("RESULT")][-1]
        yield json.loads(line[len("RESULT") :]), other, seconds
    finally:
        other.close()


def test_kernel_runs_as_a_fresh_unprivileged_uid(run, cfg):
    res, other, seconds = run
    lo, hi = UIDS
    assert lo <= res["uid"] <= hi and res["gid"] == res["uid"] and res["groups"] == []
    assert res["uid"] != other.uid
    assert res["cwd"] == res["home"] and res["cwd"].startswith(str(cfg.root) + "/job-")
    assert res["grading"] == "1" and "torch" in res and seconds < 60
    assert res["stdlib"] == sb._python_info(cfg.python)["stdlib"]  # the real stdlib, not a fallback
    assert not {"SSH_AUTH_SOCK", "VIRTUAL_ENV_PROMPT", "PYTHONPATH"} & set(res["env"])


def test_kernel_can_write_only_its_own_scratch(run):
    res = run[0]
    assert res["write_cwd"] == "ok"
    assert res["write_repo"] in {"PermissionError", "FileNotFoundError", "OSError"}
    assert res["write_other_job"] == "FileNotFoundError"  # another job's home is not in the box
    assert res["write_tmp"] in {"PermissionError", "ok"}  # ok only where /tmp is the box's own
    assert not (ROOT / "planted.py").exists()


def test_kernel_cannot_see_secrets_but_reads_lesson_data(run):
    res = run[0]
    assert res["read_secret"] == "FileNotFoundError"
    assert res["list_other_learner"] == "FileNotFoundError"
    assert res["read_other_learner"] == "FileNotFoundError"
    assert res["read_public"] == "ok"


def test_a_secret_made_after_the_preflight_is_out_of_the_box_without_changing_its_mode(run, arena):
    assert run[0]["read_late_secret"] == "FileNotFoundError"
    assert stat.S_IMODE(os.stat(arena / "late-gradebook.db").st_mode) == 0o644  # no file-mode sealing


def test_only_the_learners_plain_files_are_copied_into_the_cwd(run):
    copied = set(run[0]["copied"])
    assert "helper_data.txt" in copied
    assert not {"01_lesson.ipynb", ".hidden", "link"} & copied


def test_hidden_paths_do_not_exist_in_the_box(run):
    assert run[0]["hidden_listing"] is None


def test_everything_is_cleaned_up_after_the_kernel_stops(run, cfg):
    res = run[0]
    uid = res["uid"]
    assert sb.processes_of(uid) == []  # the setsid sleeper included
    assert not Path(res["cwd"]).exists()
    assert not Path(f"/tmp/sandbox-leftover-{uid}").exists()


def test_two_jobs_never_share_a_uid(cfg):
    with sb.SandboxJob.open(cfg) as a, sb.SandboxJob.open(cfg) as b:
        assert a.uid != b.uid
        assert stat.S_IMODE(os.stat(a.home).st_mode) == 0o700 and os.stat(a.home).st_uid == a.uid
        last = b.uid
    with sb.SandboxJob.open(cfg) as c:  # round-robin: the next job does not reuse a just-freed id
        assert c.uid not in {a.uid, last}


def test_preflight_passes_then_refuses_a_readable_path_holding_a_secret(cfg, arena, usable):
    secrets = [arena / "gradebook.db", arena / "other-learner"]
    report = sb.check_sandbox(secrets, [arena / "public"], cfg, modules=("course_utils",))
    assert report.ok, report.summary()
    assert any("only the" in p and "binds are visible" in p for p in report.passed)
    assert any("/proc lists only" in p for p in report.passed) and any("no network" in p for p in report.passed)
    with pytest.raises(sb.SandboxUnavailable) as err:
        sb.check_sandbox(secrets, [arena], cfg, modules=("course_utils",))
    msg = str(err.value)
    assert str(arena) in msg and "secret" in msg and sb.OPT_OUT_ENV in msg and "--no-sandbox" in msg


def test_a_missing_bwrap_is_named_with_the_package_to_install(cfg, monkeypatch):
    real = sb._tool
    monkeypatch.setattr(sb, "_tool", lambda name: None if name == "bwrap" else real(name))
    report = sb.check_sandbox([], [], cfg, modules=(), raise_on_failure=False)
    assert not report.ok and any("apt-get install bubblewrap" in p for p in report.problems)
    with pytest.raises(sb.SandboxUnavailable, match="bubblewrap"):
        sb.SandboxJob.open(cfg)


def test_not_root_is_refused_with_a_fix_and_the_opt_out(cfg, monkeypatch):
    monkeypatch.setattr(sb.os, "geteuid", lambda: 1000)
    with pytest.raises(sb.SandboxUnavailable) as err:
        sb.SandboxJob.open(cfg)
    assert "root" in str(err.value) and "COURSE_ALLOW_UNSANDBOXED=1" in str(err.value)
    report = sb.check_sandbox([], [], cfg, raise_on_failure=False)
    assert not report.ok and "root" in report.summary()
    monkeypatch.setenv(sb.OPT_OUT_ENV, "1")
    assert sb.opt_out_requested()


def test_config_rejects_bad_settings():
    with pytest.raises(ValueError, match="uid_range"):
        sb.SandboxConfig(uid_range=(10, 20))
    with pytest.raises(ValueError, match="absolute"):
        sb.SandboxConfig(readable_paths=("data",))
    with pytest.raises(ValueError, match="memory_gb"):
        sb.Limits(memory_gb=0)
    with pytest.raises(ValueError, match="limits"):
        sb.SandboxConfig(limits={"memory_gb": 4})
    assert sb.SandboxConfig(env={"A": "1"}).env == (("A", "1"),)


def test_nbgrader_execute_runs_sandboxed(cfg, tmp_path, usable):
    """Plain config cannot switch nbgrader's Execute (it forces AsyncKernelManager); ours does."""
    from nbgrader.preprocessors import Execute
    from traitlets.config import Config

    overrides = sb.configure_nbgrader_sandbox("learner-1", [], cfg)
    c = Config()
    for key, value in overrides.items():
        section, _, trait = key.partition("__")
        setattr(c[section], trait, value)
    procs = c.Autograde.autograde_preprocessors
    assert Execute not in procs and sb.SandboxedExecute in procs
    ex = sb.SandboxedExecute(config=c)
    assert ex.kernel_manager_class is sb.SandboxKernelManager
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("import os; print(os.getuid(), os.getcwd())")]
    nb, _ = ex.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    uid, cwd = nb.cells[0].outputs[0]["text"].split()
    assert UIDS[0] <= int(uid) <= UIDS[1] and "learner-1" in cwd and not Path(cwd).exists()


def test_require_sandbox_checks_without_changing_file_modes(cfg, arena, usable):
    os.chmod(arena / "gradebook.db", 0o644)
    try:
        report = sb.require_sandbox([arena / "gradebook.db", arena / "other-learner"], [arena / "public"], cfg)
        assert report.ok and stat.S_IMODE(os.stat(arena / "gradebook.db").st_mode) == 0o644
    finally:
        os.chmod(arena / "gradebook.db", 0o600)


def test_course_secret_paths_cover_hidden_tests_gradebook_and_history(tmp_path):
    from course_utils.grading.course import CourseDirs

    for name in ("solutions", "submitted", "autograded", "feedback", "backups", "data"):
        (tmp_path / name).mkdir()
    (tmp_path / "gradebook.db").write_text("")
    found = set(sb.course_secret_paths(CourseDirs(root=tmp_path)))
    assert {
        tmp_path / n for n in ("solutions", "submitted", "autograded", "feedback", "backups", "gradebook.db")
    } <= found
    assert tmp_path / "data" not in found and ROOT / ".git" in found


def test_a_sys_path_entry_holding_a_hidden_path_is_left_out_of_the_box(cfg, monkeypatch):
    """An old-style editable install puts the repository root on sys.path: the box keeps only
    course_utils from it, and a readable path holding a secret still stops the job."""
    info = dict(sb._python_info(cfg.python))
    monkeypatch.setitem(sb._PY_INFO, cfg.python, {**info, "paths": info["paths"] + [str(ROOT)]})
    binds = sb._binds_for(replace(cfg, hidden_paths=(str(ROOT),)))
    assert str(ROOT) not in binds and str(ROOT / "course_utils") in binds
    with pytest.raises(sb.SandboxUnavailable, match="hidden or secret"):
        sb._bwrap_args(
            replace(cfg, hidden_paths=(str(ROOT),), readable_paths=(str(ROOT),)),
            Path("/nonexistent/job"),
            Path("/nonexistent/job/home"),
        )


def test_close_counts_only_processes_still_running_after_a_short_grace(cfg):
    """A process of the uid that ends by itself (a kernel still exiting) is not a leftover; one that runs on is."""

    def spawn(job, seconds):
        return subprocess.Popen(
            ["/bin/sleep", str(seconds)], user=job.uid, group=job.uid, extra_groups=[], cwd="/", start_new_session=True
        )

    with sb.SandboxJob.open(cfg) as job:
        exiting = spawn(job, 0.2)
        job.close()
        assert job.killed_at_close == 0 and exiting.wait(timeout=5) == 0
    with sb.SandboxJob.open(cfg) as job:
        stays = spawn(job, 60)
        job.close()
        assert job.killed_at_close == 1 and stays.wait(timeout=5) == -9
        assert sb.processes_of(job.uid) == []
