"""Lesson 05's second measurement: how wide should the time embedding be, and does a multi-scale one help?

The reference note suggests 32-64 embedding dimensions for toy data (128-256 for images)
and sketches multi-scale time embeddings (different layers read different speeds of t).
Both are measured here on the lesson's 2-D task with the comparison's data, network and
sampler (:mod:`course_utils.lessons.lesson05.experiment2d`, whose
:func:`~course_utils.lessons.lesson05.experiment2d.run_arm`
trains and scores every run), at a smaller training budget (:func:`study_base`:
1,000 steps of 512 points instead of 3,000 of 1,024) and three seeds, so that 21 runs fit in minutes:

* the FiLM network (identity initialisation) with ``time_dim`` in 4, 8, 16, 32, 64, 128;
* the multi-scale FiLM network (:class:`course_utils.components.score2d.ScoreNetworkMultiScaleFiLM`)
  at ``time_dim`` 32, against the single grid at the same width.

Judged like the comparison: the held-out DSM loss and the sliced distance of 2,000 samples
(read against the reference bands of :mod:`course_utils.lessons.lesson05.metric_bands2d`).
:func:`smallest_sufficient_width` and :func:`multiscale_sentence` choose the lesson's wording
from the numbers. Results are cached as JSON with the comparison's provenance. Command
line (what made the shipped file)::

    python -m course_utils.lessons.lesson05.time_width_study --recompute
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Callable

from course_utils.cpu_threads import limit_threads
from course_utils.paths import shipped_dir
from course_utils.lessons.lesson05.experiment2d import Experiment2DConfig, check_provenance, run_arm
from course_utils.provenance import recompute_or_load, record
from course_utils.lessons.lesson05.metric_bands2d import SEPARATION, band_summary, verdict
from course_utils.diffusion.toy2d import sample_toy

__all__ = [
    "WidthStudyConfig",
    "study_base",
    "run_study",
    "load_study",
    "study_path",
    "by_arm",
    "smallest_sufficient_width",
    "multiscale_sentence",
]

SCHEMA = "course_utils/lesson05-width-study/1"


@dataclasses.dataclass(frozen=True)
class WidthStudyConfig:
    """The widths, seeds and the arm that carries the multi-scale embedding."""

    widths: tuple[int, ...] = (4, 8, 16, 32, 64, 128)
    multiscale_width: int = 32
    seeds: tuple[int, ...] = (0, 1, 2)

    def __post_init__(self) -> None:
        if not self.widths or min(self.widths) < 2 or any(w % 2 for w in self.widths):
            raise ValueError(f"widths must be even numbers >= 2, got {self.widths}")
        if len(self.seeds) < 2:
            raise ValueError("need at least two seeds to report a spread")

    def arms(self) -> list[tuple[str, str, int]]:
        """``(label, method, time_dim)`` for every arm."""
        out = [(f"film_w{w}", "film_identity_init", w) for w in self.widths]
        return out + [(f"film_multiscale_w{self.multiscale_width}", "film_multiscale", self.multiscale_width)]


def study_base() -> Experiment2DConfig:
    """The comparison's configuration at the study's budget (1,000 steps of 512 points)."""
    return dataclasses.replace(Experiment2DConfig(), steps=1000, batch_size=512)


def run_study(
    cfg: WidthStudyConfig = WidthStudyConfig(),
    *,
    base: Experiment2DConfig | None = None,
    command: str | None = None,
    progress: Callable[[str], None] = print,
    threads: int | None = 1,
) -> dict:
    """Train and score every arm for every seed with ``base``'s budget; returns results with provenance."""
    base = base or study_base()
    start, runs = time.perf_counter(), []
    data = sample_toy(base.dataset, base.n_train, seed=base.data_seed)
    held = sample_toy(base.dataset, base.n_eval, seed=base.data_seed + 1)
    with limit_threads(threads):
        for seed in cfg.seeds:
            for label, method, width in cfg.arms():
                row, _ = run_arm(
                    dataclasses.replace(base, time_dim=width), method, base.t_scale, seed, data, held, "cpu"
                )
                row.pop("loss_curve")
                runs.append({"label": label, "time_dim": width, **row})
                progress(
                    f"seed {seed} {label:<22} SW {row['sliced_w']:.4f}  eval loss {row['eval_loss']:.4f}  "
                    f"({row['train_seconds']:.0f}s)"
                )
    return {
        "schema": SCHEMA,
        "config": dataclasses.asdict(cfg),
        "base": dataclasses.asdict(base),
        "provenance": record(
            command or "course_utils.lessons.lesson05.time_width_study.run_study(...)",
            device="cpu",
            wall_seconds=time.perf_counter() - start,
            seeds=cfg.seeds,
            budget={k: getattr(base, k) for k in ("steps", "batch_size", "lr", "n_train", "sample_steps")},
            data=f"{base.dataset} generated in code (course_utils.diffusion.toy2d), train seed {base.data_seed}",
        ),
        "runs": runs,
    }


def study_path() -> Path:
    """The shipped results file."""
    return shipped_dir() / "lesson05" / "width_study.json"


def load_study(path: str | Path | None = None) -> dict:
    """The shipped study, checked for schema, provenance and configuration.

    Recomputing takes about 10 minutes on one core, so this never computes; run the
    command line with ``--recompute`` instead.
    """
    path = Path(path) if path is not None else study_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing; run `python -m course_utils.lessons.lesson05.time_width_study --recompute`"
        )
    results = check_provenance(json.loads(path.read_text()), path, SCHEMA)
    if results.get("config") != json.loads(json.dumps(dataclasses.asdict(WidthStudyConfig()))) or results.get(
        "base"
    ) != json.loads(json.dumps(dataclasses.asdict(study_base()))):
        raise ValueError(f"{path} was made with another configuration; recompute it")
    return results


def by_arm(results: dict, metric: str) -> dict[str, list[float]]:
    """Per arm label, ``metric`` for each seed (in seed order)."""
    out: dict[str, list[float]] = {}
    for run in sorted(results["runs"], key=lambda r: r["seed"]):
        if metric not in run:
            raise KeyError(f"runs have no metric {metric!r}; pick one of {sorted(k for k in run if k != 'label')}")
        out.setdefault(run["label"], []).append(float(run[metric]))
    return out


def smallest_sufficient_width(per_width: dict[int, list[float]], separation: float = SEPARATION) -> dict:
    """The best width (lowest mean) and the smallest width whose mean is indistinguishable from it.

    Lower is better. "Indistinguishable" is :func:`course_utils.lessons.lesson05.metric_bands2d.verdict`'s
    ``|z| <= separation``. Returns ``{"best", "smallest", "sentence"}``.
    """
    if len(per_width) < 2:
        raise ValueError("need at least two widths to compare")
    means = {w: band_summary(v)["mean"] for w, v in per_width.items()}
    best = min(means, key=means.get)
    ok = [
        w
        for w in sorted(per_width)
        if w == best or verdict(per_width[w], per_width[best], separation)["word"] != "above"
    ]
    smallest = ok[0]
    worse = [w for w in sorted(per_width) if w not in ok]
    if smallest == best:
        sentence = f"width {best} is best and every narrower width is measurably worse"
        worse = [w for w in worse if w > best]  # the narrower ones are already said
    else:
        sentence = (
            f"width {best} has the lowest mean, but from width {smallest} up the differences are inside "
            f"the seed noise (|z| <= {separation:g})"
        )
    if worse:
        sentence += f"; measurably worse: {', '.join(str(w) for w in worse)}"
    return {"best": best, "smallest": smallest, "sentence": sentence}


def multiscale_sentence(multi: list[float], single: list[float], metric: str, separation: float = SEPARATION) -> str:
    """The multi-scale arm against the single grid on ``metric`` (lower is better), worded from the numbers."""
    v = verdict(multi, single, separation)
    a, b = v["arm"], v["band"]
    head = (
        f"{metric}: multi-scale {a['mean']:.4f} ± {a['std']:.4f}, single grid {b['mean']:.4f} ± {b['std']:.4f} "
        f"({a['n']} seeds, z = {v['z']:+.1f})"
    )
    tail = {
        "indistinguishable": "no difference beyond the seed noise",
        "below": "the multi-scale embedding is better",
        "above": "the multi-scale embedding is worse",
    }[v["word"]]
    return f"{head}: {tail}"


def main(argv: list[str] | None = None) -> None:
    """Command line: run (``--recompute``) or load the study and print it."""
    results = recompute_or_load(
        "course_utils.lessons.lesson05.time_width_study",
        sys.argv[1:] if argv is None else argv,
        study_path(),
        lambda command: run_study(command=command),
        load_study,
        description=__doc__.splitlines()[0],
    )
    for metric in ("eval_loss", "sliced_w"):
        for label, vals in by_arm(results, metric).items():
            s = band_summary(vals)
            print(f"{metric:<10} {label:<22} {s['mean']:.4f} ± {s['std']:.4f}")


if __name__ == "__main__":
    main()
