"""The pinned environment is declared once and environment.yml agrees with it."""

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version

from course_utils.grading.course import REPO_ROOT


def _pins(lines):
    out = {}
    for ln in lines:
        ln = ln.split("#", 1)[0].strip().lstrip("- ").strip()
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-]+)", ln)
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def test_environment_yml_names_the_same_packages_and_versions():
    req = _pins((REPO_ROOT / "requirements-dev.txt").read_text().splitlines())
    env = _pins((REPO_ROOT / "environment.yml").read_text().splitlines())
    assert req, "requirements-dev.txt pins nothing"
    assert env == req


def test_the_installed_packages_are_the_pinned_ones():
    """What this interpreter runs is what requirements-dev.txt pins (a stale venv fails here)."""
    req = _pins((REPO_ROOT / "requirements-dev.txt").read_text().splitlines())
    assert {"torch", "torchvision", "numpy", "nbgrader"} <= set(req), sorted(req)
    wrong = {}
    for name, pinned in req.items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = "not installed"
        if installed.split("+")[0] != pinned.split("+")[0]:  # a local build tag (+cu130) is the same release
            wrong[name] = f"pinned {pinned}, installed {installed}"
    assert not wrong, f"run `make env` (the venv is out of date): {wrong}"
    import torch

    assert torch.__version__.split("+")[0] == req["torch"], torch.__version__


def test_package_dependencies_are_loose_so_colab_keeps_its_torch():
    deps = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        assert "==" not in dep and "<" not in dep, f"{dep!r} would replace Colab's build; use a lower bound"
    assert any(d.startswith("torch>=") for d in deps)
