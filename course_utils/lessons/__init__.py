"""The course's lessons, listed once.

The build commands (``python -m course_utils.grading build / execute / release /
check``, which the Makefile runs), the course site and the test-suite enumerate lessons
from :data:`LESSONS`. A lesson exists when it has an entry here, a source in
``authoring/``, a solution in ``solutions/``, a student notebook in ``notebooks/``, a
row in the README's lesson table and a grading test ``tests/test_grading_lessonNN.py``;
``tests/test_lesson_registry.py`` says which is missing (see CONTRIBUTING.md).

The package's sub-packages hold what one lesson's cells call (``lessons/lesson04/``: the
held-out evaluation of lesson 04's experiment); the registry itself stays here, so
``from course_utils.lessons import LESSONS`` keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Lesson", "LESSONS", "by_id"]


@dataclass(frozen=True)
class Lesson:
    assignment: str  # nbgrader assignment id == folder == notebook stem
    title: str
    minutes: int  # estimated learner time
    gpu: str  # "no" | "optional" | "recommended"
    execute_timeout_s: int  # budget for executing the solution on 2 CPU cores

    @property
    def number(self) -> str:
        return self.assignment[:2]

    @property
    def source(self) -> str:
        return f"authoring/{self.assignment}.py"

    @property
    def solution(self) -> str:
        return f"solutions/{self.assignment}/{self.assignment}.ipynb"

    @property
    def student(self) -> str:
        return f"notebooks/{self.assignment}/{self.assignment}.ipynb"


LESSONS: tuple[Lesson, ...] = (
    Lesson("01_sinusoidal_embedding", "Sinusoidal timestep embedding", 45, "no", 60),
    Lesson("02_timestep_mlp_film", "Timestep MLP and FiLM", 55, "no", 60),
    Lesson("03_adaptive_group_norm", "Adaptive group normalization", 50, "no", 60),
    Lesson("04_mnist_simple_vs_sinusoidal", "MNIST: simple vs sinusoidal conditioning", 70, "recommended", 120),
    Lesson("05_film_score_network_2d", "A FiLM score network on 2D data", 80, "no", 180),
)


def by_id(assignment: str) -> Lesson:
    """The lesson whose assignment id is ``assignment``."""
    for lesson in LESSONS:
        if lesson.assignment == assignment:
            return lesson
    raise KeyError(f"no lesson {assignment!r}; known: {[l.assignment for l in LESSONS]}")
