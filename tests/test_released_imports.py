"""The import paths that released notebooks use keep working.

A learner may open a notebook released in an earlier term against the newest package (the setup
cell installs the latest one on Colab), so every ``from course_utils... import ...`` of the notebooks
released before the package moved into subfolders (:data:`RELEASED_BEFORE_THE_MOVE`, read from
the committed notebooks of commit 15bb582), and the public paths named below, must still resolve;
an old module name is an alias of the moved module (:mod:`course_utils.moved`). Today's notebooks
import only from the new layout.
"""

import importlib
import re

import nbformat
import pytest

from course_utils.lessons import LESSONS

# Public paths released notebooks have used, beyond what today's notebooks import.
PUBLIC = {
    "course_utils.reference": [
        "sinusoidal_embedding",
        "TimestepEmbedding",
        "FiLM",
        "AdaGN",
        "ScoreNetworkWithFiLM",
        "UNetSimple",
        "UNetSinusoidal",
    ],
    "course_utils.runtime": ["setup_lesson"],
    "course_utils.grading.guard": [],
    "course_utils.grading.probe": ["Probe"],
    "course_utils.grading.probe_helpers": [],
    "course_utils.datafiles": ["display_path", "shipped_dir", "data_dir"],
}

# Every `from course_utils... import ...` of notebooks/ and solutions/ at commit 15bb582, the last
# release before the modules moved into components/, diffusion/, lessons/ and build/.
RELEASED_BEFORE_THE_MOVE = {
    "course_utils.conv_conditioning": [
        "ConditionedConvBlock",
        "ModulatedSkip",
        "compare_block_costs",
        "describe_costs",
        "format_costs",
        "single_token_attention_is_additive",
    ],
    "course_utils.cpu_threads": ["limit_threads"],
    "course_utils.datafiles": ["display_path"],
    "course_utils.embedding_properties": ["hand_periods", "nearest_lookalike", "shift_matrix"],
    "course_utils.experiment2d": [
        "Experiment2DConfig",
        "format_table",
        "load_or_run",
        "ode_vs_sde_lines",
        "results_path",
        "smoke_config",
        "summarize",
    ],
    "course_utils.grading": ["guard", "probe_helpers"],
    "course_utils.grading.probe": ["Probe"],
    "course_utils.learned_table": ["TableStudyConfig", "compare", "held_out_sentence"],
    "course_utils.lesson04_results": ["load_results", "plot_results", "summarize"],
    "course_utils.metric_bands2d": ["band_summary", "load_bands", "verdict_sentence"],
    "course_utils.metrics2d": ["sliced_wasserstein"],
    "course_utils.mlp_conditioning": ["compare_mlp_conditioning", "format_comparison", "true_score_change"],
    "course_utils.mnist": ["load_mnist"],
    "course_utils.plotting": ["heatmap", "similarity_matrix_plot"],
    "course_utils.profiles": ["TrainConfig", "choose_profile"],
    "course_utils.progress": ["progress_bar"],
    "course_utils.reference": ["FiLM", "TimestepEmbedding", "sinusoidal_embedding"],
    "course_utils.runtime": ["setup_lesson"],
    "course_utils.score2d": [
        "ContinuousTimeEmbedding",
        "build_score_network",
        "count_flat_dims",
        "embedding_dim_ranges",
    ],
    "course_utils.time_checks": ["output_change_with_t", "variance_split"],
    "course_utils.time_width_study": ["by_arm", "load_study", "multiscale_sentence", "smallest_sufficient_width"],
    "course_utils.toy2d": [
        "eight_gaussians_means",
        "plot_noising",
        "plot_score_field",
        "plot_snapshots",
        "sample_toy",
        "scatter2d",
    ],
    "course_utils.trainer": ["compare_models"],
    "course_utils.unets": ["ConvBlock", "SimpleTimestepEmbed", "UNetSimple"],
    "course_utils.vpsde": ["VPSDE", "gaussian_mixture_score", "sample_probability_flow"],
    "course_utils.widgets": ["explore"],
}
IMPORT = re.compile(r"^\s*from (course_utils[\w.]*) import \(?([\w\s,]+?)\)?\s*(?:#.*)?$", flags=re.M)


def _notebook_imports(root) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for lesson in LESSONS:
        for path in (root / lesson.student, root / lesson.solution):
            for cell in nbformat.read(path, as_version=4).cells:
                if cell.cell_type != "code":
                    continue
                for module, names in IMPORT.findall(cell.source):
                    found.setdefault(module, set()).update(
                        n.split(" as ")[0].strip() for n in names.split(",") if n.strip()
                    )
    return found


def _has(module, name: str) -> bool:
    """``from module import name`` works: an attribute, or a submodule (``from pkg import mod``)."""
    if hasattr(module, name):
        return True
    try:
        importlib.import_module(f"{module.__name__}.{name}")
    except ImportError:
        return False
    return True


def test_notebooks_import_something_this_test_can_read(repo_root):
    assert len(_notebook_imports(repo_root)) >= 10


@pytest.mark.parametrize("source", ["notebooks", "before-the-move", "public"])
def test_every_released_import_resolves(repo_root, source):
    wanted = {"notebooks": _notebook_imports(repo_root), "before-the-move": RELEASED_BEFORE_THE_MOVE, "public": PUBLIC}[
        source
    ]
    broken = []
    for module, names in sorted(wanted.items()):
        try:
            mod = importlib.import_module(module)
        except ImportError as err:
            broken.append(f"{module}: {err}")
            continue
        broken += [f"{module}.{n}" for n in sorted(names) if not _has(mod, n)]
    assert not broken, f"released notebooks would fail on: {broken}"


def test_an_old_name_is_the_moved_module_itself():
    """Not a copy: a class reached through either name is one class, a monkeypatch reaches both."""
    from course_utils.moved import MOVED

    assert len(MOVED) >= 25
    for old, new in MOVED.items():
        assert importlib.import_module(old) is importlib.import_module(new), old
        assert importlib.import_module(new).__spec__.name == new  # its own spec, not the alias's


def test_todays_notebooks_import_only_from_the_new_layout(repo_root):
    from course_utils.moved import MOVED

    old = sorted(set(_notebook_imports(repo_root)) & set(MOVED))
    assert not old, f"notebooks import moved modules by their old names: {old} (see course_utils.moved)"
