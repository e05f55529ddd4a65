r"""Produce lesson 04's cached results: both U-Nets trained over several seeds, with provenance.

Examples (from the repository root):

    # the full GPU profile, 60,000 digits x 10 epochs (needs CUDA and torchvision's download)
    python bench/lesson04_results.py --profile gpu --data torchvision --seeds 0 1 2 \
        --out data/lesson04/gpu_results.json

    # the shipped CPU results: the 10,000 shipped test digits x 2 epochs on 2 cores
    python bench/lesson04_results.py --profile cpu_medium --data shipped --seeds 0 1 2 \
        --out data/lesson04/cpu_results.json

    # mark the GPU file as "not yet measured" (no numbers), with the command that fills it
    python bench/lesson04_results.py --placeholder gpu --out data/lesson04/gpu_results.json

Training follows DDPM (Ho et al., 2020) through :mod:`course_utils.lessons.lesson04.trainer`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import sys
import time
from pathlib import Path

# Before torch starts its thread pool: idle OpenMP threads sleep instead of spinning. On a
# shared CPU, spinning threads can make every step several times slower; results are unchanged.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without install

from course_utils.paths import display_path
from course_utils.lessons.lesson04.errors import LessonError, ProfileError
from course_utils.lessons.lesson04.results import (
    NOT_MEASURED,
    Lesson04Results,
    results_from_comparison,
    save_results,
    summarize,
)
from course_utils.lessons.lesson04.mnist import load_mnist
from course_utils.lessons.lesson04.profiles import PROFILES, TrainConfig, choose_profile
from course_utils.runtime import pick_device
from course_utils.lessons.lesson04.trainer import compare_models
from course_utils.components.unets import UNetSimple, UNetSinusoidal

GPU_COMMAND = (
    "python bench/lesson04_results.py --profile gpu --data torchvision --seeds 0 1 2 "
    "--out data/lesson04/gpu_results.json"
)


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--profile", choices=sorted(PROFILES), default="cpu_medium")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--data", choices=["auto", "shipped", "torchvision"], default="auto")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--placeholder", choices=["gpu"], help="write a 'not yet measured' file for this profile instead of training"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    argv = list(argv if argv is not None else sys.argv[1:])
    # the recorded command names the output file relative to the clone (no machine's own path)
    argv = [display_path(a) if i and argv[i - 1] == "--out" else a for i, a in enumerate(argv)]
    command = "python bench/lesson04_results.py " + " ".join(shlex.quote(a) for a in argv)
    try:
        if args.placeholder:
            prof = PROFILES[args.placeholder]
            res = Lesson04Results(
                NOT_MEASURED,
                f"GPU profile: {prof.n_images:,} digits x {prof.epochs} epochs, seeds 0, 1, 2",
                {
                    "command": GPU_COMMAND,
                    "reason": "no GPU was available when this file was "
                    "written; run the command on a CUDA machine to replace it",
                    "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                },
                {"name": prof.name, "n_images": prof.n_images, "epochs": prof.epochs, "batch_size": prof.batch_size},
            )
            print(f"wrote {save_results(res, args.out)} ({NOT_MEASURED})")
            return 0
        try:
            device = pick_device(None if args.device == "auto" else args.device)
        except RuntimeError as err:  # e.g. --device cuda on a machine without CUDA
            raise ProfileError(str(err)) from None
        profile = choose_profile(args.profile, device)
        data = load_mnist(device, source=args.data)
        start = time.perf_counter()
        cmp = compare_models(
            {"UNetSimple": UNetSimple, "UNetSinusoidal": UNetSinusoidal},
            data,
            profile,
            TrainConfig(),
            seeds=args.seeds,
            device=device,
            progress=not args.no_progress,
        )
        wall = time.perf_counter() - start
        kind = "GPU" if device.type == "cuda" else "CPU"
        label = (
            f"{kind} results: {cmp.profile.n_images:,} digits x {cmp.profile.epochs} epochs "
            f"({cmp.profile.name} profile)"
        )
        res = results_from_comparison(cmp, command, label, wall)
        threads_env = {k: v for k, v in os.environ.items() if k.startswith(("OMP_", "MKL_"))}
        if threads_env:  # these change speed (not results); record them with the command
            res.provenance["environment"] = threads_env
        print(summarize(res))
        print(f"wrote {save_results(res, args.out)} after {wall / 60:.1f} min")
        return 0
    except LessonError as err:
        print(f"{type(err).__name__}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
