"""Run a notebook's code cells in order as one plain Python program, timing each cell.

For machines that have torch but no Jupyter kernel (the GPU machine that measured
bench/RESULTS.md has neither ipykernel nor nbclient). The cells run in one
namespace with matplotlib's non-interactive backend, exactly as a kernel would run
them top to bottom; IPython magics are not supported and make the script stop.

    python bench/notebook_as_script.py solutions/04_mnist_simple_vs_sinusoidal/04_mnist_simple_vs_sinusoidal.ipynb
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without install


def code_cells(path: Path) -> list[str]:
    """The source of every code cell of the notebook at ``path``, in order."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = nb["cells"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise SystemExit(f"{path} is not a readable notebook ({type(err).__name__}: {err})")
    sources = []
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        if any(line.lstrip().startswith(("%", "!")) for line in src.splitlines()):
            raise SystemExit(f"{path}: a cell uses IPython magics, which plain Python cannot run")
        sources.append(src)
    return sources


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("notebook", type=Path)
    args = p.parse_args(argv)
    namespace: dict = {"__name__": "__main__"}
    start = time.perf_counter()
    for i, src in enumerate(code_cells(args.notebook), 1):
        t0 = time.perf_counter()
        try:
            exec(compile(src, f"<cell {i}>", "exec"), namespace)  # the course's own notebook
        except Exception:
            traceback.print_exc()
            print(f"cell {i} failed after {time.perf_counter() - t0:.1f} s", flush=True)
            return 1
        print(f"[cell {i} done in {time.perf_counter() - t0:.1f} s]", flush=True)
    print(f"notebook ran top to bottom in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
