"""The provenance record and the command line every cached result shares (course_utils.provenance)."""

import json

import pytest

from course_utils.provenance import recompute_or_load


def test_recompute_runs_the_experiment_with_its_exact_command_and_saves_it(tmp_path, capsys):
    path = tmp_path / "lesson99" / "study.json"
    seen = []

    def compute(command):
        seen.append(command)
        return {"provenance": {"command": command}, "value": 3}

    out = recompute_or_load(
        "course_utils.lessons.lesson99.study",
        ["--recompute"],
        path,
        compute,
        load=lambda: pytest.fail("load must not run with --recompute"),
    )
    assert seen == ["python -m course_utils.lessons.lesson99.study --recompute"]
    assert out["value"] == 3 and json.loads(path.read_text()) == out
    assert "Saved results to" in capsys.readouterr().out


def test_without_recompute_the_shipped_file_is_loaded_and_nothing_runs(tmp_path):
    out = recompute_or_load(
        "course_utils.x",
        [],
        tmp_path / "r.json",
        compute=lambda c: pytest.fail("compute must not run"),
        load=lambda: {"loaded": True},
    )
    assert out == {"loaded": True} and not (tmp_path / "r.json").exists()


def test_a_module_that_is_not_the_package_s_is_refused(tmp_path):
    with pytest.raises(ValueError, match="python -m"):
        recompute_or_load("__main__", [], tmp_path / "r.json", compute=dict, load=dict)


def test_an_unknown_option_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit):
        recompute_or_load("course_utils.x", ["--recompte"], tmp_path / "r.json", compute=dict, load=dict)


def test_a_benchmark_header_says_where_and_when_it_was_measured(repo_root):
    from course_utils.provenance import machine

    head = machine("python bench/grading.py --n 2", root=repo_root)
    assert head["command"] == "python bench/grading.py --n 2" and head["cores"] >= 1
    assert {"date", "python", "load_average_1min", "git_commit", "git_dirty"} <= set(head)
    with pytest.raises(ValueError, match="how the figures were measured"):
        machine(" ")
