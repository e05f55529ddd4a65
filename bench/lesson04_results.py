r"""Produce lesson 04's cached results: the four U-Nets trained over several seeds, with provenance.

Every arm (``--arms``, default all four of :data:`course_utils.lessons.lesson04.weights.ARMS`)
trains on the digits that are not held out (:func:`~course_utils.lessons.lesson04.heldout.train_and_heldout`:
9,000 of the shipped 10,000, or all 60,000 downloaded ones) and is then scored on the fixed
held-out (digit, t, noise) triples: ``heldout_loss_by_t`` beside its loss curves.
``--weights-dir`` also saves the fp16 weights of each arm's ``--weights-seed`` run with a manifest.

Examples (from the repository root):

    # the full GPU profile, 60,000 digits x 10 epochs (needs CUDA and torchvision's download)
    python bench/lesson04_results.py --profile gpu --data torchvision --seeds 0 1 2 \
        --out data/lesson04/gpu_results.json --weights-dir data/lesson04/weights

    # the shipped CPU results: 6,400 of the 9,000 training digits x 2 epochs on 2 cores
    python bench/lesson04_results.py --profile cpu --data shipped --seeds 0 1 2 \
        --out data/lesson04/cpu_results.json --weights-dir data/lesson04/weights

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
from course_utils.diffusion.ddpm import linear_schedule
from course_utils.lessons.lesson04.errors import LessonError, ProfileError
from course_utils.lessons.lesson04.heldout import heldout_loss_by_t, heldout_triples, train_and_heldout
from course_utils.lessons.lesson04.mnist import load_mnist
from course_utils.lessons.lesson04.profiles import PROFILES, TrainConfig, choose_profile
from course_utils.lessons.lesson04.results import (
    NOT_MEASURED,
    Lesson04Results,
    results_from_comparison,
    save_results,
    summarize,
)
from course_utils.lessons.lesson04.trainer import compare_models
from course_utils.lessons.lesson04.weights import ARMS, save_weights, write_manifest
from course_utils.provenance import record
from course_utils.runtime import pick_device

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
    p.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    p.add_argument(
        "--heldout-digits", type=int, default=128, help="held-out digits scored at every t of the grid (default 128)"
    )
    p.add_argument(
        "--weights-dir",
        type=Path,
        default=None,
        help="save each arm's fp16 weights (of --weights-seed) and a manifest here",
    )
    p.add_argument("--weights-seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--placeholder", choices=["gpu"], help="write a 'not yet measured' file for this profile instead of training"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    argv = list(argv if argv is not None else sys.argv[1:])
    # the recorded command names the output file relative to the clone (no machine's own path)
    argv = [display_path(a) if i and argv[i - 1] in ("--out", "--weights-dir") else a for i, a in enumerate(argv)]
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
        if args.weights_dir is not None and args.weights_seed not in args.seeds:
            raise ProfileError(f"--weights-seed {args.weights_seed} is not among --seeds {args.seeds}")
        data = load_mnist(device, source=args.data)
        train, held = train_and_heldout(data)
        triples = heldout_triples(held, args.heldout_digits)
        config = TrainConfig()
        schedule = linear_schedule(config.num_timesteps, config.beta_start, config.beta_end, device)
        heldout: dict[str, dict[int, dict]] = {arm: {} for arm in args.arms}
        weights: dict[str, dict] = {}

        def after_run(arm: str, seed: int, model) -> None:
            heldout[arm][seed] = heldout_loss_by_t(model, triples, schedule)
            if args.weights_dir is not None and seed == args.weights_seed:
                weights[arm] = save_weights(model, arm, args.weights_dir)

        start = time.perf_counter()
        cmp = compare_models(
            {arm: ARMS[arm] for arm in args.arms},
            train,
            profile,
            config,
            seeds=args.seeds,
            device=device,
            progress=not args.no_progress,
            after_run=after_run,
        )
        wall = time.perf_counter() - start
        kind = "GPU" if device.type == "cuda" else "CPU"
        label = (
            f"{kind} results: {cmp.profile.n_images:,} digits x {cmp.profile.epochs} epochs "
            f"({cmp.profile.name} profile)"
        )
        info = {
            "train": train.source,
            "heldout": held.source,
            "triples": triples.describe(),
            "loss": "DDPM simple loss (MSE on the noise) in eval mode, mean over the digits at each t",
        }
        res = results_from_comparison(cmp, command, label, wall, heldout, info)
        missing = [arm for arm in ARMS if arm not in args.arms]
        res.not_yet_measured.update({arm: "not in --arms of this run" for arm in missing})
        threads_env = {k: v for k, v in os.environ.items() if k.startswith(("OMP_", "MKL_"))}
        if threads_env:  # these change speed (not results); record them with the command
            res.provenance["environment"] = threads_env
        if args.weights_dir is not None:
            for arm, entry in weights.items():
                entry.update(
                    seed=args.weights_seed, steps=cmp.profile.total_steps, profile=cmp.profile.name, device=cmp.device
                )
            prov = record(command, device=cmp.device, seeds=[args.weights_seed], data=train.source)
            print(f"wrote {write_manifest(args.weights_dir, prov, weights)}")
        print(summarize(res))
        print(f"wrote {save_results(res, args.out)} after {wall / 60:.1f} min")
        return 0
    except LessonError as err:
        print(f"{type(err).__name__}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
