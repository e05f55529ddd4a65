"""Grading pipeline: nbgrader wrappers, sandbox, integrity scan, guards."""
