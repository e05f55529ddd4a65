"""Old import paths that keep working for one term after the package moved into subfolders.

A learner may open a notebook released before the move against the newest package, so
``from course_utils.unets import UNetSimple`` must still work. Rather than a re-export file per
old module (a second module object whose names can drift from the first), each old name in
:data:`MOVED` is an alias: importing it returns the module at its new path, the very same object,
so a class, a constant or a monkeypatch is the same whichever name reached it.
``tests/test_released_imports.py`` imports every old name and every name the released notebooks
of the previous term import. New code imports the new paths; remove this table after one term.

The mechanism is the import system's own (PEP 451): a meta-path finder whose spec's loader hands
back the already-imported new module from ``create_module``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

__all__ = ["MOVED", "install"]

# old module name -> where it lives now
MOVED: dict[str, str] = {
    "course_utils.sinusoidal": "course_utils.components.sinusoidal",
    "course_utils.timestep_mlp": "course_utils.components.timestep_mlp",
    "course_utils.film": "course_utils.components.film",
    "course_utils.adagn": "course_utils.components.adagn",
    "course_utils.unets": "course_utils.components.unets",
    "course_utils.score2d": "course_utils.components.score2d",
    "course_utils.time_checks": "course_utils.components.time_checks",
    "course_utils.ddpm": "course_utils.diffusion.ddpm",
    "course_utils.vpsde": "course_utils.diffusion.vpsde",
    "course_utils.timesteps": "course_utils.diffusion.timesteps",
    "course_utils.toy2d": "course_utils.diffusion.toy2d",
    "course_utils.metrics2d": "course_utils.diffusion.metrics2d",
    "course_utils.embedding_properties": "course_utils.lessons.lesson01.embedding_properties",
    "course_utils.learned_table": "course_utils.lessons.lesson01.learned_table",
    "course_utils.mlp_conditioning": "course_utils.lessons.lesson02.mlp_conditioning",
    "course_utils.conv_conditioning": "course_utils.lessons.lesson03.conv_conditioning",
    "course_utils.mnist": "course_utils.lessons.lesson04.mnist",
    "course_utils.trainer": "course_utils.lessons.lesson04.trainer",
    "course_utils.graphed_step": "course_utils.lessons.lesson04.graphed_step",
    "course_utils.profiles": "course_utils.lessons.lesson04.profiles",
    "course_utils.lesson04_results": "course_utils.lessons.lesson04.results",
    "course_utils.lesson04_errors": "course_utils.lessons.lesson04.errors",
    "course_utils.experiment2d": "course_utils.lessons.lesson05.experiment2d",
    "course_utils.metric_bands2d": "course_utils.lessons.lesson05.metric_bands2d",
    "course_utils.time_width_study": "course_utils.lessons.lesson05.time_width_study",
    "course_utils.authoring": "course_utils.build.authoring",
    "course_utils.site": "course_utils.build.site",
    "course_utils.grading.notebooks": "course_utils.build.notebooks",
    "course_utils.datafiles": "course_utils.paths",
}


class _Alias(importlib.abc.Loader):
    """Loads an old name as the module at its new path (no second module object)."""

    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.new)
        self._own_spec = module.__spec__  # the import system sets __spec__ to the alias's spec next
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self._own_spec  # already executed under its new name: only undo that


class _MovedFinder(importlib.abc.MetaPathFinder):
    """Finds the old names of :data:`MOVED` (and nothing else)."""

    def find_spec(self, fullname, path=None, target=None):
        new = MOVED.get(fullname)
        return None if new is None else importlib.util.spec_from_loader(fullname, _Alias(new))


def install() -> None:
    """Put the finder on ``sys.meta_path`` once (``course_utils/__init__.py`` calls it)."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
