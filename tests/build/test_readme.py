"""The README documents every lesson (with its Colab badge) and every Makefile target."""

import re

from course_utils.about import colab_url
from course_utils.grading.course import REPO_ROOT
from course_utils.lessons import LESSONS

README = (REPO_ROOT / "README.md").read_text()


def test_every_lesson_has_a_colab_badge_and_a_time_estimate():
    for lesson in LESSONS:
        row = next((ln for ln in README.splitlines() if ln.startswith(f"| {lesson.number} |")), None)
        assert row, f"README has no row for lesson {lesson.number}"
        assert colab_url(lesson.student) in row
        assert f"{lesson.minutes} min" in row
        assert f"]({lesson.solution})" in row


def test_quick_start_has_exactly_the_two_commands():
    block = README.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    cmds = [ln.split("#")[0].strip() for ln in block.strip().splitlines()]
    assert cmds == ["make demo", "make test"]


def test_every_makefile_target_is_documented():
    targets = re.findall(r"^([a-z][a-z-]*):.*##", (REPO_ROOT / "Makefile").read_text(), flags=re.M)
    assert len(targets) > 10
    missing = [t for t in targets if f"`make {t}`" not in README]
    assert not missing, f"README does not document: {missing}"
