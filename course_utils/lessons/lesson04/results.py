"""Lesson 04's loss-curve results: build, save, load with schema checks, summarise, plot.

A results file is JSON with its provenance (device, torch version, seeds, date,
exact command, data used), the profile and config it ran with, and for each model
the loss curves of every seed (per window of steps and per epoch). The loader
refuses a file without complete provenance. A file may instead carry
``"status": "not yet measured"`` and no numbers: that is how the repository ships
the GPU results until a GPU run has produced them, and the plot says so on the axes.

The comparison is reported as mean and spread over seeds plus the per-seed
(paired) gap, because the same seed gives both models the same data and noise.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from course_utils.lessons.lesson04.errors import ResultsError
from course_utils.paths import shipped_dir
from course_utils.provenance import record
from course_utils.lessons.lesson04.trainer import Comparison

__all__ = [
    "SCHEMA",
    "NOT_MEASURED",
    "ModelCurves",
    "Lesson04Results",
    "results_from_comparison",
    "save_results",
    "load_results",
    "load_cached_results",
    "summarize",
    "plot_results",
]

SCHEMA = "course_utils/lesson04-results/1"
NOT_MEASURED = "not yet measured"
RESULT_FILES = {"gpu": "gpu_results.json", "cpu": "cpu_results.json"}
PROVENANCE_KEYS = ("device", "torch", "seeds", "date", "command", "data")


@dataclass(frozen=True)
class ModelCurves:
    """One model's curves: ``window_losses`` ``[n_seeds, n_windows]``, ``epoch_losses`` ``[n_seeds, n_epochs]``."""

    params: int
    window_losses: np.ndarray
    epoch_losses: np.ndarray
    seconds: tuple[float, ...] = ()


@dataclass(frozen=True)
class Lesson04Results:
    """A loaded (or freshly measured) results record; ``measured`` is False for a placeholder."""

    status: str
    label: str
    provenance: dict[str, Any]
    profile: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    steps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    models: dict[str, ModelCurves] = field(default_factory=dict)

    @property
    def measured(self) -> bool:
        return self.status == "measured"


def results_from_comparison(
    cmp: Comparison, command: str, label: str | None = None, wall_seconds: float | None = None
) -> Lesson04Results:
    """Turn a :class:`~course_utils.lessons.lesson04.trainer.Comparison` into a record with full provenance."""
    if not command:
        raise ValueError("command must say how the results were produced")
    prof = asdict(cmp.profile) | {"total_steps": cmp.profile.total_steps}
    config = {k: v for k, v in asdict(cmp.config).items() if k not in ("seed", "data_seed")}
    models, steps = {}, None
    for name, runs in cmp.runs.items():
        steps = np.asarray(runs[0].steps)
        models[name] = ModelCurves(
            runs[0].params,
            np.array([r.window_losses for r in runs], dtype=float),
            np.array([r.epoch_losses for r in runs], dtype=float),
            tuple(round(r.seconds, 2) for r in runs),
        )
        config[f"precision[{name}]"] = runs[0].precision
        config[f"compiled[{name}]"] = runs[0].compiled
        config[f"cuda_graph[{name}]"] = runs[0].cuda_graph
    provenance = record(command, device=cmp.device, seeds=cmp.seeds, data=cmp.data_source, wall_seconds=wall_seconds)
    return Lesson04Results(
        "measured", label or f"{cmp.profile.name} profile on {cmp.device}", provenance, prof, config, steps, models
    )


def _to_json(res: Lesson04Results) -> dict[str, Any]:
    out: dict[str, Any] = {
        "schema": SCHEMA,
        "status": res.status,
        "label": res.label,
        "provenance": res.provenance,
        "profile": res.profile,
    }
    if res.measured:
        out["config"] = res.config
        out["steps"] = [int(s) for s in res.steps]
        out["models"] = {
            name: {
                "params": m.params,
                "seconds": list(m.seconds),
                "window_losses": np.round(m.window_losses, 6).tolist(),
                "epoch_losses": np.round(m.epoch_losses, 6).tolist(),
            }
            for name, m in res.models.items()
        }
    return out


def save_results(res: Lesson04Results, path: str | Path) -> Path:
    """Write ``res`` as JSON (validated first, so a bad record is never written)."""
    record = _to_json(res)
    _validate(record, str(path))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def _validate(record: Any, where: str) -> Lesson04Results:
    def bad(why: str) -> ResultsError:
        return ResultsError(
            f"{where} is not a valid lesson 04 results file: {why}. Regenerate "
            "it with `python bench/lesson04_results.py` (see bench/RESULTS.md)."
        )

    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise bad(f"its 'schema' must be {SCHEMA!r}")
    status, prov = record.get("status"), record.get("provenance")
    if status not in ("measured", NOT_MEASURED):
        raise bad(f"'status' must be 'measured' or {NOT_MEASURED!r}, got {status!r}")
    if not isinstance(prov, dict) or not prov.get("command"):
        raise bad("it has no provenance (at least the command that produces it)")
    if status == NOT_MEASURED:
        if record.get("models"):
            raise bad("it says 'not yet measured' but holds numbers")
        return Lesson04Results(status, str(record.get("label", "")), prov, record.get("profile", {}))
    missing = [k for k in PROVENANCE_KEYS if prov.get(k) in (None, "", [])]
    if missing:
        raise bad(f"its provenance lacks {', '.join(missing)}")
    steps, models = record.get("steps"), record.get("models")
    if not isinstance(steps, list) or not steps or not isinstance(models, dict) or not models:
        raise bad("it needs non-empty 'steps' and 'models'")
    n_seeds, n_epochs = len(prov["seeds"]), record.get("profile", {}).get("epochs")
    curves = {}
    for name, m in models.items():
        try:
            win = np.asarray(m["window_losses"], dtype=float)
            ep = np.asarray(m["epoch_losses"], dtype=float)
            params = int(m["params"])
        except (KeyError, TypeError, ValueError) as err:
            raise bad(f"model {name!r} is malformed ({err})") from None
        if win.shape != (n_seeds, len(steps)) or ep.shape != (n_seeds, n_epochs):
            raise bad(
                f"model {name!r} needs window_losses [{n_seeds}, {len(steps)}] and "
                f"epoch_losses [{n_seeds}, {n_epochs}], got {win.shape} and {ep.shape}"
            )
        if not (np.isfinite(win).all() and np.isfinite(ep).all()):
            raise bad(f"model {name!r} has non-finite losses")
        curves[name] = ModelCurves(params, win, ep, tuple(m.get("seconds", ())))
    return Lesson04Results(
        status,
        str(record.get("label", "")),
        prov,
        record["profile"],
        record.get("config", {}),
        np.asarray(steps),
        curves,
    )


def load_results(which: str | Path = "gpu") -> Lesson04Results:
    """Load ``"gpu"`` or ``"cpu"`` (the files in ``data/lesson04/``) or a path, validated."""
    path = Path(which) if str(which) not in RESULT_FILES else shipped_dir() / "lesson04" / RESULT_FILES[str(which)]
    if not path.is_file():
        raise ResultsError(
            f"No cached results at {path}. Work from a full clone of the course "
            "repository, or set COURSE_DATA_DIR to its data/ folder."
        )
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ResultsError(f"{path} cannot be read as JSON ({err}).") from None
    return _validate(record, str(path))


def load_cached_results() -> Lesson04Results:
    """The GPU results when they have been measured, else the CPU results, saying so."""
    gpu = load_results("gpu")
    if gpu.measured:
        return gpu
    cpu = load_results("cpu")
    print(f"Cached GPU results: {NOT_MEASURED}. Showing the measured CPU results instead: {cpu.label}.")
    return cpu


def _as_results(res: Lesson04Results | Comparison) -> Lesson04Results:
    if isinstance(res, Comparison):
        return results_from_comparison(
            res, "live run in this notebook", f"This run: {res.profile.name} profile on {res.device}"
        )
    if not isinstance(res, Lesson04Results):
        raise TypeError(f"expected Lesson04Results or Comparison, got {type(res).__name__}")
    return res


def summarize(res: Lesson04Results | Comparison) -> str:
    """Final-epoch loss per model (mean, spread over seeds) and the paired gap, in words."""
    res = _as_results(res)
    if not res.measured:
        return f"{res.label}: {NOT_MEASURED}."
    seeds = res.provenance["seeds"]
    lines = [f"{res.label}; final-epoch mean loss over seeds {seeds}:"]
    finals = {name: m.epoch_losses[:, -1] for name, m in res.models.items()}
    for name, f in finals.items():
        lines.append(
            f"  {name:<16} {f.mean():.4f} +- {f.std(ddof=1) if len(f) > 1 else 0:.4f} "
            f"(std; range {f.min():.4f}..{f.max():.4f})"
        )
    if len(finals) == 2 and len(seeds) > 1:
        (a, fa), (b, fb) = finals.items()
        gap = fa - fb  # paired: the same seed gave both models the same data and noise
        noise = max(fa.std(ddof=1), fb.std(ddof=1))
        lines.append(f"  gap {a} - {b}: {gap.mean():+.4f} on average (per seed: {', '.join(f'{g:+.4f}' for g in gap)})")
        same_sign = bool(np.all(gap > 0) or np.all(gap < 0))
        size = (
            "larger than twice"
            if abs(gap.mean()) > 2 * noise
            else "smaller than"
            if abs(gap.mean()) < noise
            else "about as large as"
        )
        sign = f"has the same sign for all {len(gap)} seeds" if same_sign else "changes sign between seeds"
        lines.append(f"  The gap is {size} the seed-to-seed spread (largest std {noise:.4f}) and {sign}.")
        if size == "larger than twice" and same_sign:
            lines.append("  Verdict: a difference that stands out of the seed noise.")
        elif same_sign:
            lines.append(f"  Verdict: a consistent but small effect; {len(gap)} seeds cannot establish it firmly.")
        else:
            lines.append("  Verdict: inside the seed noise; no winner at this budget.")
    elif len(finals) == 2:
        (a, fa), (b, fb) = finals.items()
        lines.append(
            f"  gap {a} - {b}: {float(fa[0] - fb[0]):+.4f} from one seed, which "
            "cannot separate a real difference from seed noise (see the multi-seed "
            "cached results)."
        )
    return "\n".join(lines)


def plot_results(res: Lesson04Results | Comparison, ax=None, *, per: str = "steps", title: str | None = None):
    """Mean loss curve per model with a min-max band over seeds; a visible note if unmeasured."""
    res = _as_results(res)
    import matplotlib.pyplot as plt

    from course_utils.plotting import loss_curves_with_band

    if per not in ("steps", "epochs"):
        raise ValueError(f"per must be 'steps' or 'epochs', got {per!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    if not res.measured:
        ax.text(
            0.5,
            0.5,
            f"{res.label}\n{NOT_MEASURED}",
            ha="center",
            va="center",
            transform=ax.transAxes,
            fontsize=12,
            color="0.3",
        )
        ax.set_axis_off()
        return ax
    if per == "steps":
        x, runs = res.steps, {n: m.window_losses for n, m in res.models.items()}
    else:
        x = np.arange(1, int(res.profile["epochs"]) + 1)
        runs = {n: m.epoch_losses for n, m in res.models.items()}
    loss_curves_with_band(ax, x, runs, ylabel="DDPM loss (MSE on noise)")
    ax.set_xlabel("training step" if per == "steps" else "epoch")
    ax.set_title(title or f"{res.label}\n{res.provenance['device']}, torch {res.provenance['torch']}")
    if per == "steps":
        ax.set_yscale("log")  # the loss falls by an order of magnitude early on
    return ax
