"""Benchmark: one lesson 04 training step on the CPU in fp32 and in bf16 autocast, per network.

The course trains lesson 04's networks in fp32 on a CPU (``TrainConfig(precision="auto")``).
On CPUs with bf16 units (Intel's AMX or AVX-512 BF16) bf16 autocast can run much faster; others
have to convert in software, which was not measured. This script measures both on the machine at
hand, through the course's own
:class:`~course_utils.lessons.lesson04.trainer.StepRunner` (channels-last, Adam, the DDPM loss), so the
shipped-weights run and ``bench/RESULTS.md`` can say what bf16 buys here, and prints which CPU
features torch sees.

    python bench/cpu_precision.py --out bench/results_cpu_precision.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without install

import torch

from course_utils.diffusion.ddpm import linear_schedule
from course_utils.lessons.lesson04.profiles import TrainConfig
from course_utils.lessons.lesson04.trainer import StepRunner
from course_utils.lessons.lesson04.weights import ARMS
from course_utils.provenance import machine


def time_steps(arm: str, precision: str, steps: int, warmup: int, batch: int) -> list[float]:
    """Seconds of each of ``steps`` training steps of ``arm`` after ``warmup`` untimed ones."""
    torch.manual_seed(0)
    config = TrainConfig(precision=precision)
    model = ARMS[arm]().to(memory_format=torch.channels_last).train()
    runner = StepRunner(model, config, torch.device("cpu"), linear_schedule(), verbose=False)
    x0 = torch.rand(batch, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    gen = torch.Generator().manual_seed(1)
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        float(runner.step(x0, gen))  # float(): wait for the step
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=5, help="timed steps per network and precision (default 5)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    args = p.parse_args(argv)
    if min(args.steps, args.batch_size) < 1 or args.warmup < 0:
        p.error("--steps and --batch-size must be >= 1, --warmup >= 0")
    capability = torch.backends.cpu.get_cpu_capability()
    # torch's own (private) probes of the bf16 units; absent in some versions, hence getattr
    units = {
        name: bool(getattr(torch.cpu, f"_is_{name}_supported", lambda: None)()) for name in ("avx512_bf16", "amx_tile")
    }
    print(
        f"CPU capability seen by torch: {capability}, bf16 units {units}; {torch.get_num_threads()} threads", flush=True
    )
    rows = []
    for arm in ARMS:
        medians = {}
        for precision in ("fp32", "bf16"):
            times = time_steps(arm, precision, args.steps, args.warmup, args.batch_size)
            medians[precision] = statistics.median(times)
            rows.append({"arm": arm, "precision": precision, "seconds": times, "median": medians[precision]})
        ratio = medians["fp32"] / medians["bf16"]
        print(
            f"  {arm:<15} fp32 {medians['fp32']:.3f} s/step   bf16 {medians['bf16']:.3f} s/step   "
            f"bf16 is {ratio:.2f}x as fast",
            flush=True,
        )
    if args.out:
        figures = {
            **machine("python bench/cpu_precision.py " + " ".join(argv if argv is not None else sys.argv[1:])),
            "cpu_capability": capability,
            "bf16_units": units,
            "threads": torch.get_num_threads(),
            "batch_size": args.batch_size,
            "warmup": args.warmup,
            "rows": rows,
        }
        args.out.write_text(json.dumps(figures, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
