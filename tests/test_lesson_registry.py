"""Every lesson exists in each place a lesson needs, and nothing exists for a lesson that is not one.

The places are those of CONTRIBUTING.md, "Adding a lesson": an entry in
course_utils/lessons/__init__.py, a source in authoring/, a solution in solutions/, a student notebook in
notebooks/, a row in the README's lesson table and a grading test. The test says which is missing.
"""

import re

from course_utils.lessons import LESSONS

README_ROW = re.compile(r"^\| (\d\d) \|", flags=re.M)


def _places(root, lesson) -> dict[str, bool]:
    readme = (root / "README.md").read_text()
    return {
        f"authoring source {lesson.source}": (root / lesson.source).is_file(),
        f"solution notebook {lesson.solution} (make solutions)": (root / lesson.solution).is_file(),
        f"student notebook {lesson.student} (make notebooks)": (root / lesson.student).is_file(),
        f"README lesson-table row '| {lesson.number} |'": lesson.number in README_ROW.findall(readme),
        f"grading test tests/test_grading_lesson{lesson.number}.py":
            (root / "tests" / f"test_grading_lesson{lesson.number}.py").is_file(),
    }


def test_every_registered_lesson_is_complete(repo_root):
    missing = {lesson.assignment: [place for place, ok in _places(repo_root, lesson).items() if not ok]
               for lesson in LESSONS}
    missing = {a: m for a, m in missing.items() if m}
    assert not missing, f"lessons missing a place (see CONTRIBUTING.md, 'Adding a lesson'): {missing}"


def test_nothing_exists_for_an_unregistered_lesson(repo_root):
    known = {lesson.assignment for lesson in LESSONS}
    numbers = {lesson.number for lesson in LESSONS}
    strays = [f"authoring/{p.name}" for p in (repo_root / "authoring").glob("[0-9][0-9]_*.py") if p.stem not in known]
    for folder in ("solutions", "notebooks"):
        strays += [f"{folder}/{p.name}/" for p in (repo_root / folder).iterdir() if p.is_dir()
                   and p.name[:2].isdigit() and p.name not in known]
    strays += [f"tests/{p.name}" for p in (repo_root / "tests").glob("test_grading_lesson[0-9][0-9].py")
               if p.stem[-2:] not in numbers]
    strays += [f"README row {n}" for n in README_ROW.findall((repo_root / "README.md").read_text())
               if n not in numbers]
    assert not strays, f"add these lessons to course_utils/lessons/__init__.py LESSONS, or remove them: {strays}"


def test_lesson_numbers_and_ids_are_unique_and_ordered():
    numbers = [lesson.number for lesson in LESSONS]
    assert numbers == sorted(set(numbers)), numbers
    assert all(re.fullmatch(r"\d\d_[a-z0-9_]+", lesson.assignment) for lesson in LESSONS)


def test_contributing_names_every_place_the_registry_checks(repo_root):
    """CONTRIBUTING.md documents what this test enforces (and how to add the other kinds of work)."""
    text = (repo_root / "CONTRIBUTING.md").read_text()
    for needle in ("course_utils/lessons/__init__.py", "authoring/", "solutions/", "notebooks/", "README",
                   "tests/test_grading_lesson", "make solutions notebooks", "make check",
                   "## Adding a lesson", "## Adding an exercise", "## Adding a component",
                   "## Adding a cached result"):
        assert needle in text, f"CONTRIBUTING.md does not mention {needle!r}"
