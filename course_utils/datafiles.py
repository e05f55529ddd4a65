"""Old import path of :mod:`course_utils.paths`, kept for notebooks released before it moved.

Lesson 04's released notebook runs ``from course_utils.datafiles import display_path``; a
learner may open it against a newer package. New code imports :mod:`course_utils.paths`.
"""

from .paths import PACKAGE_DATA, REPO_DATA, REPO_ROOT, data_dir, display_path, shipped_dir

__all__ = ["REPO_ROOT", "REPO_DATA", "PACKAGE_DATA", "shipped_dir", "data_dir", "display_path"]
