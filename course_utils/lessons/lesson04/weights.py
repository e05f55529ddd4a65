"""Lesson 04's shipped network weights: save fp16 state dicts with provenance, load them to sample.

A CPU learner cannot train the four arms for thousands of steps, so the weights of one run
per arm ship in ``data/lesson04/weights/`` (``<arm>.pt``: the state dict with its floating
tensors in float16, a few MB each) with ``manifest.json``: the provenance record of
:func:`course_utils.provenance.record` (command, device, git commit, date, seeds, data) and,
per arm, the seed, the training steps, the profile and the file's SHA-256. The loader
checks the manifest and the hash, rebuilds the arm's class and loads the weights back in
float32, in eval mode (BatchNorm with its running statistics), ready for
:mod:`course_utils.diffusion.samplers`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn

from course_utils.lessons.lesson04.errors import ResultsError
from course_utils.paths import shipped_dir
from course_utils.provenance import check
from course_utils.components.unets import UNetAdaGN, UNetScalar, UNetSimple, UNetSinusoidal

__all__ = ["ARMS", "WEIGHTS_SCHEMA", "weights_dir", "save_weights", "write_manifest", "load_manifest", "load_weights"]

# The four arms of lesson 04, in the order the lesson shows them.
ARMS: dict[str, Callable[[], nn.Module]] = {
    "UNetSimple": UNetSimple,
    "UNetScalar": UNetScalar,
    "UNetSinusoidal": UNetSinusoidal,
    "UNetAdaGN": UNetAdaGN,
}
WEIGHTS_SCHEMA = "course_utils/lesson04-weights/1"
MANIFEST = "manifest.json"
REQUIRED = ("command", "device", "torch", "date", "seeds", "data", "git_commit")


def weights_dir() -> Path:
    """``<shipped data>/lesson04/weights`` (the clone's ``data/``, or the installed package's copy)."""
    return shipped_dir() / "lesson04" / "weights"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_weights(model: nn.Module, arm: str, folder: str | Path) -> dict[str, Any]:
    """Write ``<folder>/<arm>.pt`` (floating tensors as float16); return its manifest entry fields."""
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {list(ARMS)}, got {arm!r}")
    if not isinstance(model, ARMS[arm]):
        raise TypeError(f"the weights of {arm} must come from a {arm}, got {type(model).__name__}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {
        k: (v.detach().to("cpu", torch.float16) if v.is_floating_point() else v.detach().cpu())
        for k, v in model.state_dict().items()
    }
    path = folder / f"{arm}.pt"
    torch.save(state, path)
    return {
        "file": path.name,
        "sha256": _sha256(path),
        "bytes": path.stat().st_size,
        "params": sum(p.numel() for p in model.parameters()),
        "dtype": "float16",
    }


def write_manifest(folder: str | Path, provenance: Mapping[str, Any], arms: Mapping[str, Mapping[str, Any]]) -> Path:
    """Write ``<folder>/manifest.json``: the provenance and, per arm, what :func:`save_weights` returned
    plus ``seed``, ``steps`` and ``profile``."""
    missing = [k for k in REQUIRED if provenance.get(k) in (None, "", [])]
    if missing:
        raise ValueError(f"provenance lacks {missing}: build it with course_utils.provenance.record")
    for arm, entry in arms.items():
        need = [k for k in ("file", "sha256", "seed", "steps", "profile") if k not in entry]
        if arm not in ARMS or need:
            raise ValueError(f"arm {arm!r}: must be one of {list(ARMS)} with {need or 'its fields'}")
    path = Path(folder) / MANIFEST
    path.write_text(
        json.dumps(
            {"schema": WEIGHTS_SCHEMA, "provenance": dict(provenance), "arms": {a: dict(e) for a, e in arms.items()}},
            indent=1,
        )
        + "\n"
    )
    return path


def load_manifest(folder: str | Path | None = None) -> dict[str, Any]:
    """The manifest of the shipped weights (or of ``folder``), with its provenance checked."""
    path = Path(folder or weights_dir()) / MANIFEST
    if not path.is_file():
        raise ResultsError(
            f"No shipped weights at {path.parent}. Work from a full clone of the "
            "course repository, or regenerate them with bench/lesson04_results.py "
            "--weights-dir (bench/RESULTS.md)."
        )
    try:
        return check(json.loads(path.read_text()), path, WEIGHTS_SCHEMA, REQUIRED)
    except ValueError as err:
        raise ResultsError(str(err)) from None


def load_weights(arm: str, folder: str | Path | None = None, device: torch.device | str = "cpu") -> nn.Module:
    """The shipped ``arm`` network in float32 and eval mode on ``device``, its file's hash checked."""
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {list(ARMS)}, got {arm!r}")
    folder = Path(folder or weights_dir())
    manifest = load_manifest(folder)
    entry = manifest["arms"].get(arm)
    if entry is None:
        raise ResultsError(f"the shipped weights have no {arm} ({folder / MANIFEST} lists {sorted(manifest['arms'])})")
    path = folder / entry["file"]
    if not path.is_file() or _sha256(path) != entry["sha256"]:
        raise ResultsError(
            f"{path} is missing or does not match its SHA-256 in the manifest; "
            "restore it with `git checkout -- data/lesson04/weights`"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = ARMS[arm]()
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.to(device).eval()
