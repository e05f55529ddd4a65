"""Train lesson 04's four arms in lockstep for the shipped sampling weights, checkpointing as it goes.

``bench/lesson04_results.py`` trains the arms one after another for a fixed profile; that suits
the cached results, not a CPU run whose length is set by how much time is left. This script
trains all four arms *in lockstep* (step 1 of every arm, then step 2 of every arm, ...), each
with the settings of :class:`~course_utils.lessons.lesson04.profiles.TrainConfig` and the same
seed, digit order, timesteps and noise as :func:`~course_utils.lessons.lesson04.trainer.compare_models`
gives them, on the 9,000 training digits of :func:`~course_utils.lessons.lesson04.heldout.train_and_heldout`
(the 1,000 held-out digits are never seen). Every ``--save-every`` steps it writes the fp16 weights of
every arm and a manifest (:mod:`course_utils.lessons.lesson04.weights`) saying how many steps they had,
so a run stopped by a deadline (``--seconds``) or by hand still leaves a consistent set: all four arms
after the same number of steps.

    python bench/lesson04_weights.py --steps 2000 --seconds 7200 --out data/lesson04/weights
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import torch

from course_utils.diffusion.ddpm import linear_schedule
from course_utils.lessons.lesson04.heldout import train_and_heldout
from course_utils.lessons.lesson04.mnist import DeviceBatches, load_mnist
from course_utils.lessons.lesson04.profiles import TrainConfig
from course_utils.lessons.lesson04.trainer import StepRunner, describe_device
from course_utils.lessons.lesson04.weights import ARMS, save_weights, write_manifest
from course_utils.provenance import record
from course_utils.runtime import pick_device


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=2000, help="steps per arm at most (default 2000)")
    p.add_argument("--seconds", type=float, default=None, help="stop at the first checkpoint after this long")
    p.add_argument("--save-every", type=int, default=100, help="checkpoint every N steps (default 100)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", choices=("shipped", "auto"), default="shipped")
    p.add_argument("--out", type=Path, required=True, help="folder for <arm>.pt and manifest.json")
    args = p.parse_args(argv)
    for name in ("steps", "save_every", "batch_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    command = "python bench/lesson04_weights.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    device = pick_device()
    train, _held = train_and_heldout(load_mnist(device, source=args.data))
    images = train.images.to(device)  # uint8 [9000, 28, 28]
    config = TrainConfig().with_seed(args.seed)
    schedule = linear_schedule(config.num_timesteps, config.beta_start, config.beta_end, device)
    runners, batches, generators, epochs = {}, {}, {}, {}
    for arm, build in ARMS.items():
        torch.manual_seed(args.seed)  # as compare_models: the same initial convolution weights
        model = build().to(device)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)
        runners[arm] = StepRunner(model.train(), config, device, schedule, verbose=False)
        batches[arm] = DeviceBatches(images, args.batch_size, config.data_seed)
        generators[arm] = torch.Generator(device=device).manual_seed(config.seed)
        epochs[arm] = iter(())
    start, done = time.perf_counter(), 0
    window = dict.fromkeys(ARMS, 0.0)
    print(f"training {list(ARMS)} in lockstep on {train.source}, {describe_device(device)}", flush=True)
    while done < args.steps:
        for arm, runner in runners.items():
            x0 = next(epochs[arm], None)
            if x0 is None:  # a new epoch: a new permutation from the arm's own (identical) generator
                epochs[arm] = batches[arm].epoch()
                x0 = next(epochs[arm])
            window[arm] += float(runner.step(x0, generators[arm]))
        done += 1
        elapsed = time.perf_counter() - start
        if done % args.save_every == 0 or done == args.steps:
            losses = ", ".join(f"{a} {window[a] / args.save_every:.4f}" for a in ARMS)
            _checkpoint(args, command, device, train.source, runners, done, elapsed)
            print(
                f"step {done:,} ({elapsed / 60:.1f} min): mean training loss of the last window: {losses}", flush=True
            )
            window = dict.fromkeys(ARMS, 0.0)
            if args.seconds is not None and elapsed >= args.seconds:
                print(f"stopping: --seconds {args.seconds:.0f} reached after {done:,} steps per arm")
                break
    return 0


def _checkpoint(args, command, device, source, runners, done, elapsed) -> None:
    """Write every arm's weights after ``done`` steps, then the manifest that says so."""
    label = f"lockstep, {done:,} steps of batch {args.batch_size}"
    arms = {}
    for arm, runner in runners.items():
        entry = save_weights(runner.model, arm, args.out)
        arms[arm] = {**entry, "seed": args.seed, "steps": done, "profile": label, "device": describe_device(device)}
    prov = record(
        command, device=describe_device(device), seeds=[args.seed], data=source, wall_seconds=round(elapsed, 1)
    )
    write_manifest(args.out, prov, arms)


if __name__ == "__main__":
    raise SystemExit(main())
