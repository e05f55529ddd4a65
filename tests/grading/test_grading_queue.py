"""The grading queue (issue 16): one job per submission in the gradebook database, any number of workers.

Fast tests run the queue's rules on SQLite with the grading itself replaced by a stub:
a job is taken by one worker at a time, a lost lease is taken again and the loser
cannot record, a submission changed since it was queued is re-queued with its new hash
and graded once, and enqueueing is idempotent. The acceptance test runs a real
PostgreSQL on loopback (tests/pgkit.py), three worker processes standing in for three
machines and 30 lesson-01 submissions of mixed quality through the real pipeline
(sandbox on), kills one worker in the middle of a job, and checks that every submission
is graded exactly once with the scores of a single-machine run, and that ``make report``
(its command) shows all 30 from the database alone.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from course_utils.grading import cli, grade_worker
from course_utils.grading.autograde import GradeOptions, SubmissionResult
from course_utils.grading.course import REPO_ROOT, CourseDirs
from course_utils.grading.grade_worker import WorkerOptions, enqueue, format_status, work
from course_utils.grading.jobqueue import (
    QUEUE_TABLE,
    claim,
    enqueue_jobs,
    finish,
    heartbeat,
    queue_summary,
    submission_digest,
)
from course_utils.grading.records import engine_for, load_results
from gradekit import grade

A = "01_sinusoidal_embedding"


def _result(student: str, score: float = 10.0, seconds: float = 1.0) -> SubmissionResult:
    return SubmissionResult(student, A, "graded", score=score, max_score=10.0, seconds=seconds)


def _db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'gradebook.db'}?timeout=60"


def test_a_job_is_taken_once_and_a_lost_lease_is_taken_again(tmp_path):
    url = _db(tmp_path)
    enqueue_jobs(url, [("ada", A, "h1"), ("bo", A, "h2")])
    first, second = claim(url, "m1", lease_s=60), claim(url, "m2", lease_s=60)
    assert {first.student, second.student} == {"ada", "bo"}
    assert claim(url, "m3", lease_s=60) is None  # both held, leases running
    with engine_for(url).begin() as conn:  # m1 dies: its lease runs out
        conn.execute(QUEUE_TABLE.update().where(QUEUE_TABLE.c.id == first.id).values(lease_until=time.time() - 1))
    again = claim(url, "m3", lease_s=60)
    assert (again.id, again.attempts) == (first.id, 2)
    assert not heartbeat(url, first) and heartbeat(url, again)
    assert not finish(url, first, _result(first.student, 3.0), "m1")  # the loser cannot record
    assert finish(url, again, _result(again.student, 10.0), "m3")
    assert finish(url, second, _result(second.student, 7.0), "m2")
    rows = {r["student"]: (r["score"], r["machine"]) for r in load_results(url)}
    assert rows == {first.student: (10.0, "m3"), second.student: (7.0, "m2")}
    assert queue_summary(url)["counts"] == {"queued": 0, "running": 0, "done": 2, "failed": 0}


def test_enqueue_is_idempotent_and_requeues_a_changed_file(tmp_path):
    url = _db(tmp_path)
    assert enqueue_jobs(url, [("ada", A, "h1")]) == {"queued": 1, "requeued": 0, "unchanged": 0}
    job = claim(url, "m1")
    assert finish(url, job, _result("ada"), "m1")
    assert enqueue_jobs(url, [("ada", A, "h1")])["unchanged"] == 1  # graded with these files: nothing to do
    assert claim(url, "m1") is None
    assert enqueue_jobs(url, [("ada", A, "h1")], regrade=True)["requeued"] == 1
    assert enqueue_jobs(url, [("ada", A, "h2")])["requeued"] == 1
    assert claim(url, "m1").submission_hash == "h2"


def test_a_submission_changed_since_queued_is_requeued_not_graded_stale(tmp_path, monkeypatch):
    root = tmp_path / "course"
    folder = root / "submitted" / "ada" / A
    folder.mkdir(parents=True)
    (folder / f"{A}.ipynb").write_text("first version")
    dirs = CourseDirs(root=root)
    enqueue_jobs(dirs.db_url, [("ada", A, submission_digest(folder))])
    (folder / f"{A}.ipynb").write_text("handed in again")  # after it was queued
    graded = []

    def fake_grade(dirs_, sub, opts):
        graded.append((sub.folder / f"{A}.ipynb").read_text())
        return _result(sub.student)

    monkeypatch.setattr(grade_worker, "_grade_one", fake_grade)
    monkeypatch.setattr(grade_worker, "_local_release", lambda *a: None)
    done = work(dirs, GradeOptions(sandbox=False), WorkerOptions(lease_s=30, poll_s=1))
    assert [r.student for r in done] == ["ada"] and graded == ["handed in again"]
    with engine_for(dirs.db_url).connect() as conn:
        row = conn.execute(QUEUE_TABLE.select()).mappings().one()
    assert row["state"] == "done" and row["attempts"] == 2  # taken, given back with the new hash, taken
    assert row["submission_hash"] == submission_digest(folder)
    assert load_results(dirs.db_url)[0]["submission_hash"] == submission_digest(folder)


def test_workers_in_one_process_share_the_queue(tmp_path, monkeypatch):
    root = tmp_path / "course"
    dirs = CourseDirs(root=root)
    jobs = []
    for i in range(6):
        folder = root / "submitted" / f"learner-{i}" / A
        folder.mkdir(parents=True)
        (folder / f"{A}.ipynb").write_text(f"answer {i}")
        jobs.append((f"learner-{i}", A, submission_digest(folder)))
    enqueue_jobs(dirs.db_url, jobs)

    def fake_grade(dirs_, sub, opts):
        time.sleep(0.2)
        return _result(sub.student)

    monkeypatch.setattr(grade_worker, "_grade_one", fake_grade)
    monkeypatch.setattr(grade_worker, "_local_release", lambda *a: None)
    seen = []
    done = grade_worker.work_parallel(
        dirs,
        GradeOptions(sandbox=False),
        WorkerOptions(lease_s=30, poll_s=1),
        jobs=2,
        on_result=lambda r, n: seen.append(n),
    )
    assert sorted(r.student for r in done) == [f"learner-{i}" for i in range(6)] and sorted(seen) == list(range(1, 7))
    machines = {r["machine"] for r in load_results(dirs.db_url)}
    assert machines <= {f"{grade_worker.machine_name()}/1", f"{grade_worker.machine_name()}/2"}, machines


# --- acceptance: PostgreSQL, three worker processes, one killed mid-job ------------------------

N_SUBMISSIONS = 30
LEASE_S = 20.0
_WORKER = """
import sys
from pathlib import Path
from course_utils.grading.autograde import GradeOptions, progress_line
from course_utils.grading.course import CourseDirs
from course_utils.grading.grade_worker import WorkerOptions, work
root, url, name, lease = sys.argv[1:5]
work(CourseDirs(root=Path(root), db_url=url), GradeOptions(sandbox=True),
     WorkerOptions(lease_s=float(lease), poll_s=2, machine=name),
     on_result=lambda r, n: print("RECORDED", r.student, r.status, r.score, flush=True))
"""


def _bench_module():
    """bench/grading.py, whose make_submissions() is the benchmark's mixed-quality set."""
    spec = importlib.util.spec_from_file_location("bench_grading", REPO_ROOT / "bench" / "grading.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _kill_tree(proc: subprocess.Popen) -> None:
    family = psutil.Process(proc.pid).children(recursive=True)
    os.killpg(proc.pid, signal.SIGKILL)
    for p in family:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    proc.wait()


def _kind(student: str) -> str:
    return student.split("-", 2)[2]  # learner-NN-<kind>


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="the sandbox needs root and util-linux setpriv"
)
def test_three_workers_one_killed_grade_every_submission_once(tmp_path, pg_url, capsys):
    import pgkit
    from course_utils.grading.submissions import write_submission

    subs = _bench_module().make_submissions(N_SUBMISSIONS)
    # The single-machine reference: one submission of each kind, graded by `make autograde`'s path.
    one_each = {s: nb for s, nb in subs.items() if int(s.split("-")[1]) < 5}
    reference = {
        _kind(s): (r.status, r.score, r.cells)
        for s, r in grade(tmp_path / "single", A, one_each, jobs=2, sandbox=True).items()
    }

    root = tmp_path / "queue" / "course"
    shutil.copytree(REPO_ROOT / "solutions" / A, root / "solutions" / A)
    for student, nb in subs.items():
        write_submission(root / "submitted", student, A, nb)
    dirs = CourseDirs(root=root, db_url=pg_url)
    assert enqueue(dirs, [A]) == {"queued": N_SUBMISSIONS, "requeued": 0, "unchanged": 0}

    start = time.perf_counter()
    logs = {name: open(tmp_path / f"{name}.log", "w+") for name in ("w1", "w2", "w3")}
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(root), pg_url, name, str(LEASE_S)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
        for name, log in logs.items()
    }
    killed_job = None
    try:
        deadline = time.time() + 600
        while killed_job is None and time.time() < deadline:  # w1 in the middle of a job (5 s into it)
            rows = pgkit.query(
                pg_url,
                "SELECT student, claimed_at FROM course_grading_queue WHERE machine = 'w1' AND state = 'running'",
            )
            if rows and time.time() - rows[0][1] > 5:
                _kill_tree(procs["w1"])
                killed_job = rows[0][0]
            time.sleep(0.5)
        assert killed_job, "worker w1 never held a job"
        for name in ("w2", "w3"):
            procs[name].wait(timeout=1500)
    finally:
        for p in procs.values():
            if p.poll() is None:
                _kill_tree(p)
    seconds = time.perf_counter() - start
    recorded = []
    for name, log in logs.items():
        log.seek(0)
        recorded += [(name, ln.split()[1]) for ln in log.read().splitlines() if ln.startswith("RECORDED")]

    # Every submission recorded exactly once, the killed job by another worker.
    assert sorted(s for _, s in recorded) == sorted(subs), recorded
    assert (("w1", killed_job) not in recorded) and any(s == killed_job for _, s in recorded)
    queue = {
        r[0]: r[1:] for r in pgkit.query(pg_url, "SELECT student, state, attempts, machine FROM course_grading_queue")
    }
    assert len(queue) == N_SUBMISSIONS and all(state == "done" for state, _, _ in queue.values()), queue
    assert queue[killed_job][1:] != (1, "w1") and queue[killed_job][1] == 2
    assert sum(att for _, att, _ in queue.values()) == N_SUBMISSIONS + 1  # only the killed job twice

    # nbgrader's gradebook holds each submission once, with the single-machine scores.
    counts = pgkit.query(pg_url, "SELECT student_id, COUNT(*) FROM submitted_assignment GROUP BY student_id")
    assert sorted(counts) == sorted((s, 1) for s in subs)
    rows = {r["student"]: r for r in load_results(pg_url)}
    assert len(rows) == N_SUBMISSIONS
    for student, r in rows.items():
        assert (r["status"], r["score"], r["cells"]) == reference[_kind(student)], student

    # `make report` (its command) shows all 30 from the database alone: no local log read.
    shutil.rmtree(root / "build" / "grading", ignore_errors=True)
    capsys.readouterr()
    cli.main(["report", "--db-url", pg_url])
    table = capsys.readouterr().out
    assert f"{N_SUBMISSIONS} submission(s)" in table and all(s in table for s in subs)
    status = format_status(pg_url)
    assert status.startswith(f"queued 0, running 0, done {N_SUBMISSIONS}, failed 0"), status
    print(
        f"{N_SUBMISSIONS} submissions through the queue with 3 workers (one killed while grading "
        f"{killed_job}) in {seconds:.0f} s\n{status}"
    )


def test_the_queue_bench_measures_the_bookkeeping_per_job():
    import pgkit

    if pgkit.missing():
        if os.environ.get("CI"):
            pytest.fail(pgkit.missing() + "; .ci/run should have installed it")
        pytest.skip(pgkit.missing())
    spec = importlib.util.spec_from_file_location("bench_grading_queue", REPO_ROOT / "bench" / "grading_queue.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    per_job = bench.queue_overhead(pgkit, jobs=20)
    assert 0 < per_job < 5, per_job  # seconds of enqueue + claim + heartbeat + close per job
    note = bench.scaling_note(
        {
            "runs": [{"workers": 1, "seconds": 60.0}, {"workers": 2, "seconds": 40.0}],
            "queue_overhead_s_per_job": per_job,
            "submissions": 30,
        }
    )
    assert "2 workers vs 1: 1.50x, 75% of linear" in note and "2.0 s of wall time" in note
