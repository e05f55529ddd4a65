"""A pip-installed course_utils (as on Colab) carries the shipped data and finds it.

Builds the wheel from a copy of the repository's packaging inputs, installs it into a
folder of its own, and imports it from there in a fresh interpreter whose working
directory is empty, as the notebooks' setup cell does on Colab.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from course_utils.paths import REPO_ROOT

ROOT = REPO_ROOT

PROBE = r"""
import json, sys
from pathlib import Path
import course_utils
from course_utils import paths
from course_utils.diffusion.samplers import ddim_sample
from course_utils.lessons import LESSONS
from course_utils.lessons.lesson04.heldout import train_and_heldout
from course_utils.lessons.lesson04.mnist import load_mnist
from course_utils.lessons.lesson04.results import load_results
from course_utils.lessons.lesson04.weights import load_weights
from course_utils.lessons.lesson05.experiment2d import Experiment2DConfig, results_path
from course_utils.lessons.lesson05.experiment2d import load_results as load_2d

split = load_mnist("cpu", source="shipped", verbose=False)
print(json.dumps({
    "package": str(Path(course_utils.__file__).parent),
    "shipped": str(paths.shipped_dir()),
    "writable": str(paths.data_dir()),
    "gpu_measured": load_results("gpu").measured,
    "cpu_measured": load_results("cpu").measured,
    "digits": len(split),
    "lesson05": results_path(Experiment2DConfig()).is_file(),
    "lesson05_loads": bool(load_2d(results_path(Experiment2DConfig()))),
    "lessons": len(LESSONS),
    "heldout": len(train_and_heldout(split)[1]),
    "weights": type(load_weights("UNetAdaGN")).__name__,
}))
"""


NEW_LESSON = "lesson99/runs/results.json"


def shipped_files() -> list[str]:
    """Every file of data/ that git tracks (the shipped data), relative to data/."""
    out = subprocess.run(["git", "ls-files", "-z", "data"], cwd=ROOT, capture_output=True, timeout=30)
    if out.returncode != 0:
        pytest.skip("not a git clone: the tracked data files are unknown")
    files = [p[len("data/") :] for p in out.stdout.decode().split("\0") if p]
    assert files, "git tracks no file under data/"
    return files


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "course_utils", src / "course_utils", ignore=shutil.ignore_patterns("__pycache__"))
    for rel in shipped_files():
        (src / "data" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / "data" / rel, src / "data" / rel)
    # A lesson that does not exist yet, with results one folder down: the patterns must ship it.
    (src / "data" / NEW_LESSON).parent.mkdir(parents=True)
    (src / "data" / NEW_LESSON).write_text("{}\n")
    # Downloads and caches of a clone must stay out of the wheel.
    for rel in ("MNIST/raw/train-images-idx3-ubyte", "cache/lesson05/comparison-x.json"):
        (src / "data" / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / "data" / rel).write_text("not shipped\n")
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=src,
    )
    assert proc.returncode == 0, proc.stderr
    (whl,) = out.glob("course_utils-*.whl")
    return whl


def test_the_wheel_holds_the_shipped_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"course_utils/_data/{rel}" for rel in shipped_files() + [NEW_LESSON]}
    assert expected <= names, f"pyproject.toml's package-data misses {sorted(expected - names)}"
    assert not any("/cache/" in n or "/MNIST/" in n for n in names)  # downloads stay out


def test_the_wheel_holds_every_module_of_every_package_folder(wheel):
    """A new subfolder of course_utils missing from pyproject.toml's packages would not reach Colab."""
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {
        p.relative_to(ROOT).as_posix() for p in (ROOT / "course_utils").rglob("*.py") if "__pycache__" not in p.parts
    }
    assert modules, "no module found under course_utils/"
    assert modules <= names, f"pyproject.toml's packages misses the folders of {sorted(modules - names)}"


def test_an_installed_copy_finds_its_data_away_from_the_clone(wheel, tmp_path):
    target, work = tmp_path / "site", tmp_path / "work"
    work.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    # -S: skip site, so the clone's editable install cannot answer the import; the venv's
    # packages (torch, numpy, ...) come after the installed copy on the path.
    env = {k: v for k, v in os.environ.items() if k != "COURSE_DATA_DIR"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(target), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    )
    run = subprocess.run(
        [sys.executable, "-S", "-c", PROBE], capture_output=True, text=True, timeout=300, cwd=work, env=env
    )
    assert run.returncode == 0, run.stderr[-3000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert found["package"].startswith(str(target)), found
    assert found["shipped"] == str(target / "course_utils" / "_data"), found
    assert found["writable"] == str(work / "data"), found  # downloads never go into the package
    assert found["gpu_measured"] and found["cpu_measured"] and found["digits"] == 10_000
    assert found["lesson05"] and found["lesson05_loads"]
    # the sub-packages (course_utils.diffusion, course_utils.lessons.lesson04) and the shipped weights
    assert found["lessons"] >= 5 and found["heldout"] == 1_000 and found["weights"] == "UNetAdaGN"
