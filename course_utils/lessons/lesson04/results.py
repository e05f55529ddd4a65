"""Lesson 04's loss-curve results: build, save, load with schema checks, summarise, plot.

A results file is JSON with its provenance (device, torch version, seeds, date,
exact command, data used), the profile and config it ran with, and for each model
the loss curves of every seed (per window of steps and per epoch) and, when measured,
``heldout_loss_by_t``: for each seed, the loss on the fixed held-out (digit, t, noise)
triples of :mod:`course_utils.lessons.lesson04.heldout` at each t of its grid. A file
may list arms (or the held-out measurement) it does not have yet under
``"not_yet_measured"``, with the reason. The loader refuses a file without complete provenance. A file may instead carry
``"status": "not yet measured"`` and no numbers: that is how the repository ships
the GPU results until a GPU run has produced them, and the plot says so on the axes.

The comparison is reported as mean and spread over seeds plus the per-seed
(paired) gap, because the same seed gives both models the same data and noise;
:func:`heldout_verdict` chooses its sentences from the held-out numbers.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

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
    "HeldoutGap",
    "heldout_gaps",
    "heldout_verdict",
    "plot_heldout_by_t",
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
    heldout_t: np.ndarray | None = None  # [K] the t grid of heldout_loss_by_t
    heldout_loss: np.ndarray | None = None  # [n_seeds, K] held-out loss at each t, per seed

    @property
    def has_heldout(self) -> bool:
        return self.heldout_loss is not None


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
    not_yet_measured: dict[str, str] = field(default_factory=dict)  # arm (or measurement) -> why
    heldout: dict[str, Any] = field(default_factory=dict)  # how the held-out triples were made

    @property
    def measured(self) -> bool:
        return self.status == "measured"


def results_from_comparison(
    cmp: Comparison,
    command: str,
    label: str | None = None,
    wall_seconds: float | None = None,
    heldout: Mapping[str, Mapping[int, Mapping[str, list]]] | None = None,
    heldout_info: Mapping[str, Any] | None = None,
) -> Lesson04Results:
    """Turn a :class:`~course_utils.lessons.lesson04.trainer.Comparison` into a record with full provenance.

    ``heldout[model][seed]`` is :func:`~course_utils.lessons.lesson04.heldout.heldout_loss_by_t`'s
    ``{"t": [...], "loss": [...]}`` for that run (every model and seed, on one t grid);
    ``heldout_info`` says how the triples were made (split, digits, grid, noise seed).
    """
    if not command:
        raise ValueError("command must say how the results were produced")
    prof = asdict(cmp.profile) | {"total_steps": cmp.profile.total_steps}
    config = {k: v for k, v in asdict(cmp.config).items() if k not in ("seed", "data_seed")}
    models, steps = {}, None
    for name, runs in cmp.runs.items():
        steps = np.asarray(runs[0].steps)
        h_t = h_loss = None
        if heldout is not None:
            per_seed = heldout.get(name, {})
            missing = [s for s in cmp.seeds if s not in per_seed]
            if missing:
                raise ValueError(f"heldout lacks {name!r} for seeds {missing}: evaluate every run")
            h_t = np.asarray(per_seed[cmp.seeds[0]]["t"], dtype=int)
            if any(list(per_seed[s]["t"]) != h_t.tolist() for s in cmp.seeds):
                raise ValueError(f"heldout of {name!r}: every seed must use the same t grid")
            h_loss = np.array([per_seed[s]["loss"] for s in cmp.seeds], dtype=float)
        models[name] = ModelCurves(
            runs[0].params,
            np.array([r.window_losses for r in runs], dtype=float),
            np.array([r.epoch_losses for r in runs], dtype=float),
            tuple(round(r.seconds, 2) for r in runs),
            h_t,
            h_loss,
        )
        config[f"precision[{name}]"] = runs[0].precision
        config[f"compiled[{name}]"] = runs[0].compiled
        config[f"cuda_graph[{name}]"] = runs[0].cuda_graph
    provenance = record(command, device=cmp.device, seeds=cmp.seeds, data=cmp.data_source, wall_seconds=wall_seconds)
    return Lesson04Results(
        "measured",
        label or f"{cmp.profile.name} profile on {cmp.device}",
        provenance,
        prof,
        config,
        steps,
        models,
        heldout=dict(heldout_info or {}),
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
        if res.heldout:
            out["heldout"] = res.heldout
        out["models"] = {}
        for name, m in res.models.items():
            entry = {
                "params": m.params,
                "seconds": list(m.seconds),
                "window_losses": np.round(m.window_losses, 6).tolist(),
                "epoch_losses": np.round(m.epoch_losses, 6).tolist(),
            }
            if m.has_heldout:
                entry["heldout_loss_by_t"] = [
                    {"seed": int(seed), "t": [int(t) for t in m.heldout_t], "loss": np.round(row, 6).tolist()}
                    for seed, row in zip(res.provenance["seeds"], m.heldout_loss)
                ]
            out["models"][name] = entry
    if res.not_yet_measured:
        out["not_yet_measured"] = res.not_yet_measured
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
        h_t = h_loss = None
        if "heldout_loss_by_t" in m:
            rows = m["heldout_loss_by_t"]
            try:
                if [int(r["seed"]) for r in rows] != [int(s) for s in prov["seeds"]]:
                    raise ValueError(f"its seeds must be {prov['seeds']}")
                h_t = np.asarray(rows[0]["t"], dtype=int)
                if any(list(r["t"]) != h_t.tolist() for r in rows):
                    raise ValueError("every seed needs the same t grid")
                h_loss = np.array([r["loss"] for r in rows], dtype=float)
            except (KeyError, IndexError, TypeError, ValueError) as err:
                raise bad(f"model {name!r} has a malformed heldout_loss_by_t ({err})") from None
            if h_loss.shape != (n_seeds, len(h_t)) or not np.isfinite(h_loss).all():
                raise bad(
                    f"model {name!r} needs finite heldout_loss_by_t losses [{n_seeds}, {len(h_t)}], got {h_loss.shape}"
                )
        curves[name] = ModelCurves(params, win, ep, tuple(m.get("seconds", ())), h_t, h_loss)
    nym = record.get("not_yet_measured", {})
    if not isinstance(nym, dict) or not all(isinstance(v, str) and v for v in nym.values()):
        raise bad("'not_yet_measured' must map each missing arm or measurement to the reason")
    if set(nym) & set(curves):
        raise bad(f"{sorted(set(nym) & set(curves))} are both measured and 'not yet measured'")
    return Lesson04Results(
        status,
        str(record.get("label", "")),
        prov,
        record["profile"],
        record.get("config", {}),
        np.asarray(steps),
        curves,
        dict(nym),
        dict(record.get("heldout", {})),
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
    for name, why in res.not_yet_measured.items():
        lines.append(f"  {name:<16} {NOT_MEASURED} ({why})")
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


def _say_not_measured(ax, text: str, fontsize: int) -> None:
    """An empty panel that says what is not measured, instead of a plot of invented numbers."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=fontsize, color="0.3")
    ax.set_axis_off()


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
        _say_not_measured(ax, f"{res.label}\n{NOT_MEASURED}", fontsize=12)
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


@dataclass(frozen=True)
class HeldoutGap:
    """The paired held-out gap ``a - b`` (the same seed gave both arms the same data and noise).

    ``by_t`` ``[n_seeds, K]``: per seed, the gap at each t of the grid ``t``;
    ``per_seed`` ``[n_seeds]``: its mean over the grid; ``reference`` the mean loss of ``b``.
    """

    a: str
    b: str
    t: np.ndarray
    by_t: np.ndarray
    per_seed: np.ndarray
    reference: float

    @property
    def mean(self) -> float:
        return float(self.per_seed.mean())

    @property
    def spread(self) -> float:
        """Seed-to-seed standard deviation of the paired gap (0 with one seed)."""
        return float(self.per_seed.std(ddof=1)) if len(self.per_seed) > 1 else 0.0


def heldout_gaps(res: Lesson04Results, a: str, b: str) -> HeldoutGap:
    """The paired held-out gap between arms ``a`` and ``b`` of ``res`` (both measured, same grid)."""
    res = _as_results(res)
    for name in (a, b):
        if name not in res.models:
            why = res.not_yet_measured.get(name, f"not among {sorted(res.models)}")
            raise ResultsError(f"{res.label}: no results for {name} ({why})")
        if not res.models[name].has_heldout:
            raise ResultsError(f"{res.label}: {name} has no heldout_loss_by_t ({NOT_MEASURED})")
    ma, mb = res.models[a], res.models[b]
    if ma.heldout_t.tolist() != mb.heldout_t.tolist():
        raise ResultsError(f"{a} and {b} were scored on different t grids; they cannot be paired")
    by_t = ma.heldout_loss - mb.heldout_loss  # [n_seeds, K], paired by seed
    return HeldoutGap(a, b, ma.heldout_t, by_t, by_t.mean(axis=1), float(mb.heldout_loss.mean()))


def heldout_verdict(res: Lesson04Results, a: str, b: str) -> list[str]:
    """Sentences on ``a`` vs ``b`` chosen from the held-out numbers: the gap, its spread, the verdict.

    The last line starts with ``"Verdict:"``. Three kinds: the same sign for every seed and a
    mean gap larger than twice its seed-to-seed spread (stands out of the seed noise); the same
    sign but not that large (consistent but small); a sign that changes (no winner).
    """
    g = heldout_gaps(res, a, b)
    n = len(g.per_seed)
    seeds = res.provenance.get("seeds", list(range(n)))
    lines = [
        f"Held-out loss, {a} - {b}, mean over the {len(g.t)} timesteps of the grid: "
        f"{g.mean:+.4f} ({100 * g.mean / g.reference:+.1f}% of {b}'s {g.reference:.4f}); "
        f"per seed {', '.join(f'{s}: {v:+.4f}' for s, v in zip(seeds, g.per_seed))}; "
        f"seed-to-seed spread (std) {g.spread:.4f}."
    ]
    k = int(np.argmax(np.abs(g.by_t.mean(axis=0))))
    lines.append(f"The mean gap is largest at t = {int(g.t[k])}: {g.by_t[:, k].mean():+.4f}.")
    if n < 2:
        lines.append(f"Verdict: one seed cannot separate a difference between {a} and {b} from seed noise.")
        return lines
    lower = b if g.mean > 0 else a
    same_sign = bool(np.all(g.per_seed > 0) or np.all(g.per_seed < 0))
    if same_sign and abs(g.mean) > 2 * g.spread:
        lines.append(
            f"Verdict: {lower} has the lower held-out loss for all {n} seeds, by more than "
            "twice the seed-to-seed spread: a difference that stands out of the seed noise "
            "at this budget."
        )
    elif same_sign:
        lines.append(
            f"Verdict: {lower} has the lower held-out loss for all {n} seeds, but by no more "
            f"than twice the seed-to-seed spread: consistent but small; {n} seeds cannot "
            "establish it firmly."
        )
    else:
        lines.append(
            f"Verdict: the sign of the gap changes between seeds: inside the seed noise, "
            f"no winner between {a} and {b} at this budget."
        )
    return lines


def plot_heldout_by_t(
    res: Lesson04Results, axes=None, *, pairs: tuple[tuple[str, str], ...] = (), title: str | None = None
):
    """Left: held-out loss against t per arm (mean, min-max band over seeds). Right: each pair's
    paired gap against t (one thin line per seed, the mean thick). A visible note if unmeasured."""
    res = _as_results(res)
    import matplotlib.pyplot as plt

    from course_utils.plotting import loss_curves_with_band

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(12, 4))
    ax_loss, ax_gap = axes
    arms = {n: m for n, m in res.models.items() if m.has_heldout}
    if not res.measured or not arms:
        for ax in axes:
            _say_not_measured(ax, f"{res.label}\nheld-out loss by t: {NOT_MEASURED}", fontsize=11)
        return axes
    t = next(iter(arms.values())).heldout_t
    loss_curves_with_band(
        ax_loss, t, {n: m.heldout_loss for n, m in arms.items()}, ylabel="held-out loss (MSE on the noise)"
    )
    ax_loss.set_xlabel("timestep t")
    ax_loss.set_yscale("log")
    ax_loss.set_title(title or f"{res.label}: held-out loss by t")
    for a, b in pairs:
        g = heldout_gaps(res, a, b)
        (line,) = ax_gap.plot(g.t, g.by_t.mean(axis=0), lw=2, label=f"{a} - {b} (mean)")
        for row in g.by_t:
            ax_gap.plot(g.t, row, lw=0.8, alpha=0.5, color=line.get_color())
    ax_gap.axhline(0.0, color="0.4", lw=0.8)
    ax_gap.set_xlabel("timestep t")
    ax_gap.set_ylabel("paired gap in held-out loss")
    ax_gap.set_title("paired gap by t (thin: one line per seed)")
    if pairs:
        ax_gap.legend()
    return axes
