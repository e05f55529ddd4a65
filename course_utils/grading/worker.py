"""Autograde one staged submission in its own process (``python -m course_utils.grading.worker``).

The orchestrator (:mod:`course_utils.grading.autograde`) starts one worker per
submission, so a notebook that hangs, floods its output or kills its kernel can
only take its own worker down, and several workers can run in parallel. The worker
runs nbgrader's autograde (https://nbgrader.readthedocs.io, "autograde") on the
staged copy, optionally with the sandboxed kernel manager, with the judge deciding
every graded test cell outside the kernel (:mod:`.preprocessors`), then trims oversized
outputs in the autograded copy. It prints one JSON line: ``{"success": ..., "error": ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import nbformat

MAX_OUTPUT_CHARS = 20_000  # per output in the autograded copy (and so in feedback)


def trim_outputs(path: Path, limit: int = MAX_OUTPUT_CHARS) -> int:
    """Cut every text output in ``path`` to ``limit`` characters; return how many were cut."""
    nb = nbformat.read(path, as_version=4)
    cut = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and len(out.get("text", "")) > limit:
                out["text"] = out["text"][:limit] + f"\n[... output cut: {len(out['text']):,} characters in all]\n"
                cut += 1
            data = out.get("data", {})
            for mime in ("text/plain", "text/html"):
                if isinstance(data.get(mime), str) and len(data[mime]) > limit:
                    data[mime] = data[mime][:limit] + "\n[... output cut]"
                    cut += 1
    if cut:
        nbformat.write(nb, path)
    return cut


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--settings", required=True, help="JSON with root, dirs, db_url, assignment, student")
    args = ap.parse_args(argv)
    s = json.loads(args.settings)
    os.environ["COURSE_GRADING"] = "1"
    os.environ.setdefault("MPLBACKEND", "Agg")

    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from .course import CourseDirs, nbgrader_config

    dirs = CourseDirs(root=Path(s["root"]), submitted=s["submitted"], db_url=s["db_url"],
                      cell_timeout_s=int(s["cell_timeout_s"]))
    from .preprocessors import autograde_preprocessors

    # The judge decides every graded test cell, sandbox or not (see .preprocessors).
    overrides = {"Autograde__autograde_preprocessors": autograde_preprocessors()}
    if s.get("sandbox"):
        from .course import REPO_ROOT
        from .sandbox import configure_nbgrader_sandbox, course_secret_paths

        # Secrets are re-sealed before every kernel starts (nbgrader creates the gradebook
        # and the autograded copy after the preflight), and the course folders are hidden
        # from the kernel except for what it needs (the venv, course_utils, data/).
        overrides.update(configure_nbgrader_sandbox(
            s["student"], [str(REPO_ROOT / "data"), *s.get("readable_paths", [])],
            secret_paths=course_secret_paths(dirs), hidden_paths=[str(REPO_ROOT), str(dirs.root)]))
    cfg = nbgrader_config(dirs, **overrides)
    api = NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)
    result = api.autograde(s["assignment"], s["student"], force=True, create=True)
    out_dir = dirs.path("autograded") / s["student"] / s["assignment"]
    trimmed = sum(trim_outputs(p) for p in out_dir.glob("*.ipynb")) if out_dir.is_dir() else 0
    error = result.get("error") or ""
    print(json.dumps({"success": bool(result["success"]), "error": error[-4000:],
                      "log_tail": (result.get("log") or "")[-4000:], "trimmed_outputs": trimmed}))
    return 0 if result["success"] else 3


if __name__ == "__main__":
    sys.exit(main())
