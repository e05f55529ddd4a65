"""Each solution notebook's component gives the same outputs and gradients as course_utils.reference."""

import math

import torch
import torch.nn.functional as F

from gradekit import solution_source
from course_utils import reference


def _exec(assignment, grade_id):
    ns = {"torch": torch, "F": F, "math": math, "nn": torch.nn}
    exec(compile(solution_source(assignment, grade_id), f"<{assignment}:{grade_id}>", "exec"), ns)
    return ns


def test_lesson01_sinusoidal_embedding_matches_reference():
    fn = _exec("01_sinusoidal_embedding", "sinusoidal_impl")["sinusoidal_embedding"]
    for t, d in [(torch.arange(1000), 256), (torch.rand(17) * 1000, 33), (torch.tensor(3), 8), (2.5, 6)]:
        torch.testing.assert_close(fn(t, d), reference.sinusoidal_embedding(t, d), atol=1e-5, rtol=0)


def _same_module(solution, ref, *inputs):
    """Same parameter names and shapes; with the reference's weights, the same outputs and gradients."""
    assert {k: v.shape for k, v in solution.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}
    solution.load_state_dict(ref.state_dict())
    outs = []
    for module in (solution, ref):
        xs = [x.clone().requires_grad_(x.is_floating_point()) for x in inputs]
        y = module(*xs)
        y.square().sum().backward()
        outs.append((y.detach(), [x.grad for x in xs if x.grad is not None]))
    torch.testing.assert_close(outs[0][0], outs[1][0], atol=1e-6, rtol=0)
    for g_sol, g_ref in zip(outs[0][1], outs[1][1]):
        torch.testing.assert_close(g_sol, g_ref, atol=1e-6, rtol=0)


def test_lesson02_timestep_embedding_matches_reference():
    ns = {"torch": torch, "F": F, "math": math, "nn": torch.nn, "sinusoidal_embedding": reference.sinusoidal_embedding}
    exec(compile(solution_source("02_timestep_mlp_film", "timestep_embedding_impl"), "<02>", "exec"), ns)
    torch.manual_seed(0)
    _same_module(ns["TimestepEmbedding"](64, 32), reference.TimestepEmbedding(64, 32), torch.rand(5) * 999)


def test_lesson02_film_matches_reference():
    FiLM = _exec("02_timestep_mlp_film", "film_impl")["FiLM"]
    torch.manual_seed(0)
    ref = reference.FiLM(8, 16)
    torch.nn.init.normal_(ref.proj.weight)  # away from the identity start, so the maths is compared
    for h in (torch.randn(3, 8), torch.randn(3, 8, 5, 5)):
        _same_module(FiLM(8, 16), ref, h, torch.randn(3, 16))


def test_lesson03_adagn_matches_reference():
    AdaGN = _exec("03_adaptive_group_norm", "adagn_impl")["AdaGN"]
    torch.manual_seed(0)
    _same_module(
        AdaGN(16, 12, num_groups=4), reference.AdaGN(16, 12, num_groups=4), torch.randn(2, 16, 6, 6), torch.randn(2, 12)
    )


# Each component learners implement, and the test that compares the solution with it.
PARITY_TESTS = {
    "sinusoidal_embedding": "test_reference_parity.py::test_lesson01_sinusoidal_embedding_matches_reference",
    "TimestepEmbedding": "test_reference_parity.py::test_lesson02_timestep_embedding_matches_reference",
    "FiLM": "test_reference_parity.py::test_lesson02_film_matches_reference",
    "AdaGN": "test_reference_parity.py::test_lesson03_adagn_matches_reference",
    "UNetSinusoidal": "test_reference_parity_lesson04.py::",
    "ScoreNetworkWithFiLM": "test_reference_parity_lesson05.py::",
    "dsm_loss": "test_reference_parity_lesson05.py::",
    "reverse_sde_step": "test_reference_parity_lesson05.py::",
}


def _learner_definitions() -> set[str]:
    """Names a solution cell of some lesson defines (``class X`` / ``def X`` at the top level)."""
    import re

    import nbformat
    from course_utils.lessons import LESSONS
    from course_utils.paths import REPO_ROOT

    names = set()
    for lesson in LESSONS:
        for cell in nbformat.read(REPO_ROOT / lesson.solution, as_version=4).cells:
            if (cell.metadata.get("nbgrader") or {}).get("solution"):
                names |= set(re.findall(r"^(?:class|def) (\w+)", cell.source, flags=re.M))
    return names


def test_every_component_learners_implement_has_a_parity_test(repo_root):
    """A component a lesson asks for and reference exports needs a parity test (added here)."""
    implemented = _learner_definitions() & set(reference.__all__)
    assert implemented, "no solution cell defines a component of course_utils.reference"
    missing = sorted(implemented - set(PARITY_TESTS))
    assert not missing, f"add a parity test for {missing} and list it in PARITY_TESTS"
    assert set(PARITY_TESTS) <= set(reference.__all__), set(PARITY_TESTS) - set(reference.__all__)
    for name, where in PARITY_TESTS.items():
        file, _, test = where.partition("::")
        text = (repo_root / "tests" / "components" / file).read_text()
        assert (f"def {test}(" in text) if test else (name in text), (
            f"{name}: no parity test in tests/components/{file}"
        )
