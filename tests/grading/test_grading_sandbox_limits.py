"""The grading sandbox through the real pipeline: what a learner kernel sees, its limits, what it leaves.

One grading run (sandbox on, 2 jobs) holds an honest learner, a probe that reports what
its kernel can see (files, /proc, network), submissions that exceed the memory, CPU
and file-size limits, and one that double-forks a `setsid` child and then outlasts
the submission time-out. Needs root, bubblewrap and util-linux (skipped otherwise).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
from pathlib import Path

import nbformat
import pytest

from course_utils.grading import sandbox as sb
from course_utils.grading.course import REPO_ROOT
from course_utils.grading.limits import Limits
from gradekit import grade, solution_source, with_answers

A = "01_sinusoidal_embedding"
ID = "sinusoidal_impl"
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("bwrap") or not shutil.which("setpriv"),
    reason="the sandbox needs root, bubblewrap and util-linux",
)

# With a memory cgroup the 5 GiB allocation is killed at 2 GiB; under RLIMIT_AS (no cgroup)
# torch alone maps ~3.3 GB of address space, so the cap must stay above that.
MEMORY_GB = 2 if sb._cgroup_parent() is not None else 4
# 20 CPU-seconds: the burner reaches it inside the 60 s submission time-out on a 2-core machine that
# is not also running other heavy jobs. A SIGKILL is read as the CPU limit's only when the kernel's
# measured CPU time reached 90% of it (limits.limit_exceeded), so the kernel that kills itself after
# a few CPU-seconds is not taken for it.
LIMITS = Limits(memory_gb=MEMORY_GB, cpu_seconds=20, file_size_mb=64)

PROBE = r"""
import json, os, socket
_res = {"exists": {p: os.path.exists(p) for p in _PATHS}, "pids": {}, "interfaces": [n for _, n in socket.if_nameindex()]}
for _pid in os.listdir("/proc"):
    if _pid.isdigit():
        try:
            _res["pids"][_pid] = open(f"/proc/{_pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
        except OSError:
            pass
try:
    socket.create_connection(("127.0.0.1", _PORT), timeout=3).close()
    _res["loopback"] = "connected"
except OSError as _e:
    _res["loopback"] = type(_e).__name__
print("PROBE" + json.dumps(_res))
"""
DOUBLE_FORK = (
    "import os, time\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    if os.fork() == 0:\n"
    "        time.sleep(1000)\n"
    "    os._exit(0)\n"
    "time.sleep(0.5)\n"
)


def _answer(extra: str):
    return with_answers(A, {ID: solution_source(A, ID) + "\n" + extra})


def _outlasting():
    """Double-forks a setsid child, then sleeps in cells each below the cell time-out."""
    nb = _answer(DOUBLE_FORK)
    nb.cells += [nbformat.v4.new_code_cell("import time\ntime.sleep(40)") for _ in range(2)]
    return nb


_CGROUPS_BEFORE: set[str] = set()


def _sandbox_cgroups() -> set[str]:
    """Names of the jobs' memory cgroups now present (made below this process's own cgroup)."""
    parent = sb._cgroup_parent()
    return set() if parent is None else {p.name for p in parent.glob("course-sandbox-*")}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("box")
    token = secrets.token_hex(4)
    planted = Path(f"/var/tmp/course-probe-{token}")
    planted.write_text("planted outside the course")
    other = tmp / "another-checkout"
    shutil.copytree(REPO_ROOT / "solutions" / A, other / "solutions" / A)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    paths = [
        str(planted),
        str(other / "solutions" / A / f"{A}.ipynb"),
        str(other),
        "/var/tmp",
        str(REPO_ROOT / "solutions"),
        str(REPO_ROOT / ".git"),
        str(tmp / "course" / "gradebook.db"),
    ]
    probe = f"_PATHS, _PORT = {paths!r}, {listener.getsockname()[1]}\n" + PROBE + DOUBLE_FORK
    names = {
        "honest": _answer(""),
        "probe": _answer(probe),
        "memory-hog": _answer("import torch\n_x = torch.ones(5 * 2**30, dtype=torch.uint8)"),
        "cpu-burner": _answer("while True:\n    pass"),
        "file-writer": _answer(
            "_b = b'x' * 2**20\nwith open('big.bin', 'wb') as _f:\n    for _ in range(2048):\n        _f.write(_b)"
        ),
        "kills-itself": _answer("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"),
        "outlasting": _outlasting(),
    }
    _CGROUPS_BEFORE.update(_sandbox_cgroups())  # left by an earlier run on this machine: not this run's
    try:
        results = grade(tmp, A, names, jobs=2, sandbox=True, cell_timeout_s=45, submission_timeout_s=60, limits=LIMITS)
    finally:
        planted.unlink()
        listener.close()
    return tmp / "course", results, paths


def _probe_result(root: Path) -> dict:
    nb = nbformat.read(root / "autograded" / "probe" / A / f"{A}.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    return json.loads(text.split("PROBE", 1)[1].splitlines()[0])


def test_the_honest_learner_in_the_same_run_gets_full_marks(run):
    r = run[1]["honest"]
    assert (r.status, r.score, r.max_score) == ("graded", 10, 10), (r.reason, r.notes)


def test_no_path_outside_the_binds_exists_in_the_kernel(run):
    root, results, paths = run
    assert results["probe"].status in {"graded", "flagged"} and results["probe"].score == 10  # /proc, sockets: flagged
    seen = _probe_result(root)["exists"]
    assert seen == {p: False for p in paths}, seen  # /var/tmp, another checkout, the course's secrets


def test_proc_lists_only_the_kernels_own_processes(run):
    pids = _probe_result(run[0])["pids"]
    assert len(pids) <= 4, pids  # bwrap's init, the kernel, its double-forked child
    assert all("pytest" not in c and "course_utils.grading.worker" not in c for c in pids.values()), pids
    assert any("ipykernel_launcher" in c for c in pids.values()), pids


def test_no_network_loopback_included(run):
    res = _probe_result(run[0])
    assert res["interfaces"] == ["lo"]  # the box's own loopback, not the host's
    assert res["loopback"] in {"ConnectionRefusedError", "OSError"}, res["loopback"]


@pytest.mark.parametrize(
    "name, words",
    [
        ("memory-hog", ["memory limit", f"{MEMORY_GB} GiB"]),
        ("cpu-burner", ["CPU-time limit", f"{LIMITS.cpu_seconds} s"]),
        ("file-writer", ["file-size limit", "64 MB"]),
    ],
)
def test_a_submission_over_a_limit_fails_naming_it(run, name, words):
    r = run[1][name]
    assert r.status == "failed" and all(w in r.reason for w in words), r.reason


def test_a_kernel_that_kills_itself_is_not_called_over_a_limit(run):
    r = run[1]["kills-itself"]
    assert r.status == "failed" and "kernel died" in r.reason and "limit" not in r.reason, r.reason


def test_the_probes_setsid_child_was_killed_and_reported(run):
    notes = run[1]["probe"].notes
    assert any("left running by the learner's code were killed" in n for n in notes), notes


def test_nothing_is_left_after_time_outs_and_double_forks(run):
    r = run[1]["outlasting"]
    assert r.status == "failed" and "timed out" in r.reason, r.reason
    # this run's jobs: job-<uid>-<learner[:16]>-<submission tag>-<job token>
    mine = re.compile(r"job-\d+-(%s)-[0-9a-f]{8}-[0-9a-f]{8}\b" % "|".join(re.escape(n[:16]) for n in run[1]))
    left = []
    for entry in os.scandir("/proc"):  # the process table: no kernel, child or box of this run
        if not entry.name.isdigit():
            continue
        try:
            uid = int(open(f"/proc/{entry.name}/status").read().split("\nUid:")[1].split()[0])
            env = open(f"/proc/{entry.name}/environ", "rb").read().decode("utf-8", "replace")
        except (OSError, IndexError):
            continue
        if 61000 <= uid <= 61999 and mine.search(env):
            left.append(entry.name)
    assert left == []
    scratch = [p.name for p in sb.SandboxConfig().root.glob("job-*") if mine.fullmatch(p.name)]
    assert scratch == []
    assert _sandbox_cgroups() - _CGROUPS_BEFORE == set()  # this run's memory cgroups are gone too


INTERRUPTED = r"""
import sys
sys.path.insert(0, TESTS)
from gradekit import grade, solution_source, with_answers
import nbformat
nb = with_answers(A, {"sinusoidal_impl": solution_source(A, "sinusoidal_impl") + "\n" + DOUBLE_FORK})
nb.cells.append(nbformat.v4.new_code_cell("import time\ntime.sleep(300)"))
grade(TMP, A, {"interrupted": nb}, jobs=1, sandbox=True)
"""


def test_an_interrupted_grader_leaves_no_kernel_or_scratch_folder(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    code = (
        f"from pathlib import Path\nTESTS, TMP, A = {str(Path(__file__).parents[1])!r}, Path({str(tmp_path)!r}), {A!r}\n"
        f"DOUBLE_FORK = {DOUBLE_FORK!r}\n" + INTERRUPTED
    )
    grader = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    root = sb.SandboxConfig().root
    mine = re.compile(r"job-(\d+)-interrupted-[0-9a-f]{8}-[0-9a-f]{8}")
    deadline, jobs = time.monotonic() + 240, []
    while not jobs and time.monotonic() < deadline and grader.poll() is None:
        time.sleep(1)
        jobs = [m for p in root.glob("job-*") if (m := mine.fullmatch(p.name))]
    assert jobs, grader.communicate()[0][-2000:]
    uid = int(jobs[0].group(1))
    time.sleep(8)  # the kernel starts, runs the double fork and sleeps
    grader.send_signal(signal.SIGINT)
    out = grader.communicate(timeout=120)[0].decode(errors="replace")
    assert "KeyboardInterrupt" in out, out[-2000:]
    assert sb.processes_of(uid) == [] and not [p for p in root.glob("job-*") if mine.fullmatch(p.name)]
