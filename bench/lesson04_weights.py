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

Each checkpoint also writes ``<out>/train_state.ckpt`` (float32 weights, Adam state, the random
generators' states and the step count); ``--resume`` continues from it, so a long CPU run can be
spread over several sittings and end exactly where one uninterrupted run would (the digit order is
replayed from its seed, the timesteps and noise continue from the saved generators).

    python bench/lesson04_weights.py --steps 2000 --seconds 7200 --out build/weights
    python bench/lesson04_weights.py --steps 2000 --seconds 7200 --out build/weights --resume
"""

from __future__ import annotations

import argparse
import dataclasses
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

STATE = "train_state.ckpt"  # not *.pt: the package's weights folder holds only the arms' files


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=2000, help="steps per arm at most (default 2000)")
    p.add_argument("--seconds", type=float, default=None, help="stop at the first checkpoint after this long")
    p.add_argument("--save-every", type=int, default=100, help="checkpoint every N steps (default 100)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", choices=("shipped", "auto"), default="shipped")
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16", "auto"),
        default="fp32",
        help="fp32, bf16 autocast (on the CPU too: 2-3.5x as fast where it has bf16 units) or auto",
    )
    p.add_argument("--out", type=Path, required=True, help="folder for <arm>.pt and manifest.json")
    p.add_argument("--resume", action="store_true", help=f"continue from <out>/{STATE} (written at every checkpoint)")
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
    config = dataclasses.replace(TrainConfig(), precision=args.precision).with_seed(args.seed)
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

    def next_batch(arm: str) -> torch.Tensor:
        x0 = next(epochs[arm], None)
        if x0 is None:  # a new epoch: a new permutation from the arm's own (identical) generator
            epochs[arm] = batches[arm].epoch()
            x0 = next(epochs[arm])
        return x0

    done, before, sittings = 0, 0.0, []
    if args.resume:
        done, before, sittings = _restore(args, train.source, runners, generators)
        for arm in ARMS:  # replay the digit order up to where the saved run stopped
            for _ in range(done):
                next_batch(arm)
        print(f"resuming after {done:,} steps per arm ({before / 60:.1f} min of training before)", flush=True)
    start, window, in_window, first = time.perf_counter(), dict.fromkeys(ARMS, 0.0), 0, done
    settings = runners[next(iter(ARMS))].describe()
    print(f"training {list(ARMS)} in lockstep on {train.source}, {describe_device(device)}, {settings}", flush=True)
    while done < args.steps:
        for arm, runner in runners.items():
            window[arm] += float(runner.step(next_batch(arm), generators[arm]))
        done, in_window = done + 1, in_window + 1
        elapsed = time.perf_counter() - start
        if done % args.save_every == 0 or done == args.steps:
            losses = ", ".join(f"{a} {window[a] / in_window:.4f}" for a in ARMS)
            sitting = {"command": command, "steps_from": first, "steps_to": done, "wall_seconds": round(elapsed, 1)}
            _checkpoint(
                args, command, device, train.source, runners, generators, done, before + elapsed, [*sittings, sitting]
            )
            print(
                f"step {done:,} ({(before + elapsed) / 60:.1f} min): mean training loss of the last window: {losses}",
                flush=True,
            )
            window, in_window = dict.fromkeys(ARMS, 0.0), 0
            if args.seconds is not None and elapsed >= args.seconds:
                print(f"stopping: --seconds {args.seconds:.0f} reached after {done:,} steps per arm")
                break
    return 0


def _restore(args: argparse.Namespace, source: str, runners: dict, generators: dict) -> tuple[int, float, list[dict]]:
    """Load ``<out>/train_state.ckpt`` into the runners and generators; (steps done, seconds so far,
    the earlier sittings)."""
    path = args.out / STATE
    if not path.is_file():
        raise SystemExit(f"--resume: no {path}; start without --resume, or point --out at the earlier run's folder")
    state = torch.load(path, map_location="cpu", weights_only=True)
    same = (state["seed"], state["batch_size"], state["data"], state["precision"]) == (
        args.seed,
        args.batch_size,
        source,
        args.precision,
    )
    if not same or set(state["arms"]) != set(ARMS):
        raise SystemExit(
            f"--resume: {path} is a run with seed {state['seed']}, batch {state['batch_size']}, data "
            f"{state['data']!r} and precision {state['precision']} (arms {sorted(state['arms'])}); resume it "
            "with the same --seed, --batch-size, --data and --precision"
        )
    for arm, runner in runners.items():
        saved = state["arms"][arm]
        runner.model.load_state_dict(saved["model"])
        runner.optimizer.load_state_dict(saved["optimizer"])  # before the first step (and any graph capture)
        if runner.scaler is not None and saved.get("scaler"):
            runner.scaler.load_state_dict(saved["scaler"])
        generators[arm].set_state(saved["generator"])
    return int(state["done"]), float(state["wall_seconds"]), list(state["sittings"])


def _checkpoint(args, command, device, source, runners, generators, done, elapsed, sittings) -> None:
    """Write every arm's weights after ``done`` steps, the state to resume from, then the manifest."""
    arms_state = {
        arm: {
            "model": runner.model.state_dict(),
            "optimizer": runner.optimizer.state_dict(),
            "scaler": runner.scaler.state_dict() if runner.scaler is not None else {},
            "generator": generators[arm].get_state(),
        }
        for arm, runner in runners.items()
    }
    state = {
        "done": done,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "data": source,
        "precision": args.precision,
        "wall_seconds": elapsed,
        "sittings": sittings,
        "arms": arms_state,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(state, args.out / (STATE + ".tmp"))
    (args.out / (STATE + ".tmp")).replace(args.out / STATE)  # never a half-written state
    arms = {}
    for arm, runner in runners.items():
        entry = save_weights(runner.model, arm, args.out)
        label = f"lockstep, {done:,} steps of batch {args.batch_size}, {runner.describe()}"
        arms[arm] = {
            **entry,
            "seed": args.seed,
            "steps": done,
            "profile": label,
            "precision": runner.precision,
            "device": describe_device(device),
        }
    prov = record(
        command,
        device=describe_device(device),
        seeds=[args.seed],
        data=source,
        wall_seconds=round(elapsed, 1),
        budget={"steps": done, "batch_size": args.batch_size, "sittings": sittings},
    )
    write_manifest(args.out, prov, arms)


if __name__ == "__main__":
    raise SystemExit(main())
