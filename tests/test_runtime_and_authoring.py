"""The setup cell, the runtime report and the authoring format."""

import json

import nbformat
import pytest
import torch

from course_utils import about
from course_utils.build.authoring import build_notebook, parse_source, setup_cell_source
from course_utils.lessons import LESSONS
from course_utils.runtime import pick_device, seed_everything, setup_lesson


def test_setup_cell_installs_only_when_missing_and_names_the_repo_once():
    src = setup_cell_source("01", "no")
    assert 'find_spec("course_utils") is None' in src
    assert about.PIP_SPEC in src and src.count("github.com") == 1


def test_every_notebook_starts_with_the_setup_cell():
    for lesson in LESSONS:
        nb = nbformat.read(lesson.solution, as_version=4)
        first_code = next(c for c in nb.cells if c.cell_type == "code")
        assert first_code.metadata["nbgrader"]["grade_id"] == "setup"
        assert first_code.metadata["nbgrader"]["locked"]
        assert f'setup_lesson(lesson="{lesson.number}"' in first_code.source


def test_setup_lesson_reports_runtime_and_seeds(capsys, monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    rt = setup_lesson("01", "no", seed=3)
    out = capsys.readouterr().out
    assert "Lesson 01" in out and "device: CPU" in out and "GPU for this lesson: not needed" in out
    a = torch.rand(1)
    seed_everything(3)
    assert torch.equal(a, torch.rand(1)) and not rt.colab


def test_pick_device_explains_a_missing_gpu(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        pick_device()


def test_setup_lesson_rejects_unknown_gpu_need():
    with pytest.raises(ValueError, match="needs_gpu must be one of"):
        setup_lesson("01", "maybe")


def test_parser_rejects_malformed_sources():
    with pytest.raises(ValueError, match="unknown cell kind"):
        parse_source("# %% [bogus]\nx = 1\n")
    with pytest.raises(ValueError, match="before the first"):
        parse_source("x = 1\n# %%\n")


def test_solution_cells_need_markers(tmp_path):
    p = tmp_path / "x.py"
    p.write_text("# %% [solution] id=a\nx = 1\n")
    with pytest.raises(ValueError, match="BEGIN SOLUTION"):
        build_notebook(p, "09")


def test_built_metadata_is_nbgrader_schema_3(tmp_path):
    p = tmp_path / "x.py"
    p.write_text(
        "# %% [setup]\n# %% [solution] id=a\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n"
        "# %% [tests] id=t points=3\nassert x == 1\n"
    )
    nb = build_notebook(p, "09")
    metas = [c.metadata.get("nbgrader") for c in nb.cells]
    assert metas[1] == {
        "grade": False,
        "grade_id": "a",
        "locked": False,
        "schema_version": 3,
        "solution": True,
        "task": False,
    }
    assert metas[2]["grade"] and metas[2]["points"] == 3 and metas[2]["locked"]
    nbformat.validate(nb)
    json.dumps(nb)


def test_colab_url_is_built_from_the_one_repo_constant():
    url = about.colab_url("notebooks/a/a.ipynb")
    assert url.endswith(f"{about.REPO_SLUG}/blob/{about.BRANCH}/notebooks/a/a.ipynb")
    with pytest.raises(ValueError):
        about.colab_url("/abs.ipynb")
