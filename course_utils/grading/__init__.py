"""Grading pipeline: nbgrader wrappers, sandbox, integrity scan, guards.

The instructor-facing entry point is ``python -m course_utils.grading`` (see
:mod:`course_utils.grading.cli`), which the Makefile's targets call.
"""
