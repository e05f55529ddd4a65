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
c.Execute.allow_errors = True

# The kernel computes, the grader judges: graded test cells run out of IPython's history
# and their points come from the judgements in authoring/ (course_utils/grading/judge.py),
# run here in the grading process. Without this, nbgrader would give full points to any
# hidden probe that merely ran without an error.
from course_utils.grading.preprocessors import autograde_preprocessors  # noqa: E402

c.Autograde.autograde_preprocessors = autograde_preprocessors()
# `make zip-collect`: LMS exports (Canvas's flat <name>_<userid>_<fileid>_<file>.ipynb, with or
# without _late; Moodle's folder per learner), learner ids checked: course_utils/grading/zipcollect.py.
c.ZipCollectApp.collector_plugin = "course_utils.grading.zipcollect.CourseCollector"
