"""Lesson 05's measured comparison: how should a 2-D score network see the time t?

Every arm trains the same three-hidden-layer trunk (:mod:`course_utils.components.score2d`) by
denoising score matching under the VP SDE (:mod:`course_utils.diffusion.vpsde`; Song et al.,
ICLR 2021; Vincent, 2011) with the same data, steps, batch size and learning rate,
then draws samples with the reverse SDE. The arms differ only in how t enters:
concatenated to the input (at the shared width, and at a wider one with as many
parameters as FiLM), added after each hidden layer, or through FiLM (Perez et al.,
2018) with PyTorch's default or the identity initialisation. Two more arms
repeat concatenation and FiLM with t fed unscaled into the sinusoidal embedding,
the pitfall of lesson 01. Each arm runs once per seed; the seed sets the
initialisation, the minibatches, the (t, noise) draws and the sampler's noise, and is
shared across arms, so arms are compared on equal terms.

Judged by: sliced Wasserstein distance and an unbiased RBF-MMD^2 estimate between 2,000
generated points and 2,000 held-out points (:mod:`course_utils.diffusion.metrics2d`), next to the same
distances for one independent draw of real data (the spread of that reference over many draws
is in :mod:`course_utils.lessons.lesson05.metric_bands2d`); and the DSM loss, both at the
end of training and on a fixed held-out evaluation set (fixed t grid and noise).

Results are cached as JSON with provenance; :func:`load_or_run` loads a cache made with
the same configuration and computes otherwise. Command line (what made the shipped file)::

    python -m course_utils.lessons.lesson05.experiment2d --recompute
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from course_utils.cpu_threads import limit_threads
from course_utils.paths import data_dir, display_path, shipped_dir
from course_utils.diffusion.metrics2d import mmd_rbf, sliced_wasserstein
from course_utils.provenance import check, record
from course_utils.runtime import modes
from course_utils.components.score2d import build_score_network
from course_utils.diffusion.toy2d import EIGHT_GAUSSIANS_STD, eight_gaussians_means, sample_toy
from course_utils.diffusion.vpsde import (
    VPSDE,
    dsm_loss,
    gaussian_mixture_score,
    sample_probability_flow,
    sample_reverse_sde,
)

__all__ = [
    "Experiment2DConfig",
    "smoke_config",
    "TrainLog",
    "train_score_network",
    "run_arm",
    "run_experiment",
    "check_provenance",
    "load_or_run",
    "load_results",
    "results_path",
    "summarize",
    "paired_gaps",
    "paired_gaps_between",
    "ode_vs_sde_lines",
    "loss_curves",
    "format_table",
    "METRIC_LABELS",
]

SCHEMA = "course_utils/lesson05-results/1"
PROVENANCE_KEYS = ("device", "torch", "seeds", "date", "command", "budget")
T_BINS = ((0.0, 0.05), (0.05, 0.2), (0.2, 0.5), (0.5, 1.0))
# How tables print the result keys: "mmd" holds an unbiased estimate of MMD^2 (it can be below 0).
METRIC_LABELS = {
    "sliced_w": "sliced W",
    "mmd": "MMD² (unbiased)",
    "sliced_w_ode": "sliced W (ODE)",
    "eval_loss": "held-out loss",
    "final_train_loss": "final train loss",
    "exact_score_sampler_sliced_w": "exact-score sampler sliced W",
}


@dataclasses.dataclass(frozen=True)
class Experiment2DConfig:
    """Everything that defines the experiment; its cache is keyed by these fields."""

    dataset: str = "eight_gaussians"
    methods: tuple[str, ...] = ("concat", "concat_matched", "additive", "film_default_init", "film_identity_init")
    pitfall_methods: tuple[str, ...] = ("concat", "film_identity_init")  # rerun with t unscaled
    t_scale: float = 1000.0
    pitfall_t_scale: float = 1.0
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    hidden_dim: int = 128
    time_dim: int = 32
    steps: int = 3000
    batch_size: int = 1024
    lr: float = 2e-3  # Adam, cosine-decayed to 0 over the run
    n_train: int = 8192
    n_eval: int = 2000  # generated points and held-out points compared
    n_loss_eval: int = 8192
    sample_steps: int = 500
    beta_min: float = 0.1
    beta_max: float = 20.0
    eps: float = 1e-3
    data_seed: int = 0  # training set; the held-out sets use data_seed + 1 and + 2

    def __post_init__(self) -> None:
        if len(self.seeds) < 1 or self.steps < 1 or self.batch_size < 1:
            raise ValueError("need at least one seed, steps >= 1 and batch_size >= 1")

    def arms(self) -> list[tuple[str, str, float]]:
        """``(label, method, t_scale)`` for every arm, pitfall arms last."""
        out = [(m, m, self.t_scale) for m in self.methods]
        return out + [(f"{m}_unscaled_t", m, self.pitfall_t_scale) for m in self.pitfall_methods]

    def sde(self) -> VPSDE:
        return VPSDE(self.beta_min, self.beta_max, self.eps)

    def key(self) -> str:
        """A short hash of the configuration (names non-default cache files)."""
        blob = json.dumps(dataclasses.asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:10]


def smoke_config() -> Experiment2DConfig:
    """A seconds-long configuration for the test-suite and the autograder."""
    return Experiment2DConfig(
        seeds=(0,), steps=20, batch_size=128, n_train=512, n_eval=200, n_loss_eval=512, sample_steps=20
    )


@dataclasses.dataclass
class TrainLog:
    """Training losses averaged over each block of ``log_every`` steps, and the wall time."""

    steps: list[int]
    losses: list[float]
    final_loss: float  # mean training loss over the last block
    seconds: float


def train_score_network(
    model: torch.nn.Module,
    data: torch.Tensor,
    sde: VPSDE,
    *,
    steps: int = 3000,
    batch_size: int = 1024,
    lr: float = 2e-3,
    seed: int = 0,
    log_every: int = 50,
    threads: int | None = 1,
) -> TrainLog:
    """Train ``model`` in place with Adam on :func:`dsm_loss` over minibatches of ``data [N, D]``.

    The learning rate decays to 0 on a cosine; minibatches, times and noise come from a
    generator seeded with ``seed`` on the model's device. ``threads``: torch CPU threads
    while training (see :func:`course_utils.cpu_threads.limit_threads`). Returns the loss log.
    """
    if data.dim() != 2 or data.shape[0] < batch_size:
        raise ValueError(f"data must be [N, D] with N >= batch_size={batch_size}, got {tuple(data.shape)}")
    if steps < 1 or log_every < 1:
        raise ValueError(f"steps and log_every must be >= 1, got {steps}, {log_every}")
    device = next(model.parameters()).device
    data = data.to(device)
    g = torch.Generator(device=device).manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    log = TrainLog([], [], float("nan"), 0.0)
    start, block = time.perf_counter(), []
    model.train()
    with limit_threads(threads):
        for step in range(1, steps + 1):
            idx = torch.randint(0, data.shape[0], (batch_size,), generator=g, device=device)
            loss = dsm_loss(model, data[idx], sde, generator=g)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            block.append(loss.detach())
            if step % log_every == 0 or step == steps:
                log.steps.append(step)
                log.losses.append(float(torch.stack(block).mean()))
                block = []
    log.final_loss, log.seconds = log.losses[-1], time.perf_counter() - start
    return log


def _loss_eval_set(cfg: Experiment2DConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Held-out x0, a stratified t grid on [eps, 1] and fixed noise: the same for every run."""
    n = cfg.n_loss_eval
    x0 = sample_toy(cfg.dataset, n, seed=cfg.data_seed + 2)
    t = cfg.eps + (1.0 - cfg.eps) * (torch.arange(n, dtype=torch.float32) + 0.5) / n  # (n,)
    z = torch.randn(n, 2, generator=torch.Generator().manual_seed(12345))
    return x0, t, z


def _r(v: float) -> float:
    return float(f"{v:.6g}")


def run_arm(
    cfg: Experiment2DConfig, method: str, t_scale: float, seed: int, data: torch.Tensor, held: torch.Tensor, device
) -> tuple[dict, torch.Tensor]:
    """Train one arm (``method`` fed ``t_scale * t``) with ``seed``; score its samples against ``held``.

    Returns the result row (losses, sliced_w, mmd (an unbiased MMD^2), sliced_w_ode, timings)
    and the reverse-SDE samples ``[cfg.n_eval, 2]``.
    """
    sde = cfg.sde()
    with torch.random.fork_rng(devices=[]):  # seed the init without touching the caller's RNG
        torch.manual_seed(seed)
        model = build_score_network(method, hidden_dim=cfg.hidden_dim, time_dim=cfg.time_dim, t_scale=t_scale).to(
            device
        )
    log = train_score_network(
        model, data, sde, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, seed=seed, threads=None
    )
    model.eval()
    x0, t, z = (a.to(device) for a in _loss_eval_set(cfg))
    by_t = {}
    with torch.no_grad():
        eval_loss = float(dsm_loss(model, x0, sde, t, z))
        for lo, hi in T_BINS:
            m = (t >= lo) & (t < hi) if hi < 1.0 else (t >= lo)
            by_t[f"{lo:g}-{hi:g}"] = _r(float(dsm_loss(model, x0[m], sde, t[m], z[m])))
    start = time.perf_counter()
    sde_samples = sample_reverse_sde(model, sde, cfg.n_eval, steps=cfg.sample_steps, seed=seed, device=device).samples
    sample_seconds = time.perf_counter() - start
    ode_samples = sample_probability_flow(
        model, sde, cfg.n_eval, steps=cfg.sample_steps, seed=seed, device=device
    ).samples
    row = {
        "method": method,
        "t_scale": t_scale,
        "seed": seed,
        "parameters": sum(p.numel() for p in model.parameters()),
        "final_train_loss": _r(log.final_loss),
        "eval_loss": _r(eval_loss),
        "eval_loss_by_t": by_t,
        "sliced_w": _r(sliced_wasserstein(sde_samples, held)),
        "mmd": _r(mmd_rbf(sde_samples, held)),
        "sliced_w_ode": _r(sliced_wasserstein(ode_samples, held)),
        "train_seconds": round(log.seconds, 2),
        "sample_seconds": round(sample_seconds, 2),
        "loss_curve": [_r(v) for v in log.losses],
    }
    return row, sde_samples


def check_provenance(results: dict, path: str | Path, schema: str) -> dict:
    """``results`` when it has ``schema`` and the lesson 05 provenance fields (:data:`PROVENANCE_KEYS`)."""
    return check(results, path, schema, PROVENANCE_KEYS)


def run_experiment(
    cfg: Experiment2DConfig,
    *,
    device="cpu",
    command: str | None = None,
    progress: Callable[[str], None] = print,
    threads: int | None = 1,
) -> dict:
    """Run every arm for every seed and return the results dictionary (see the module docstring).

    ``threads``: torch CPU threads for the whole run (see :func:`course_utils.cpu_threads.limit_threads`).
    """
    with limit_threads(threads):
        return _run_all(cfg, device, command, progress)


def _run_all(cfg: Experiment2DConfig, device, command: str | None, progress: Callable[[str], None]) -> dict:
    start = time.perf_counter()
    data = sample_toy(cfg.dataset, cfg.n_train, seed=cfg.data_seed)
    held = sample_toy(cfg.dataset, cfg.n_eval, seed=cfg.data_seed + 1)
    other = sample_toy(cfg.dataset, cfg.n_eval, seed=cfg.data_seed + 3)
    floor = {"sliced_w": _r(sliced_wasserstein(other, held)), "mmd": _r(mmd_rbf(other, held))}
    if cfg.dataset == "eight_gaussians":  # the sampler alone, fed the exact score: no learning error
        sde = cfg.sde()
        means = eight_gaussians_means()
        exact = sample_reverse_sde(
            lambda x, t: gaussian_mixture_score(x, t, sde, means, EIGHT_GAUSSIANS_STD),
            sde,
            cfg.n_eval,
            steps=cfg.sample_steps,
            seed=0,
        ).samples
        floor["exact_score_sampler_sliced_w"] = _r(sliced_wasserstein(exact, held))
    runs, samples = [], {}
    for seed in cfg.seeds:
        for label, method, t_scale in cfg.arms():
            row, pts = run_arm(cfg, method, t_scale, seed, data, held, device)
            runs.append({"label": label, **row})
            if seed == cfg.seeds[0]:  # a few points per arm, so a cached run can still be drawn
                samples[label] = [[round(float(a), 3), round(float(b), 3)] for a, b in pts[:1000].tolist()]
            progress(
                f"seed {seed} {label:<30} SW {row['sliced_w']:.4f}  eval loss {row['eval_loss']:.4f}  "
                f"({row['train_seconds']:.0f}s)"
            )
    wall = time.perf_counter() - start
    return {
        "schema": SCHEMA,
        "config": dataclasses.asdict(cfg),
        "provenance": record(
            command or "course_utils.lessons.lesson05.experiment2d.run_experiment(...)",
            device=device,
            wall_seconds=wall,
            seeds=cfg.seeds,
            budget={k: getattr(cfg, k) for k in ("steps", "batch_size", "lr", "n_train", "sample_steps")},
            data=f"{cfg.dataset} generated in code (course_utils.diffusion.toy2d), train seed {cfg.data_seed}",
        ),
        "floor": floor,
        "loss_curve_steps": sorted({*range(50, cfg.steps + 1, 50), cfg.steps}),
        "runs": runs,
        "samples_first_seed": samples,
        "held_out": [[round(a, 3), round(b, 3)] for a, b in held[:1000].tolist()],
    }


def load_results(path: str | Path) -> dict:
    """Read a results file, refusing one with another schema or incomplete provenance."""
    return check_provenance(json.loads(Path(path).read_text()), path, SCHEMA)


def results_path(cfg: Experiment2DConfig) -> Path:
    """Where ``cfg``'s results live: the shipped file for the default configuration, else a cache file."""
    if cfg == Experiment2DConfig():
        return shipped_dir() / "lesson05" / "comparison.json"
    return data_dir() / "cache" / "lesson05" / f"comparison-{cfg.key()}.json"


def load_or_run(
    cfg: Experiment2DConfig | None = None,
    *,
    recompute: bool = False,
    device="cpu",
    progress: Callable[[str], None] = print,
    quick: bool | None = None,
) -> dict:
    """The results for ``cfg`` (default: the shipped configuration): from the cache when one
    was made with exactly this configuration, otherwise computed and cached.

    With ``quick`` (default: :func:`course_utils.runtime.modes`, i.e. ``COURSE_GRADING=1`` or
    ``COURSE_SMOKE=1``; pass ``RUN.quick`` from the setup cell) a missing cache is replaced
    by a seconds-long smoke run instead of the full experiment.
    """
    cfg = cfg or Experiment2DConfig()
    path = results_path(cfg)
    if not recompute and path.is_file():
        cached = load_results(path)
        if cached.get("config") == json.loads(json.dumps(dataclasses.asdict(cfg))):
            progress(f"Loaded cached results from {display_path(path)} (made {cached['provenance']['date']}).")
            return cached
        progress(f"{display_path(path)} was made with another configuration; recomputing.")
    if modes().quick if quick is None else quick:
        cfg = smoke_config()
        path = results_path(cfg)
        progress("Grading/smoke mode: running the tiny smoke configuration instead.")
    results = run_experiment(cfg, device=device, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1))
    progress(f"Saved results to {display_path(path)}.")
    return results


def summarize(
    results: dict, metrics: tuple[str, ...] = ("sliced_w", "mmd", "sliced_w_ode", "eval_loss", "final_train_loss")
) -> dict:
    """Per arm label and metric: mean, sample std (ddof=1), min, max and the number of seeds."""
    out: dict = {}
    for run in results["runs"]:
        out.setdefault(run["label"], {m: [] for m in metrics})
        for m in metrics:
            out[run["label"]][m].append(run[m])
    for label, per in out.items():
        for m, vals in per.items():
            a = np.asarray(vals, dtype=float)
            per[m] = {
                "mean": float(a.mean()),
                "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
                "min": float(a.min()),
                "max": float(a.max()),
                "n": int(a.size),
            }
    return out


def paired_gaps(results: dict, metric: str = "sliced_w", baseline: str = "concat") -> dict:
    """Per arm: ``metric(arm) - metric(baseline)`` seed by seed (the arms share seeds).

    Returns, per label, the mean and sample std of those differences and ``better``,
    the number of seeds on which the arm scored lower (better) than the baseline.
    """
    by = {(r["label"], r["seed"]): r[metric] for r in results["runs"]}
    seeds = sorted({r["seed"] for r in results["runs"]})
    if any((baseline, s) not in by for s in seeds):
        raise ValueError(f"baseline {baseline!r} is not among the arms of these results")
    out = {}
    for label in dict.fromkeys(r["label"] for r in results["runs"]):
        d = np.array([by[(label, s)] - by[(baseline, s)] for s in seeds], dtype=float)
        out[label] = {
            "mean": float(d.mean()),
            "std": float(d.std(ddof=1)) if d.size > 1 else 0.0,
            "better": int((d < 0).sum()),
            "n": int(d.size),
        }
    return out


def loss_curves(results: dict) -> dict[str, np.ndarray]:
    """Per arm label, the training-loss curves ``[n_seeds, n_points]`` (x: ``results["loss_curve_steps"]``).

    Shaped for :func:`course_utils.plotting.loss_curves_with_band`.
    """
    curves: dict[str, list] = {}
    for run in results["runs"]:
        curves.setdefault(run["label"], []).append(run["loss_curve"])
    return {label: np.asarray(c, dtype=float) for label, c in curves.items()}


def format_table(results: dict, metrics: tuple[str, ...] = ("sliced_w", "mmd", "eval_loss", "final_train_loss")) -> str:
    """A Markdown table of mean ± std (over seeds) per arm, with the data-vs-data floor underneath."""
    summary = summarize(results, metrics)
    head = "| arm | " + " | ".join(METRIC_LABELS.get(m, m) for m in metrics) + " |\n|---|" + "---|" * len(metrics)
    rows = [
        f"| {label} | " + " | ".join(f"{s[m]['mean']:.4f} ± {s[m]['std']:.4f}" for m in metrics) + " |"
        for label, s in summary.items()
    ]
    floor = ", ".join(f"{METRIC_LABELS.get(k, k)} {v:.4f}" for k, v in results["floor"].items())
    n = len(results["provenance"]["seeds"])
    return "\n".join(
        [
            head,
            *rows,
            "",
            f"mean ± std over {n} seeds; single reference draws (real vs real data, "
            f"and the exact-score sampler): {floor}",
        ]
    )


def ode_vs_sde_lines(results: dict) -> list[str]:
    """Per arm: on how many seeds the probability-flow ODE's samples score a lower sliced distance than
    the reverse SDE's, with the mean paired difference; worded from the counts."""
    lines = []
    for label, g in paired_gaps_between(results, "sliced_w_ode", "sliced_w").items():
        if g["better"] == g["n"]:
            word = "the ODE is better on every seed"
        elif g["better"] == 0:
            word = "the ODE is worse on every seed"
        else:
            word = f"mixed: the ODE is better on {g['better']} of {g['n']} seeds"
        lines.append(f"{label:<30} ODE - SDE {g['mean']:+.4f} ± {g['std']:.4f}: {word}")
    return lines


def paired_gaps_between(results: dict, metric: str, other: str) -> dict:
    """Per arm label: ``metric - other`` run by run; mean, sample std, ``better`` (< 0) count and ``n``."""
    per: dict[str, list[float]] = {}
    for run in results["runs"]:
        per.setdefault(run["label"], []).append(float(run[metric]) - float(run[other]))
    return {
        label: {
            "mean": float(np.mean(d)),
            "std": float(np.std(d, ddof=1)) if len(d) > 1 else 0.0,
            "better": int(sum(v < 0 for v in d)),
            "n": len(d),
        }
        for label, d in per.items()
    }


def main(argv: list[str] | None = None) -> None:
    """Command line: run (or load) the comparison and print the table."""
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(
        prog="python -m course_utils.lessons.lesson05.experiment2d", description=__doc__.splitlines()[0]
    )
    p.add_argument("--recompute", action="store_true", help="ignore any cached results")
    p.add_argument("--smoke", action="store_true", help="run the seconds-long smoke configuration")
    p.add_argument("--dataset", default=None, help="two_moons | eight_gaussians | spiral")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest for this MLP)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    cfg = smoke_config() if args.smoke else Experiment2DConfig()
    if args.dataset:
        cfg = dataclasses.replace(cfg, dataset=args.dataset)
    path = results_path(cfg)
    if args.recompute or not path.is_file():
        results = run_experiment(
            cfg,
            device=args.device,
            threads=args.threads,
            command=" ".join(["python -m course_utils.lessons.lesson05.experiment2d", *argv]),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=1))
        print(f"Saved results to {path}.")
    else:
        results = load_or_run(cfg, device=args.device)
    print(format_table(results))
    print("\nPaired gap in sliced_w vs concat (negative = better), seeds better / total:")
    for label, g in paired_gaps(results).items():
        print(f"  {label:<30} {g['mean']:+.4f} ± {g['std']:.4f}   {g['better']}/{g['n']}")


if __name__ == "__main__":
    main()
