"""Benchmark: the original notebook's training loop against the course trainer, same device, one run.

Both loops train the same model (``UNetSimple`` by default, the original notebook's model with
its in-place bug fixed) with the DDPM loss (Ho et al., 2020) for the same number
of steps of batch 128, starting from the same weights, on the shipped 10,000
MNIST test digits. Reported: seconds per step, seconds per 60,000-image epoch
(= seconds per step x 468 steps, the original notebook's ``drop_last`` epoch), their ratio,
and the peak GPU memory of each loop when on a GPU.

    python bench/run.py --device auto            # what `make bench` runs
    python bench/run.py --device cpu --steps 4   # a quick check
    python bench/run.py --variants               # also time the trainer's speed settings

``--variants`` then trains the same model from the same weights with each speed
setting of the course trainer (fp32 / bf16 / fp16 + GradScaler, eager or
``torch.compile`` in its default or CUDA-graph mode, channels-last or not), so the
defaults can be chosen from measurements on the device at hand.

On a CPU the default step count is small and the output is marked "CPU".
Nothing is estimated: every figure printed comes from the timed steps.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Callable

# Before torch starts its thread pool: idle OpenMP threads sleep instead of spinning. On a
# shared CPU, spinning threads can make every step several times slower; results are unchanged.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without install
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch

from course_utils.lessons.lesson04.errors import LessonError, ProfileError
from course_utils.lessons.lesson04.mnist import load_shipped_split
from course_utils.lessons.lesson04.profiles import Profile, TrainConfig
from course_utils.provenance import git_state
from course_utils.runtime import pick_device
from course_utils.lessons.lesson04.trainer import describe_device, train_model
from course_utils.components.unets import UNetSimple, UNetSinusoidal
from original_loop import original_loader, time_original_loop

STEPS_PER_60K_EPOCH = 60_000 // 128  # 468, as the original notebook's DataLoader with drop_last=True
MODELS = {"simple": UNetSimple, "sinusoidal": UNetSinusoidal}


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    p.add_argument("--steps", type=int, default=None, help="timed steps per loop (default: 300 on a GPU, 20 on a CPU)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 20 on a GPU, 2 on a CPU)")
    p.add_argument("--model", choices=sorted(MODELS), default="simple")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    p.add_argument(
        "--variants", action="store_true", help="also time each speed setting of the course trainer (see above)"
    )
    return p.parse_args(argv)


# (name, TrainConfig overrides) timed by --variants; CUDA-only settings are skipped on a CPU.
VARIANTS: tuple[tuple[str, dict], ...] = (
    ("fp32, eager", {"precision": "fp32", "compile": "off", "cuda_graph": "off"}),
    ("bf16, eager", {"precision": "bf16", "compile": "off", "cuda_graph": "off"}),
    ("bf16, compiled", {"precision": "bf16", "compile": "on", "cuda_graph": "off"}),
    (
        "bf16, compiled reduce-overhead",
        {"precision": "bf16", "compile": "on", "compile_mode": "reduce-overhead", "cuda_graph": "off"},
    ),
    ("bf16, eager, CUDA graph", {"precision": "bf16", "compile": "off", "cuda_graph": "on"}),
    ("bf16, compiled, CUDA graph", {"precision": "bf16", "compile": "on", "cuda_graph": "on"}),
    (
        "bf16, compiled, CUDA graph, no channels-last",
        {"precision": "bf16", "compile": "on", "cuda_graph": "on", "channels_last": False},
    ),
    ("fp32, compiled, CUDA graph", {"precision": "fp32", "compile": "on", "cuda_graph": "on"}),
    ("fp16 + GradScaler, eager", {"precision": "fp16", "compile": "off"}),
    ("fp16 + GradScaler, compiled", {"precision": "fp16", "compile": "on"}),
)


def _course_profile(steps: int, batch: int, n_available: int) -> Profile:
    """A profile of exactly ``steps`` steps when possible (rounded up to whole epochs)."""
    per_epoch_max = n_available // batch
    if steps <= per_epoch_max:
        return Profile("bench", n_images=steps * batch, epochs=1, batch_size=batch, log_every=min(50, steps))
    return Profile(
        "bench", n_images=per_epoch_max * batch, epochs=math.ceil(steps / per_epoch_max), batch_size=batch, log_every=50
    )


def _peak_mib(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def run(argv: list[str] | None = None) -> dict:
    """Run the benchmark and return its figures (also printed)."""
    args = _args(argv)
    try:
        device = pick_device(None if args.device == "auto" else args.device)
    except RuntimeError as err:  # e.g. --device cuda on a machine without CUDA
        raise ProfileError(str(err)) from None
    on_gpu = device.type == "cuda"
    data = load_shipped_split(device="cpu")
    profile = _course_profile(args.steps or (300 if on_gpu else 20), args.batch, len(data))
    steps, warmup = profile.total_steps, args.warmup if args.warmup is not None else (20 if on_gpu else 2)
    torch.manual_seed(0)
    model = MODELS[args.model]()
    initial = copy.deepcopy(model.state_dict())
    where = describe_device(device)
    print(
        f"bench: {type(model).__name__}, batch {args.batch}, {steps} timed steps per loop after "
        f"{warmup} warm-up steps, on {where}{'' if on_gpu else ' - CPU run, reduced step count'}"
    )

    _reset_peak(device)
    original_s = time_original_loop(model, original_loader(data.images, data.labels, args.batch), steps, warmup, device)
    original_mem = _peak_mib(device)

    model.load_state_dict(initial)
    _reset_peak(device)
    config = TrainConfig(warmup_steps=warmup)
    result = train_model(
        model, data.images.to(device), profile, config, device=device, label="course trainer", progress=False
    )
    course_s = result.seconds_per_step
    course_mem = _peak_mib(device)

    figures = {
        "device": where,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "model": type(model).__name__,
        "batch": args.batch,
        "timed_steps": steps,
        "warmup_steps": warmup,
        "command": "python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "environment": {k: v for k, v in os.environ.items() if k.startswith(("OMP_", "MKL_"))},
        **git_state(),
        # "seed_loop": the key the stored results (bench/results_*.json) use for the original loop
        "seed_loop": {
            "s_per_step": original_s,
            "s_per_60k_epoch": original_s * STEPS_PER_60K_EPOCH,
            "peak_gpu_mib": original_mem,
            "precision": "fp32",
            "compiled": False,
        },
        "course_trainer": {
            "s_per_step": course_s,
            "s_per_60k_epoch": course_s * STEPS_PER_60K_EPOCH,
            "peak_gpu_mib": course_mem,
            "precision": result.precision,
            "compiled": result.compiled,
            "cuda_graph": result.cuda_graph,
        },
        "speedup": original_s / course_s,
    }

    def mem(v):
        return "n/a (CPU)" if v is None else f"{v:,.0f} MiB"

    print(f"{'loop':<58} {'s/step':>8} {'s per 60k epoch':>16} {'peak GPU memory':>16}")
    for name, key in (
        ("original-notebook (DataLoader + PIL ToTensor/Normalize, fp32)", "seed_loop"),
        (f"course trainer ({result.describe()}, data on device)", "course_trainer"),
    ):
        f = figures[key]
        print(f"{name:<58} {f['s_per_step']:>8.4f} {f['s_per_60k_epoch']:>16.1f} {mem(f['peak_gpu_mib']):>16}")
    print(
        f"speed-up of the course trainer: {figures['speedup']:.2f}x "
        f"({'GPU' if on_gpu else 'CPU'}; 60k-epoch figures = s/step x {STEPS_PER_60K_EPOCH})"
    )
    if args.variants:
        figures["variants"] = _time_variants(
            MODELS[args.model], initial, data.images.to(device), profile, warmup, device
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=1) + "\n")
        print(f"wrote {args.out}")
    return figures


def _time_variants(
    build: Callable[[], torch.nn.Module],
    initial: dict,
    images: torch.Tensor,
    profile: Profile,
    warmup: int,
    device: torch.device,
) -> list[dict]:
    """Train a fresh model from ``initial`` once per entry of :data:`VARIANTS`; print a table.

    Each variant gets a model of its own, as in a real run: a model that another
    runner has already trained (and compiled or captured) is not a fair start.
    """
    rows = []
    for name, overrides in VARIANTS:
        config = dataclasses.replace(TrainConfig(warmup_steps=warmup), **overrides)
        if device.type != "cuda" and (
            config.precision != "fp32" or config.compile == "on" or config.cuda_graph == "on"
        ):
            # fp16 and graphs are CUDA-only; compiling on a CPU is not timed; bf16 on a CPU is timed
            # for every network by bench/cpu_precision.py, not here
            continue
        model = build()
        model.load_state_dict(initial)
        _reset_peak(device)
        start = time.perf_counter()
        print(f"-- variant: {name}")
        try:
            res = train_model(model, images, profile, config, device=device, label=name, progress=False)
        except Exception as err:  # a failing setting is a result too
            rows.append({"variant": name, "error": f"{type(err).__name__}: {str(err)[:300]}"})
            continue
        rows.append(
            {
                "variant": name,
                "settings": {k: str(v) for k, v in overrides.items()},
                "s_per_step": res.seconds_per_step,
                "s_per_60k_epoch": res.seconds_per_step * STEPS_PER_60K_EPOCH,
                "wall_s_incl_compile": time.perf_counter() - start,
                "peak_gpu_mib": _peak_mib(device),
                "precision": res.precision,
                "compiled": res.compiled,
                "cuda_graph": res.cuda_graph,
                "final_window_loss": res.window_losses[-1],
            }
        )
    print(
        f"\n{'course trainer variant (as run)':<48} {'s/step':>8} {'s/60k ep':>9} {'wall s':>8} "
        f"{'peak MiB':>9} {'last loss':>9}"
    )
    for r in rows:
        if "error" in r:
            print(f"{r['variant']:<48} failed: {r['error']}")
            continue
        peak = "n/a" if r["peak_gpu_mib"] is None else f"{r['peak_gpu_mib']:,.0f}"
        asked = r["settings"]
        fell_back = r["compiled"] != (asked["compile"] == "on") or r["cuda_graph"] != (asked.get("cuda_graph") == "on")
        name = r["variant"] + (" (FELL BACK: see its log lines)" if fell_back else "")
        print(
            f"{name:<48} {r['s_per_step']:>8.4f} {r['s_per_60k_epoch']:>9.2f} "
            f"{r['wall_s_incl_compile']:>8.1f} {peak:>9} {r['final_window_loss']:>9.4f}"
        )
    return rows


def main() -> int:
    try:
        run()
        return 0
    except LessonError as err:
        print(f"{type(err).__name__}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
