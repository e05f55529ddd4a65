"""Reference bands for lesson 05's sample metric: what the sliced distance reads with no model error.

A single number "real data vs real data" is one draw of a noisy quantity. This module
draws it many times, at the lesson's point count and at a larger one:

* **real**: the sliced Wasserstein distance (:func:`course_utils.diffusion.metrics2d.sliced_wasserstein`)
  between a fresh draw of real data and the lesson's held-out set, once per draw seed;
* **exact**: the same distance for the reverse-SDE sampler (Song et al., ICLR 2021; Euler-Maruyama,
  the lesson's step count) fed the *exact* score of the noised mixture
  (:func:`course_utils.diffusion.vpsde.gaussian_mixture_score`), once per sampler seed.

An arm of the comparison (:mod:`course_utils.lessons.lesson05.experiment2d`) is then read against the bands:
:func:`verdict` compares the arm's mean over seeds with a band's mean, in units of the
combined standard error (Welch's two-sample statistic, as in any two-sample t-test), and
:func:`verdict_sentence` turns that into the lesson's words. The wording is chosen here,
from the numbers, so a sentence cannot drift from its measurement.

Results are cached as JSON with the same provenance as the comparison
(:func:`course_utils.provenance.record`). Command line (what made the shipped file)::

    python -m course_utils.lessons.lesson05.metric_bands2d --recompute
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from course_utils.cpu_threads import limit_threads
from course_utils.paths import shipped_dir
from course_utils.lessons.lesson05.experiment2d import check_provenance
from course_utils.provenance import recompute_or_load, record
from course_utils.diffusion.metrics2d import sliced_wasserstein
from course_utils.diffusion.toy2d import EIGHT_GAUSSIANS_STD, eight_gaussians_means, sample_toy
from course_utils.diffusion.vpsde import VPSDE, gaussian_mixture_score, sample_reverse_sde

__all__ = [
    "BandsConfig",
    "compute_bands",
    "load_bands",
    "bands_path",
    "band_summary",
    "verdict",
    "verdict_sentence",
    "SEPARATION",
]

SCHEMA = "course_utils/lesson05-bands/1"
SEPARATION = 2.0  # |difference| / combined standard error above which two means are called different


@dataclasses.dataclass(frozen=True)
class BandsConfig:
    """What defines the bands; the held-out set is the comparison's (``data_seed + 1``)."""

    point_counts: tuple[int, ...] = (2000, 8000)
    draws: int = 20
    sample_steps: int = 500
    beta_min: float = 0.1
    beta_max: float = 20.0
    eps: float = 1e-3
    data_seed: int = 0
    first_draw_seed: int = 100  # real draws use seeds first_draw_seed + i (never 0..3: the lesson's sets)

    def __post_init__(self) -> None:
        if self.draws < 2 or not self.point_counts or min(self.point_counts) < 2:
            raise ValueError("need draws >= 2 (a band needs a spread) and point counts >= 2")


def compute_bands(
    cfg: BandsConfig = BandsConfig(),
    *,
    command: str | None = None,
    progress: Callable[[str], None] = print,
    threads: int | None = 1,
) -> dict:
    """Draw both bands at every point count of ``cfg``; returns the results dictionary with provenance."""
    sde = VPSDE(cfg.beta_min, cfg.beta_max, cfg.eps)
    means = eight_gaussians_means()

    def exact_score(x, t):
        return gaussian_mixture_score(x, t, sde, means, EIGHT_GAUSSIANS_STD)

    start, bands = time.perf_counter(), {}
    with limit_threads(threads):
        for n in cfg.point_counts:
            held = sample_toy("eight_gaussians", n, seed=cfg.data_seed + 1)
            t0 = time.perf_counter()
            real = [
                sliced_wasserstein(sample_toy("eight_gaussians", n, seed=cfg.first_draw_seed + i), held)
                for i in range(cfg.draws)
            ]
            t1 = time.perf_counter()
            exact = [
                sliced_wasserstein(
                    sample_reverse_sde(exact_score, sde, n, steps=cfg.sample_steps, seed=i).samples, held
                )
                for i in range(cfg.draws)
            ]
            t2 = time.perf_counter()
            bands[str(n)] = {
                "real": [round(v, 6) for v in real],
                "exact": [round(v, 6) for v in exact],
                "seconds_real": round(t1 - t0, 2),
                "seconds_exact": round(t2 - t1, 2),
            }
            progress(
                f"n = {n}: real {np.mean(real):.4f} ± {np.std(real, ddof=1):.4f}, exact-score sampler "
                f"{np.mean(exact):.4f} ± {np.std(exact, ddof=1):.4f} ({t2 - t0:.0f} s)"
            )
    return {
        "schema": SCHEMA,
        "config": dataclasses.asdict(cfg),
        "provenance": record(
            command or "course_utils.lessons.lesson05.metric_bands2d.compute_bands(...)",
            device="cpu",
            wall_seconds=time.perf_counter() - start,
            seeds=range(cfg.draws),
            budget={"draws": cfg.draws, "sample_steps": cfg.sample_steps, "point_counts": list(cfg.point_counts)},
            data="eight_gaussians generated in code (course_utils.diffusion.toy2d); held-out seed "
            f"{cfg.data_seed + 1}, real draws seeds {cfg.first_draw_seed}.."
            f"{cfg.first_draw_seed + cfg.draws - 1}, sampler seeds 0..{cfg.draws - 1}",
        ),
        "bands": bands,
    }


def bands_path() -> Path:
    """The shipped bands file (default configuration)."""
    return shipped_dir() / "lesson05" / "bands.json"


def load_bands(
    path: str | Path | None = None, *, recompute: bool = False, progress: Callable[[str], None] = print
) -> dict:
    """The shipped bands (checked for schema, provenance and configuration), else computed (about a minute)."""
    path = Path(path) if path is not None else bands_path()
    if not recompute and path.is_file():
        cached = check_provenance(json.loads(path.read_text()), path, SCHEMA)
        if cached.get("config") == json.loads(json.dumps(dataclasses.asdict(BandsConfig()))):
            progress(
                f"Loaded reference bands from {path.parent.name}/{path.name} (made {cached['provenance']['date']})."
            )
            return cached
        progress(f"{path} was made with another configuration; recomputing.")
    return compute_bands(BandsConfig(), progress=progress)


def band_summary(values: Sequence[float]) -> dict:
    """Mean, sample std (ddof=1), min, max and count of one band (or of one arm's seeds)."""
    a = np.asarray(values, dtype=float)
    if a.ndim != 1 or a.size < 1 or not np.isfinite(a).all():
        raise ValueError(f"need a non-empty 1-D list of finite numbers, got {values!r}")
    return {
        "mean": float(a.mean()),
        "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
        "min": float(a.min()),
        "max": float(a.max()),
        "n": int(a.size),
    }


def verdict(arm: Sequence[float], band: Sequence[float], separation: float = SEPARATION) -> dict:
    """Compare ``arm`` (one value per seed) with ``band`` (one value per reference draw).

    ``z = (mean(arm) - mean(band)) / sqrt(s_arm^2 / n_arm + s_band^2 / n_band)``;
    ``"indistinguishable"`` when ``|z| <= separation``, else ``"above"`` or ``"below"``.
    """
    if separation <= 0:
        raise ValueError(f"separation must be positive, got {separation!r}")
    a, b = band_summary(arm), band_summary(band)
    se = math.sqrt(a["std"] ** 2 / a["n"] + b["std"] ** 2 / b["n"])
    diff = a["mean"] - b["mean"]
    z = diff / se if se > 0 else (0.0 if diff == 0 else math.copysign(math.inf, diff))
    word = "indistinguishable" if abs(z) <= separation else ("above" if z > 0 else "below")
    return {"word": word, "z": z, "difference": diff, "arm": a, "band": b}


def verdict_sentence(
    label: str, arm: Sequence[float], bands: dict[str, Sequence[float]], n_points: int, separation: float = SEPARATION
) -> str:
    """One line per arm: its mean against each band (``{"real": [...], "exact": [...]}``), worded from ``verdict``."""
    if "real" not in bands:
        raise ValueError(f"bands must include 'real' (two independent real draws), got keys {list(bands)}")
    names = {"real": "real data", "exact": "the exact-score sampler"}
    parts = []
    for key in ("real", "exact"):
        if key not in bands:
            continue
        v = verdict(arm, bands[key], separation)
        relation = "indistinguishable from" if v["word"] == "indistinguishable" else v["word"]  # above / below
        parts.append(f"{relation} {names[key]} at n = {n_points} (z = {v['z']:+.1f})")
    s = band_summary(arm)
    return f"{label}: {s['mean']:.4f} ± {s['std']:.4f} over {s['n']} seeds; " + "; ".join(parts)


def main(argv: list[str] | None = None) -> None:
    """Command line: compute (or load) the bands and print them."""
    results = recompute_or_load(
        "course_utils.lessons.lesson05.metric_bands2d",
        sys.argv[1:] if argv is None else argv,
        bands_path(),
        lambda command: compute_bands(command=command),
        load_bands,
        description=__doc__.splitlines()[0],
    )
    for n, b in results["bands"].items():
        for key in ("real", "exact"):
            s = band_summary(b[key])
            print(
                f"n = {n:>5} {key:<6} {s['mean']:.4f} ± {s['std']:.4f} (min {s['min']:.4f}, max {s['max']:.4f}, "
                f"{s['n']} draws, {b['seconds_' + key]:.1f} s)"
            )


if __name__ == "__main__":
    main()
