"""The course's lessons, listed once.

The Makefile, the README's lesson table and the test-suite all enumerate lessons
from :data:`LESSONS`; a lesson exists when its source is in ``authoring/``, its
solution in ``solutions/`` and its entry here.
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
