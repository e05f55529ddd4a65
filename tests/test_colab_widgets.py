"""course_utils keeps Colab's ipywidgets 7.7.1 and older torch, and every explorer builds its
widgets there and with ipywidgets 8 (the project venv).

Colab ships ipywidgets 7.7.1 (rendered by its built-in widget manager) and its own torch. A
venv set up like that (``COLAB_LIKE`` below) gets ``pip install <this repository>``, as the
setup cell does with the git URL; the versions of ipywidgets and torch must not move. Then
the lessons with explorers run in a kernel of that venv: lessons 01 and 03 (their solutions,
at smoke size) and lesson 05's two explorers (``plot_noising``, ``plot_score_field``); each
explorer must display an ipywidgets ``interactive`` (a slider) built by ipywidgets 7.7.1. The
same notebooks then run in the project venv (ipywidgets 8).

Building the Colab-like venv downloads torch 2.8 with its CUDA libraries (a few GB, about five
minutes); it is kept in ``$COURSE_COLAB_VENV`` or ``~/.cache/course-time-conditioning/`` and
reused while ``COLAB_LIKE`` is unchanged. When it cannot be built (no package index), the
test is skipped and says why.
"""

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from course_utils.lessons import by_id
from course_utils.paths import REPO_ROOT

ROOT = REPO_ROOT
# What a Colab runtime has before the setup cell runs (the parts the lessons touch).
COLAB_LIKE = (
    "ipywidgets==7.7.1",
    "torch==2.8.*",
    "torchvision==0.23.*",
    "ipykernel<7",
    "nbclient",
    "matplotlib",
    "numpy",
    "tqdm",
)
EXPLORER_LESSONS = ("01_sinusoidal_embedding", "03_adaptive_group_norm")
WIDGET = "application/vnd.jupyter.widget-view+json"

LESSON05_EXPLORERS = [
    "from course_utils.runtime import setup_lesson\nRUN = setup_lesson('05', quiet=True)",
    "from course_utils.diffusion.toy2d import plot_noising, plot_score_field, sample_toy\n"
    "from course_utils.diffusion.vpsde import VPSDE\n"
    "data = sample_toy('eight_gaussians', 512, seed=0)\n"
    "plot_noising(data, VPSDE(), times=(0.0, 0.5, 1.0))",
    "plot_score_field(lambda x, t: -x, times=(0.1, 1.0), data=data, grid=5)",
    "import ipywidgets, torch\nprint('versions', ipywidgets.__version__, torch.__version__)",
]

# Runs inside the venv under test: executes each notebook in a kernel of that venv (a widget
# frontend as far as the kernel can tell) and reports, per notebook, the explorer widgets shown.
DRIVER = textwrap.dedent(
    """
    import json, sys
    import nbformat
    from nbclient import NotebookClient
    report = {}
    for path in sys.argv[1:]:
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(__import__("pathlib").Path(path).parent)}}).execute()
        shown = []
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                if "%s" in data:
                    shown.append(data.get("text/plain", ""))
        report[path] = shown
    print("REPORT " + json.dumps(report))
"""
    % WIDGET
)


def _venv_dir() -> Path:
    key = hashlib.sha256(" ".join(COLAB_LIKE).encode()).hexdigest()[:10]
    base = os.environ.get("COURSE_COLAB_VENV")
    if base:
        return Path(base)
    return Path.home() / ".cache" / "course-time-conditioning" / f"colab-venv-{key}"


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)


def _colab_like_venv() -> Path:
    venv = _venv_dir()
    py = venv / "bin" / "python"
    stamp = venv / "colab-like.txt"
    if py.exists() and stamp.exists() and stamp.read_text() == "\n".join(COLAB_LIKE):
        return py
    made = _run([sys.executable, "-m", "venv", "--clear", venv])
    if made.returncode != 0:
        pytest.skip(f"cannot create a venv at {venv}: {made.stderr.strip()[-300:]}")
    got = _run([py, "-m", "pip", "install", "-q", *COLAB_LIKE], timeout=1800)
    if got.returncode != 0:
        pytest.skip("cannot build the Colab-like venv (is the package index reachable?): " + got.stderr.strip()[-500:])
    stamp.write_text("\n".join(COLAB_LIKE))
    return py


def _versions(py) -> dict:
    code = (
        "import json, importlib.metadata as m; "
        "print(json.dumps({p: m.version(p) for p in ('ipywidgets', 'torch', 'numpy')}))"
    )
    return json.loads(_run([py, "-c", code], check=True).stdout)


def _notebooks(tmp_path: Path) -> list[Path]:
    paths = [ROOT / by_id(a).solution for a in EXPLORER_LESSONS]
    mini = tmp_path / "05_explorers.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in LESSON05_EXPLORERS]), mini)
    return paths + [mini]


def _explorers_shown(py, tmp_path: Path) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("COURSE_NO_WIDGETS", "COURSE_GRADING", "COURSE_SMOKE", "VIRTUAL_ENV")
    }
    # COURSE_SMOKE would switch the widgets off: lessons 01 and 03 run at full size (seconds).
    env.update(MPLBACKEND="Agg", COURSE_DEVICE="cpu", OMP_NUM_THREADS="1")
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    run = _run([py, driver, *_notebooks(tmp_path)], env=env, timeout=900, cwd=tmp_path)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    line = [l for l in run.stdout.splitlines() if l.startswith("REPORT ")][-1]
    return {Path(k).stem: v for k, v in json.loads(line[len("REPORT ") :]).items()}


def _check_every_explorer(shown: dict) -> None:
    assert set(shown) == {*EXPLORER_LESSONS, "05_explorers"}, shown
    for name, widgets in shown.items():
        want = 2 if name == "05_explorers" else 1
        assert len(widgets) == want, f"{name}: {len(widgets)} explorer widget(s) shown, expected {want}"
        assert all(w.startswith("interactive(children=(") and "Slider" in w for w in widgets), widgets


def test_colab_like_venv_keeps_its_widgets_and_torch_and_explorers_build(tmp_path):
    py = _colab_like_venv()
    before = _versions(py)
    assert before["ipywidgets"] == "7.7.1" and before["torch"].startswith("2.8."), before
    inst = _run([py, "-m", "pip", "install", "-q", ROOT], timeout=900)
    assert inst.returncode == 0, inst.stderr[-2000:]
    after = _versions(py)
    assert after == before, f"installing course_utils changed Colab's packages: {before} -> {after}"
    shown = _explorers_shown(py, tmp_path)
    print(f"ipywidgets {after['ipywidgets']}, torch {after['torch']}: explorers shown {shown}")
    _check_every_explorer(shown)


def test_project_venv_with_ipywidgets_8_builds_every_explorer(tmp_path):
    import ipywidgets

    assert int(ipywidgets.__version__.split(".")[0]) >= 8
    dry = _run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--report", "-", ROOT], timeout=600)
    assert dry.returncode == 0, dry.stderr[-2000:]
    would = {i["metadata"]["name"].lower() for i in json.loads(dry.stdout)["install"]}
    assert "ipywidgets" not in would and "torch" not in would, would
    _check_every_explorer(_explorers_shown(sys.executable, tmp_path))
