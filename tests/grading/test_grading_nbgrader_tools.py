"""nbgrader's own tools, run as an instructor would, are as safe as the Makefile's (issue 14, item 5).

Plain ``nbgrader autograde`` (the repository's ``nbgrader_config.py`` loaded from the
working directory, as formgrader's Autograde button loads it) must run a learner's code
in the course's sandbox: a cell that writes outside the sandbox and reads the gradebook is
denied, and runs as an unprivileged uid. Plain ``nbgrader generate_feedback`` must hold no
hidden test. ``nbgrader export`` and ``make export`` (``python -m course_utils.grading
export``) give one schema, with the course's status; formgrader sees flagged and failed
submissions through nbgrader's flag and comment. ``make autograde`` prints one line per
finished submission, and the grading commands print no framework WARNING.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_utils.grading import cli
from course_utils.grading.autograde import GradeOptions, autograde, progress_line
from course_utils.grading.course import REPO_ROOT, CourseDirs
from course_utils.grading.export import COLUMNS, NBGRADER_COLUMNS
from course_utils.grading.feedback import hidden_lines
from course_utils.grading.records import COMMENT_PREFIX
from course_utils.grading.submissions import write_submission
from gradekit import solution_source, student_notebook, with_answers

A = "01_sinusoidal_embedding"
ID = "sinusoidal_impl"
NBGRADER = str(Path(sys.executable).with_name("nbgrader"))
CHEAT = "\ntorch.allclose = lambda *a, **k: True\n"  # flagged by the integrity scan

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="the sandbox needs root and util-linux setpriv"
)


def _escape_attempt(root: Path) -> str:
    """An answer that also tries to write into the course folder and read the gradebook."""
    target, gradebook = root / "written-by-learner.txt", root / "gradebook.db"
    return (
        solution_source(A, ID) + "\nimport os\nprint('UID', os.getuid())\n"
        f"for _act in ('write', 'read'):\n"
        f"    try:\n"
        f"        (open({str(target)!r}, 'w').write('x') if _act == 'write' else open({str(gradebook)!r}, 'rb').read(1))\n"
        f"        print('ESCAPED', _act)\n"
        f"    except Exception as _e:\n"
        f"        print('DENIED', _act, type(_e).__name__)\n"
    )


def _nbgrader(*args: str) -> subprocess.CompletedProcess:
    """Run nbgrader's CLI from the repository (so it loads nbgrader_config.py), on the test course."""
    return subprocess.run(
        [NBGRADER, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={k: v for k, v in os.environ.items() if k != "COURSE_ALLOW_UNSANDBOXED"},
    )


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("nbtools") / "course"
    shutil.copytree(REPO_ROOT / "solutions" / A, root / "solutions" / A)
    subs = {
        "ada": with_answers(A, {ID: solution_source(A, ID)}),
        "blank": student_notebook(A),
        "cheat": with_answers(A, {ID: solution_source(A, ID) + CHEAT}),
    }
    for student, nb in subs.items():
        write_submission(root / "submitted", student, A, nb)
    (root / "submitted" / "broken" / A).mkdir(parents=True)
    (root / "submitted" / "broken" / A / f"{A}.ipynb").write_text("{ not json")
    dirs = CourseDirs(root=root)
    lines: list[str] = []
    results = autograde(
        dirs,
        [A],
        GradeOptions(jobs=2, sandbox=True),
        on_result=lambda r, done, total: lines.append(progress_line(r, done, total)),
    )
    # A learner graded by nbgrader's own CLI only, as an instructor might.
    write_submission(root / "submitted", "plain", A, with_answers(A, {ID: _escape_attempt(root)}))
    db = ["--CourseDirectory.root=" + str(root), "--db=" + dirs.db_url]
    plain = _nbgrader("autograde", A, "--student=plain", "--force", *db)
    return root, dirs, {r.student: r for r in results}, lines, plain, db


def test_make_autograde_prints_a_line_per_finished_submission(course):
    _, _, results, lines, _, _ = course
    assert len(lines) == len(results) == 4
    assert sorted(ln.split("]")[0] for ln in lines) == ["[1/4", "[2/4", "[3/4", "[4/4"]
    for r in results.values():
        line = next(ln for ln in lines if f"] {r.student} {A}: {r.status}" in ln)
        assert f"in {r.seconds:.1f} s" in line
        assert (f"{r.score:g} / {r.max_score:g}" in line) if r.score is not None else " - in " in line


def test_plain_nbgrader_autograde_runs_the_learner_in_the_sandbox(course):
    root, _, _, _, plain, _ = course
    assert plain.returncode == 0, plain.stderr[-3000:]
    nb = nbformat.read(root / "autograded" / "plain" / A / f"{A}.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "DENIED write" in text and "DENIED read" in text and "ESCAPED" not in text, text[-2000:]
    uid = int(text.split("UID ", 1)[1].split()[0])
    assert uid >= 1000, uid  # a throw-away sandbox uid, not the grader (root)
    assert not (root / "written-by-learner.txt").exists()
    # the judge still decides the points outside the kernel: the answer is correct
    from nbgrader.api import Gradebook

    with Gradebook(CourseDirs(root=root).db_url) as gb:
        assert gb.find_submission(A, "plain").score == 10


def test_plain_nbgrader_autograde_refuses_without_the_sandbox(course, monkeypatch):
    from course_utils.grading import nbgrader_tools
    from course_utils.grading.course import nbgrader_config
    from course_utils.grading.sandbox import SandboxUnavailable

    root = course[0]
    monkeypatch.setitem(nbgrader_tools._PREFLIGHT, str(root), "bubblewrap is not installed")
    cfg = nbgrader_config(CourseDirs(root=root))
    execute = nbgrader_tools.CliSandboxedExecute(config=cfg)
    with pytest.raises(SandboxUnavailable, match="refuses.*`make autograde`"):
        execute.preprocess(student_notebook(A), {"nbgrader": {"assignment": A, "notebook": A, "student": "x"}})


def test_plain_generate_feedback_shows_no_hidden_test(course):
    root, _, _, _, _, db = course
    autograded = nbformat.read(root / "autograded" / "ada" / A / f"{A}.ipynb", as_version=4)
    released = nbformat.read(root / "build" / "grading" / "release" / A / f"{A}.ipynb", as_version=4)
    secret = hidden_lines(autograded, released)
    assert secret  # the autograded copy holds hidden tests: the check below can fail
    done = _nbgrader("generate_feedback", A, "--student=ada", "--force", *db)
    assert done.returncode == 0, done.stderr[-3000:]
    html = (root / "feedback" / "ada" / A / f"{A}.html").read_text()
    leaked = [ln for ln in secret if ln in html or ln.replace("'", "&#39;") in html]
    assert not leaked, leaked
    assert "BEGIN HIDDEN TESTS" not in html and "Score: 10 / 10" in html


def test_formgrader_sees_the_course_status(course):
    from nbgrader.api import Gradebook

    _, dirs, results, _, _, _ = course
    assert results["cheat"].status == "flagged" and results["ada"].status == "graded"
    with Gradebook(dirs.db_url) as gb:
        for student, flagged in (("cheat", True), ("ada", False)):
            sub = gb.find_submission(A, student)
            assert all(nb.flagged == flagged for nb in sub.notebooks), student
            first = sorted(sub.notebooks[0].comments, key=lambda c: c.id)[0]
            assert (first.auto_comment or "").startswith(COMMENT_PREFIX + "flagged") == flagged


def test_nbgrader_export_and_make_export_write_one_schema(course, tmp_path, capsys):
    _, dirs, results, _, _, db = course
    done = _nbgrader("export", "--to=" + str(tmp_path / "nbgrader.csv"), *db)
    assert done.returncode == 0, done.stderr[-3000:]
    assert cli.main(["export", "--csv", str(tmp_path / "make.csv"), "--db-url", dirs.db_url]) == 1  # one failed
    nbg = list(csv.DictReader(open(tmp_path / "nbgrader.csv", newline="")))
    mk = list(csv.DictReader(open(tmp_path / "make.csv", newline="")))
    assert list(nbg[0]) == list(mk[0]) == COLUMNS and COLUMNS[: len(NBGRADER_COLUMNS)] == NBGRADER_COLUMNS
    assert nbg == mk
    by = {r["student_id"]: r for r in mk}
    assert by["ada"]["status"] == "graded" and by["ada"]["score"] == "10.0"
    assert by["cheat"]["status"] == "flagged" and by["cheat"]["findings"]
    assert by["broken"]["status"] == "failed" and by["broken"]["score"] == "" and by["broken"]["reason"]
    assert by["plain"]["status"] == "ungraded"  # graded by plain nbgrader: the course never judged its status


def test_grading_commands_print_no_framework_warning(course):
    # The allow_errors line nbgrader warned about is gone (Execute.allow_errors is not configurable).
    assert "allow_errors" not in (REPO_ROOT / "nbgrader_config.py").read_text()
    _, _, _, _, plain, _ = course
    assert "allow_errors not recognized" not in plain.stderr
