"""Friendly exceptions for the MNIST lesson's data, training and cached results.

A learner who hits one of these should read one sentence that says what went
wrong and what to do next, not a page of traceback. Every class here derives
from :class:`LessonError`, whose ``_render_traceback_`` hook tells IPython /
Jupyter to print just ``ErrorName: message``; plain Python still prints the usual
traceback (useful in the test-suite and in scripts).
"""

from __future__ import annotations

__all__ = [
    "LessonError",
    "DataError",
    "ProfileError",
    "GPUMemoryError",
    "ResultsError",
]


class LessonError(Exception):
    """Base class: an error whose message already tells the learner what to do."""

    def _render_traceback_(self) -> list[str]:  # IPython looks this method up
        return [f"{type(self).__name__}: {self}"]


class DataError(LessonError):
    """The MNIST files are missing, truncated or corrupt."""


class ProfileError(LessonError):
    """The requested training profile cannot run on this machine (e.g. gpu without CUDA)."""


class GPUMemoryError(LessonError):
    """The GPU ran out of memory during training."""


class ResultsError(LessonError):
    """A cached-results file is missing, malformed or lacks its provenance."""
