"""nbgrader configuration for instructors who run nbgrader's own CLI in this repo.

The course's own commands (course_utils/grading, the Makefile) load this file too
and only override the paths (course_utils/grading/course.py), so that `nbgrader ...`
run by hand, `make autograde` and the tests' temporary course folders all share
one configuration.
"""

import os

c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "time-conditioning"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db") + "?timeout=60"
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.Execute.timeout = 120

# The kernel computes, the grader judges: graded test cells run out of IPython's history
# and their points come from the judgements in authoring/ (course_utils/grading/judge.py),
# run here in the grading process. Without this, nbgrader would give full points to any
# hidden probe that merely ran without an error.
from course_utils.grading.preprocessors import autograde_preprocessors  # noqa: E402

c.Autograde.autograde_preprocessors = autograde_preprocessors()
# nbgrader's own CLI and formgrader's buttons take the safe paths too: `nbgrader autograde` runs
# learner kernels in the course's sandbox (or refuses, naming `make autograde`), `nbgrader
# generate_feedback` renders the course's learner view (no hidden test, no expected value), and
# `nbgrader export` writes the course's grades.csv schema: course_utils/grading/nbgrader_tools.py.
# (The Makefile's commands override the autograde list per submission: course_utils/grading/worker.py.)
from course_utils.grading.nbgrader_tools import configure_plain_nbgrader  # noqa: E402

configure_plain_nbgrader(c)
# `make zip-collect`: LMS exports (Canvas's flat <name>_<userid>_<fileid>_<file>.ipynb, with or
# without _late; Moodle's folder per learner), learner ids checked: course_utils/grading/zipcollect.py.
c.ZipCollectApp.collector_plugin = "course_utils.grading.zipcollect.CourseCollector"
