"""Autograde one staged submission in its own process (``python -m course_utils.grading.worker``).

The orchestrator (:mod:`course_utils.grading.autograde`) starts one worker per
submission, so a notebook that hangs, floods its output or kills its kernel can
only take its own worker down, and several workers can run in parallel. The worker
runs nbgrader's autograde (https://nbgrader.readthedocs.io, "autograde") on the
staged copy, optionally with the sandboxed kernel manager and its limits
(:mod:`.limits`), with the judge deciding every graded test cell outside the kernel
(:mod:`.preprocessors`), then trims oversized outputs of every MIME type in the autograded
copy. It prints one JSON line: ``{"success": ..., "error": ..., "limit": ...,
"leftovers": ...}``, where ``limit`` names a resource limit the kernel ran into.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

# Before nbformat. nbformat imports jsonschema, whose format checks import the optional package
# rfc3987-syntax when it is installed (it comes with jupyter-events); that package builds 39 Lark
# parsers at import time, about 0.9 s of every worker's 2 s of imports on the 2-core machine, for
# the "iri" formats that no notebook schema uses (python-jsonschema/jsonschema#1428). One worker
# grades one submission, so that import is paid per submission. A ``None`` entry makes the import
# fail as if the package were absent, and jsonschema skips the two formats it would check.
sys.modules.setdefault("rfc3987_syntax", None)

import nbformat  # noqa: E402

MAX_OUTPUT_CHARS = 20_000  # per output in the autograded copy (and so in feedback)


def _cut_note(mime: str, size: int, limit: int) -> str:
    return f"[... {mime} output cut: {size:,} characters in all, the limit is {limit:,}]"


def trim_outputs(path: Path, limit: int = MAX_OUTPUT_CHARS) -> int:
    """Cut every output in ``path`` to ``limit`` characters, whatever its MIME type: text is
    cut with a note of what was cut; any other data (images, HTML, JSON, ...) too large is
    replaced by that note as ``text/plain``. Returns how many outputs were cut."""
    nb = nbformat.read(path, as_version=4)
    cut = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and len(out.get("text", "")) > limit:
                out["text"] = out["text"][:limit] + "\n" + _cut_note("stream", len(out["text"]), limit) + "\n"
                cut += 1
            if out.get("output_type") == "error":
                tb = out.get("traceback", [])
                if sum(len(t) for t in tb) + len(str(out.get("evalue", ""))) > limit:
                    out["evalue"] = str(out.get("evalue", ""))[:limit]
                    out["traceback"] = [t[: limit // 4] for t in tb[-4:]] + [
                        _cut_note("traceback", sum(map(len, tb)), limit)
                    ]
                    cut += 1
            data = out.get("data", {})
            for mime in list(data):
                value = data[mime]
                size = len(
                    value
                    if isinstance(value, str)
                    else "".join(value)
                    if isinstance(value, list)
                    else json.dumps(value)
                )
                if size <= limit:
                    continue
                cut += 1
                note = _cut_note(mime, size, limit)
                if mime == "text/plain" and isinstance(value, str):
                    data[mime] = value[:limit] + "\n" + note
                else:
                    del data[mime]
                    data["text/plain"] = (data.get("text/plain", "") + "\n" + note).lstrip("\n")
                    out.get("metadata", {}).pop(mime, None)
    if cut:
        nbformat.write(nb, path)
    return cut


def _error_texts(paths: list[Path]) -> list[str]:
    """``ename: evalue`` of every error output in the notebooks."""
    texts = []
    for path in paths:
        for cell in nbformat.read(path, as_version=4).cells:
            texts += [
                f"{o.get('ename', '')}: {o.get('evalue', '')}"
                for o in cell.get("outputs", [])
                if o.get("output_type") == "error"
            ]
    return texts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--settings", required=True, help="JSON with root, dirs, db_url, assignment, student")
    args = ap.parse_args(argv)
    s = json.loads(args.settings)
    # COURSE_GRADING=1 and MPLBACKEND come from the parent (autograde._run_worker's env=).

    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from course_utils.grading.course import CourseDirs, nbgrader_config

    dirs = CourseDirs(
        root=Path(s["root"]), submitted=s["submitted"], db_url=s["db_url"], cell_timeout_s=int(s["cell_timeout_s"])
    )
    from course_utils.grading.preprocessors import autograde_preprocessors

    # The judge decides every graded test cell, sandbox or not (see .preprocessors).
    overrides = {"Autograde__autograde_preprocessors": autograde_preprocessors()}
    ipc_dir = None
    if s.get("sandbox"):
        from course_utils.grading.course import REPO_ROOT
        from course_utils.grading.limits import Limits
        from course_utils.grading.sandbox import configure_nbgrader_sandbox, course_secret_paths

        # Secrets are re-sealed before every kernel starts (nbgrader creates the gradebook
        # and the autograded copy after the preflight), and the course folders are hidden
        # from the kernel except for what it needs (the venv, course_utils, data/).
        overrides.update(
            configure_nbgrader_sandbox(
                s["student"][:16] + "-" + s.get("tag", ""),
                [str(REPO_ROOT / "data"), *s.get("readable_paths", [])],
                secret_paths=course_secret_paths(dirs),
                hidden_paths=[str(REPO_ROOT), str(dirs.root)],
                limits=Limits(**s.get("limits", {})),
            )
        )
    else:
        # Without the sandbox the kernel is a plain local process on TCP by default, and two
        # workers starting kernels at once can be handed the same free port (jupyter_client picks
        # ports that the kernel binds later): one kernel then dies with "Address already in use".
        # Unix sockets in a folder of this worker's own cannot collide (the sandbox uses them too).
        ipc_dir = Path(tempfile.mkdtemp(prefix="nbk-"))
        overrides.update({"KernelManager__transport": "ipc", "KernelManager__ip": str(ipc_dir / "k")})
    cfg = nbgrader_config(dirs, **overrides)
    api = NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)
    try:
        result = api.autograde(s["assignment"], s["student"], force=True, create=True)
    finally:
        if ipc_dir is not None:
            shutil.rmtree(ipc_dir, ignore_errors=True)
    out_dir = dirs.path("autograded") / s["student"] / s["assignment"]
    notebooks = sorted(out_dir.glob("*.ipynb")) if out_dir.is_dir() else []
    limit, leftovers, names = "", 0, set()
    if s.get("sandbox"):
        from course_utils.grading.limits import Limits, limit_exceeded
        from course_utils.grading.sandbox_kernel import ENDINGS

        errors = _error_texts(notebooks)
        for end in ENDINGS:
            leftovers += end["leftovers"]
            names.update(end.get("leftover_names", []))
            limit = limit or limit_exceeded(
                Limits(**s.get("limits", {})),
                end["exit_code"],
                end["oom_kills"],
                end["cgroup"],
                errors,
                end["seconds"],
                end.get("cpu_seconds"),
            )
    trimmed = sum(trim_outputs(p) for p in notebooks)
    error = result.get("error") or ""
    print(
        json.dumps(
            {
                "success": bool(result["success"]),
                "error": error[-4000:],
                "log_tail": (result.get("log") or "")[-4000:],
                "trimmed_outputs": trimmed,
                "limit": limit,
                "leftovers": leftovers,
                "leftover_names": sorted(names)[:10],
            }
        )
    )
    return 0 if result["success"] else 3


if __name__ == "__main__":
    sys.exit(main())
