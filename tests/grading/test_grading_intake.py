"""Bad hand-ins get `failed` with a reason that says what was handed in; hostile text stays inert.

One grading run (sandbox off: nothing here needs it, and most refusals happen before
any kernel starts) holds every case: links, devices, empty and foreign notebooks,
several notebooks, tampered grading metadata, and hostile learner names, grade ids
and outputs, which must reach neither the report, the CSV nor the feedback raw.
"""

from __future__ import annotations

import copy
import csv
import os
import re
import shutil

import nbformat
import pytest

from course_utils.grading.autograde import GradeOptions, autograde
from course_utils.grading.course import REPO_ROOT, CourseDirs
from course_utils.grading.escape import for_spreadsheet, for_terminal
from course_utils.grading.feedback import write_feedback
from course_utils.grading.export import export_csv
from course_utils.grading.report import format_table, load_status
from course_utils.grading.submissions import write_submission
from course_utils.grading.worker import MAX_OUTPUT_CHARS
from gradekit import solution_source, student_notebook, with_answers

A = "01_sinusoidal_embedding"
ID = "sinusoidal_impl"
NB = f"{A}.ipynb"
ESC = "\x1b[2J\x1b[1;1H"
HOSTILE_GID = "x\r\x1b[1Aforged-learner   01_sinusoidal_embedding   graded   10 / 10"
NAMES = {"formula": '=HYPERLINK("evil.example";"y")', "escape": f"esc{ESC}learner", "plus": "+1-555"}


def good():
    return with_answers(A, {ID: solution_source(A, ID)})


def tampered():
    nb = copy.deepcopy(good())
    for c in nb.cells:
        meta = c.metadata.get("nbgrader") or {}
        if meta.get("grade_id") == "hidden_sinusoidal_values":
            meta["points"] = 100
    return nb


def hostile_gid():
    nb = copy.deepcopy(good())
    extra = nbformat.v4.new_code_cell("pass")
    extra.metadata["nbgrader"] = {
        "grade": True,
        "grade_id": HOSTILE_GID,
        "locked": False,
        "points": 10,
        "schema_version": 3,
        "solution": False,
        "task": False,
    }
    nb.cells.append(extra)
    return nb


HOSTILE_OUTPUT = (
    "from IPython.display import HTML, Javascript, Markdown, Image, display\n"
    'display(HTML(\'<script>alert("html-script")</script><b onmouseover=alert("handler")>hi</b>\'))\n'
    "display(Javascript('alert(\"js-output\")'))\n"
    "display(Markdown('<iframe src=\"http://evil.example\"></iframe>'))\n"
    "import base64, os\n"
    "display({'image/png': base64.b64encode(b'\\x89PNG' + os.urandom(300_000)).decode(), 'text/plain': 'img'},"
    " raw=True)\n"
)


def hostile_outputs():
    nb = with_answers(A, {ID: solution_source(A, ID) + "\n" + HOSTILE_OUTPUT})
    nb.cells.append(
        nbformat.v4.new_markdown_cell(
            "<iframe src='http://evil.example/md'></iframe><img src=x onerror=alert('md-handler')>"
        )
    )
    return nb


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("intake")
    root = tmp / "course"
    sub = root / "submitted"
    solution = REPO_ROOT / "solutions" / A / NB
    subs = {
        "correct": good(),
        "empty": nbformat.v4.new_notebook(),
        "other-lesson": student_notebook("03_adaptive_group_norm"),
        "tampered": tampered(),
        "hostile-gid": hostile_gid(),
        "hostile-outputs": hostile_outputs(),
        **{name: good() for name in NAMES.values()},
    }
    for name, nb in subs.items():
        write_submission(sub, name, A, nb)
    (sub / "two-notebooks" / A).mkdir(parents=True)
    nbformat.write(good(), sub / "two-notebooks" / A / NB)
    nbformat.write(good(), sub / "two-notebooks" / A / "copy of my work.ipynb")
    (sub / "symlinked-notebook" / A).mkdir(parents=True)
    (sub / "symlinked-notebook" / A / NB).symlink_to(solution)
    (sub / "symlinked-folder").mkdir()
    (sub / "symlinked-folder" / A).symlink_to(solution.parent, target_is_directory=True)
    planted = tmp / "elsewhere.ipynb"
    nbformat.write(good(), planted)
    (sub / "hard-link" / A).mkdir(parents=True)
    os.link(planted, sub / "hard-link" / A / NB)
    write_submission(sub, "fifo", A, good())
    os.mkfifo(sub / "fifo" / A / "data.csv")
    shutil.copytree(REPO_ROOT / "solutions" / A, root / "solutions" / A)
    results = autograde(CourseDirs(root=root), [A], GradeOptions(jobs=2, sandbox=False))
    return root, {r.student: r for r in results}


def test_the_honest_learner_in_the_same_run_gets_full_marks(run):
    r = run[1]["correct"]
    assert (r.status, r.score, r.max_score) == ("graded", 10, 10), (r.reason, r.notes)


@pytest.mark.parametrize(
    "name, words",
    [
        ("symlinked-notebook", ["not a regular file", NB, "symlink"]),
        ("symlinked-folder", ["not a regular file", A, "symlink"]),
        ("hard-link", ["not a regular file", NB, "hard link"]),
        ("fifo", ["not a regular file", "data.csv", "FIFO"]),
        ("empty", ["empty notebook", NB]),
        ("other-lesson", ["another lesson", "03_adaptive_group_norm"]),
        ("two-notebooks", ["2 notebooks", "copy of my work.ipynb", NB]),
        ("tampered", ["hidden_sinusoidal_values", "'points'", "100"]),
    ],
)
def test_each_bad_hand_in_fails_saying_what_it_is(run, name, words):
    r = run[1][name]
    assert r.status == "failed" and r.score is None, (r.status, r.reason)
    assert all(w in r.reason for w in words), r.reason


def test_hostile_names_and_grade_ids_reach_the_report_escaped(run):
    rows = load_status(CourseDirs(root=run[0]))
    table = format_table(rows)
    assert "\x1b" not in table and "\r" not in table
    assert for_terminal(NAMES["escape"]) in table and "\\x1b[2J" in table
    assert "x\\x0d\\x1b[1Aforged-learner" in table  # the forged row stays inside its own line
    hostile = run[1]["hostile-gid"]
    assert hostile.status == "graded" and hostile.score == 10  # the invented cell is ignored
    assert all(line.count("\n") == 0 for line in table.splitlines())
    assert len(table.splitlines()) == len(rows) + 3  # header, rule, one line per row, summary


def test_the_csv_neutralises_formulas_and_control_characters(run, tmp_path):
    export_csv(CourseDirs(root=run[0]).db_url, tmp_path / "grades.csv")
    raw = (tmp_path / "grades.csv").read_text()
    assert "\x1b" not in raw
    got = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "grades.csv", newline=""))}
    assert got[for_spreadsheet(NAMES["formula"])]["score"] == "10.0"
    assert for_spreadsheet(NAMES["formula"]).startswith("'=") and for_spreadsheet("+1-555") == "'+1-555"
    for cell in (v for r in got.values() for v in r.values()):
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_feedback_html_runs_no_learner_code_and_outputs_are_trimmed(run, tmp_path):
    root, results = run
    r = results["hostile-outputs"]
    assert r.status == "graded" and r.score == 10, (r.reason, r.notes)
    nb_path = root / "autograded" / "hostile-outputs" / A / NB
    text = nb_path.read_text()
    assert "image/png output cut: 400,0" in text  # 300,000 bytes in base64, replaced by the note
    nb = nbformat.read(nb_path, as_version=4)
    assert all(
        len(str(v)) <= MAX_OUTPUT_CHARS + 200
        for c in nb.cells
        for o in c.get("outputs", [])
        for v in o.get("data", {}).values()
    )
    html = write_feedback(nb_path, root / "build/grading/release" / A / NB, r.cells, tmp_path / "f.html").read_text()
    assert "<iframe" not in html and '<script>alert("html-script")' not in html
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S)  # the template's own only
    assert not [js for js in scripts if "alert" in js or "evil" in js], scripts
    handlers = re.findall(r"<[a-zA-Z][^<>]*\son[a-z]+\s*=[^<>]*>", html)  # an event handler in a real tag
    assert not [h for h in handlers if "alert" in h], handlers
    assert "Score: 10 / 10" in html and len(html) < 2_000_000
