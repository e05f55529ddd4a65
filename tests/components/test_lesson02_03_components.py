"""Lessons 02 and 03: the learner-facing solutions agree with course_utils.reference, and the helpers work.

* parity: the solution cells of the committed solution notebooks, executed on their own, give the
  same outputs as :mod:`course_utils.reference` with the same weights, on random inputs;
* the judgements' expected values: every graded cell's probe, run with the reference classes standing
  in for the learner's, passes its ``[judge]`` block (so the expected values are the reference's, not
  only the solution's), and no graded cell still judges in the kernel;
* the lesson helpers: :mod:`course_utils.components.time_checks`, :mod:`course_utils.lessons.lesson02.mlp_conditioning`,
  :mod:`course_utils.lessons.lesson03.conv_conditioning`, :mod:`course_utils.cpu_threads`.
"""

import contextlib
import io
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import reference
from course_utils.lessons.lesson03.conv_conditioning import (
    METHODS,
    ConditionedConvBlock,
    CrossAttentionToTime,
    ModulatedSkip,
    compare_block_costs,
    format_costs,
    single_token_attention_is_additive,
)
from course_utils.cpu_threads import limit_threads
from course_utils.grading.course import REPO_ROOT
from course_utils.lessons.lesson02.mlp_conditioning import (
    QUICK_STEPS,
    compare_mlp_conditioning,
    format_comparison,
    true_score_change,
)
from course_utils.components.time_checks import output_change_with_t, variance_split
from gradekit import solution_notebook, solution_source

L02, L03 = "02_timestep_mlp_film", "03_adaptive_group_norm"


def _namespace(**extra):
    """What the setup cells provide to the solution cells."""
    ns = {"math": math, "torch": torch, "nn": nn, "F": F, "sinusoidal_embedding": reference.sinusoidal_embedding}
    ns.update(extra)
    return ns


def _solution_class(assignment, grade_id, name):
    ns = _namespace()
    exec(solution_source(assignment, grade_id), ns)
    return ns[name]


def _copy_linears(src: nn.Module, dst: nn.Module) -> None:
    """Copy the weights of src's Linear layers into dst's, in registration order."""
    a = [m for m in src.modules() if isinstance(m, nn.Linear)]
    b = [m for m in dst.modules() if isinstance(m, nn.Linear)]
    assert [tuple(m.weight.shape) for m in a] == [tuple(m.weight.shape) for m in b]
    with torch.no_grad():
        for x, y in zip(a, b):
            y.weight.copy_(x.weight)
            y.bias.copy_(x.bias)


@pytest.mark.parametrize("d_sin,d_emb", [(256, 512), (16, 12), (9, 5)])
def test_timestep_embedding_solution_matches_reference(d_sin, d_emb):
    Learner = _solution_class(L02, "timestep_embedding_impl", "TimestepEmbedding")
    torch.manual_seed(0)
    ref, mine = reference.TimestepEmbedding(d_sin, d_emb), Learner(d_sin, d_emb)
    assert sum(p.numel() for p in mine.parameters()) == sum(p.numel() for p in ref.parameters())
    _copy_linears(ref, mine)
    g = torch.Generator().manual_seed(1)
    for t in [torch.randint(0, 1000, (8,), generator=g), torch.rand(8, generator=g) * 999, torch.tensor([0, 999])]:
        with torch.no_grad():
            torch.testing.assert_close(mine(t), ref(t), atol=1e-6, rtol=1e-6)
    if (d_sin, d_emb) == (256, 512):
        assert sum(p.numel() for p in mine.parameters()) == 394_240


@pytest.mark.parametrize("shape", [(5, 6), (3, 6, 4, 4), (2, 6, 3, 5), (4, 6, 7)])
def test_film_solution_matches_reference(shape):
    Learner = _solution_class(L02, "film_impl", "FiLM")
    ref, mine = reference.FiLM(6, 10), Learner(6, 10)
    g = torch.Generator().manual_seed(2)
    h, t_emb = torch.randn(*shape, generator=g), torch.randn(shape[0], 10, generator=g)
    with torch.no_grad():  # identity initialisation in both
        torch.testing.assert_close(mine(h, t_emb), h, atol=0, rtol=0)
        torch.testing.assert_close(ref(h, t_emb), h, atol=0, rtol=0)
    torch.manual_seed(3)
    for p in ref.parameters():
        nn.init.normal_(p)
    _copy_linears(ref, mine)
    with torch.no_grad():
        torch.testing.assert_close(mine(h, t_emb), ref(h, t_emb), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("channels,d_emb,groups", [(64, 512, 32), (8, 6, 2), (12, 5, 3)])
def test_adagn_solution_matches_reference(channels, d_emb, groups):
    Learner = _solution_class(L03, "adagn_impl", "AdaGN")
    torch.manual_seed(4)
    ref, mine = reference.AdaGN(channels, d_emb, groups), Learner(channels, d_emb, groups)
    assert sum(p.numel() for p in mine.parameters()) == sum(p.numel() for p in ref.parameters())
    _copy_linears(ref, mine)
    g = torch.Generator().manual_seed(5)
    for scale in [1e-3, 1.0, 50.0]:
        x = scale * (torch.randn(3, channels, 5, 4, generator=g) + torch.arange(channels)[None, :, None, None])
        t_emb = torch.randn(3, d_emb, generator=g)
        with torch.no_grad():
            torch.testing.assert_close(mine(x, t_emb), ref(x, t_emb), atol=1e-5, rtol=1e-5)


def _graded_cells(assignment):
    return [
        (c.metadata["nbgrader"]["grade_id"], c.source)
        for c in solution_notebook(assignment).cells
        if (c.metadata.get("nbgrader") or {}).get("grade")
    ]


@pytest.mark.parametrize(
    "assignment,classes",
    [
        (L02, {"TimestepEmbedding": reference.TimestepEmbedding, "FiLM": reference.FiLM}),
        (L03, {"AdaGN": reference.AdaGN}),
    ],
)
def test_every_graded_cell_passes_with_the_reference_classes(assignment, classes, monkeypatch):
    import IPython.display

    from course_utils.grading.judge import judge_outputs, load_judgements
    from course_utils.lessons import by_id

    records = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: records.append(obj))
    cells = _graded_cells(assignment)
    assert cells and all("### BEGIN HIDDEN TESTS" in src and f'Probe("{gid}")' in src for gid, src in cells)
    assert not any("_g.verify()" in src or "grading import guard" in src for _, src in cells), (
        "graded cells no longer judge in the kernel: no guard, no verified marker"
    )
    judgements = load_judgements(REPO_ROOT / by_id(assignment).source)
    assert sorted(judgements) == sorted(gid for gid, _ in cells)
    ns = _namespace(**classes)
    for grade_id, src in cells:
        records.clear()
        with contextlib.redirect_stdout(io.StringIO()):
            exec(src, ns)  # the visible checks raise on the first failing assertion
        verdict = judge_outputs(judgements[grade_id], [{"output_type": "display_data", "data": r} for r in records])
        assert verdict.passed, (grade_id, verdict.message, verdict.internal_error)


def test_output_change_and_variance_split():
    torch.manual_seed(0)
    x = torch.randn(16, 3)

    def ignores_t(x_, t_):
        return 2 * x_

    def only_t(x_, t_):
        return t_[:, None].expand(-1, 3) * 1.0

    ch = output_change_with_t(ignores_t, x, torch.zeros(16), torch.ones(16))
    assert ch.mean_abs_diff == 0 and ch.relative == 0 and ch.mean_abs_output > 0
    ch = output_change_with_t(only_t, x, torch.zeros(16), torch.ones(16))
    assert ch.mean_abs_diff == pytest.approx(1.0) and ch.relative == pytest.approx(2.0)
    times = [torch.full((16,), v) for v in (0.0, 0.5, 1.0)]
    s = variance_split(ignores_t, x, times)
    assert s.x_share == pytest.approx(1.0) and s.t_share == pytest.approx(0.0)
    s = variance_split(only_t, x, times)
    assert s.t_share == pytest.approx(1.0) and s.x_share == pytest.approx(0.0)
    with pytest.raises(TypeError):
        output_change_with_t(ignores_t, [1, 2], 0, 1)
    with pytest.raises(ValueError):
        variance_split(ignores_t, x, times[:1])


def test_mlp_comparison_runs_quickly_and_identity_film_starts_time_independent(monkeypatch):
    monkeypatch.setenv("COURSE_SMOKE", "1")
    builders = {
        "film identity": lambda: reference.ScoreNetworkWithFiLM(film_init="identity"),
        "film default": lambda: reference.ScoreNetworkWithFiLM(film_init="default"),
    }
    with contextlib.redirect_stdout(io.StringIO()) as out:
        rows = compare_mlp_conditioning(builders, steps=300, seed=0)
    assert "instead of 300" in out.getvalue()
    assert [len(r.losses) for r in rows] == [QUICK_STEPS, QUICK_STEPS]
    assert rows[0].change_at_init.mean_abs_diff == 0.0 and rows[1].change_at_init.relative > 0.1
    assert rows[0].params == rows[1].params == 59_010
    truth = true_score_change()
    assert truth.relative > 1.0
    table = format_comparison(rows, truth, steps=QUICK_STEPS)
    assert "film identity" in table and "exact score" in table


@pytest.mark.parametrize("method", METHODS)
def test_conditioned_conv_block_shapes_and_time_dependence(method):
    torch.manual_seed(0)
    block = ConditionedConvBlock(8, 16, 12, method, num_groups=4)
    x, e1, e2 = torch.randn(2, 8, 6, 5), torch.randn(2, 12), torch.randn(2, 12)
    with torch.no_grad():
        out = block(x, e1)
    assert out.shape == (2, 16, 6, 5)
    change = output_change_with_t(block, x, e1, e2).mean_abs_diff
    if method in ("none", "film"):  # FiLM starts as the identity: no time dependence yet
        assert change == 0.0
    else:
        assert change > 0.0
    n_none = sum(p.numel() for p in ConditionedConvBlock(8, 16, 12, "none").parameters())
    assert sum(p.numel() for p in block.parameters()) == n_none + block.conditioning_parameters()
    with pytest.raises(ValueError):
        block(x, torch.randn(2, 11))


def test_block_validation_and_skip_and_attention():
    with pytest.raises(ValueError):
        ConditionedConvBlock(8, 8, 4, "gated")
    skip = ModulatedSkip(6, 5)
    a, b, e = torch.randn(2, 6, 3, 3), torch.randn(2, 6, 3, 3), torch.randn(2, 5)
    with torch.no_grad():
        torch.testing.assert_close(skip(a, b, e), a + b, atol=0, rtol=0)
    with pytest.raises(ValueError):
        skip(a, b[:, :, :2], e)
    assert single_token_attention_is_additive() < 1e-5
    attn = CrossAttentionToTime(4, 3)
    assert attn(torch.randn(2, 4, 3, 5), torch.randn(2, 3)).shape == (2, 4, 3, 5)


def test_block_costs_table_and_thread_limit():
    before = torch.get_num_threads()
    rows = compare_block_costs(
        ["none", "additive", "adagn"], channels=8, size=8, batch=2, time_dim=16, num_groups=4, repeats=3
    )
    assert torch.get_num_threads() == before
    assert [r.method for r in rows] == ["none", "additive", "adagn"]
    assert rows[0].ratio_to_none == 1.0 and rows[0].conditioning_params == 0
    assert rows[1].conditioning_params == 2 * (16 * 8 + 8) and rows[2].conditioning_params == 2 * (16 * 16 + 16)
    assert "additive" in format_costs(rows)
    with pytest.raises(ValueError):
        compare_block_costs(["film"])
    with limit_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError):
        with limit_threads(0):
            pass


def test_probe_helpers_build_find_and_design():
    from course_utils.grading import probe_helpers as h

    class Boom(nn.Module):
        def __init__(self):
            raise NotImplementedError("not yet")

    broken = h.build(Boom)
    assert isinstance(broken, h.Broken)
    for use in (lambda: broken(1), lambda: h.linear_layout(broken), lambda: h.count_parameters(broken)):
        with pytest.raises(NotImplementedError, match="not yet"):
            use()
    a, b = h.build(nn.Linear, 3, 4, seed=7), h.build(nn.Linear, 3, 4, seed=7)
    torch.testing.assert_close(a.weight, b.weight, atol=0, rtol=0)  # the seed is applied before building
    mlp = nn.Sequential(nn.Linear(3, 5), nn.GELU(), nn.Linear(5, 5, bias=False))
    assert h.linear_layout(mlp) == ["Linear(3, 5)", "Linear(5, 5, bias=False)"]
    assert h.count_parameters(mlp) == 3 * 5 + 5 + 25
    with pytest.raises(ValueError, match="every Linear layer needs a bias"):
        h.find_linears(mlp, [(3, 5), (5, 5)], "the MLP")
    with pytest.raises(ValueError, match=r"expected exactly one Linear\(3, 5\) inside the MLP"):
        h.find_linears(mlp, [(3, 5)], "the MLP")
    mlp[2] = nn.Linear(5, 5)
    h.set_linears(mlp, "the MLP", (torch.eye(5), torch.zeros(5)), (torch.ones(5, 3), torch.arange(5.0)))
    torch.testing.assert_close(mlp[0].weight, torch.ones(5, 3), atol=0, rtol=0)  # found by size, not order
    torch.testing.assert_close(mlp[2].bias, torch.zeros(5), atol=0, rtol=0)
    g = h.grid((2, 3), lambda i, j: 10 * i + j + 0.1)
    assert g.dtype == torch.float32 and g.tolist() == torch.tensor([[0.1, 1.1, 2.1], [10.1, 11.1, 12.1]]).tolist()
    w = h.wave_features(2, 4, 3, 5, scale=1e-3)
    assert w.shape == (2, 4, 3, 5)
    assert w[1, 3, 2, 4].item() == pytest.approx(1e-3 * (1.4 * math.sin(0.9 + 5.1 + 1.6 + 2.2) + 0.75 - 0.4), rel=1e-6)
