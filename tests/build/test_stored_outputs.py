"""Committed notebooks hold no absolute path of the machine that executed them, and no widget
output that only a live kernel could draw (a frozen slider or progress bar).

Scans every text output (streams, text/plain, text/html, text/markdown, tracebacks) of
``solutions/`` and ``notebooks/``. Images are skipped: base64 holds ``/`` by chance.
"""

import re
import sys
from pathlib import Path

import nbformat
import pytest
from course_utils.paths import REPO_ROOT

ROOT = REPO_ROOT
NOTEBOOKS = sorted(ROOT.glob("solutions/*/*.ipynb")) + sorted(ROOT.glob("notebooks/*/*.ipynb"))
# An absolute POSIX path under a top-level folder where machines keep users' and build files
# (not a URL's path: the character before the slash may not be a word character, ':' or '/'),
# or a Windows user folder.
ABSOLUTE = re.compile(
    r"(?<![\w.:/~-])/(?:home|root|work|tmp|Users|var|opt|mnt|srv|content|private|usr|data|scratch)"
    r"/[^\s\"'<>`]+"
    r"|\b[A-Za-z]:\\(?:Users|Documents and Settings)\\"
)
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
FROZEN = re.compile(r"interactive\(children=|\b\d{1,3}%\|[^\n]*\| *\d+/\d+ \[")
TEXT_MIMES = ("text/plain", "text/html", "text/markdown")


def _texts(output) -> list[str]:
    if output.output_type == "stream":
        return [output.text]
    if output.output_type == "error":
        return list(output.traceback) + [output.evalue]
    data = output.get("data", {})
    return [data[m] if isinstance(data[m], str) else "".join(data[m]) for m in TEXT_MIMES if m in data]


def problems(nb: nbformat.NotebookNode, local_roots: tuple[str, ...] = ()) -> list[str]:
    """What in ``nb``'s outputs names an absolute path or is a widget frozen as text."""
    found = []
    for i, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if WIDGET_MIME in output.get("data", {}):
                found.append(f"cell {i}: a widget output (only a live kernel draws it)")
            for text in _texts(output):
                for hit in ABSOLUTE.findall(text):
                    found.append(f"cell {i}: absolute path {hit[:80]!r}")
                for root in local_roots:
                    if root in text:
                        found.append(f"cell {i}: this machine's path {root!r}")
                if "\r" in text.replace("\r\n", "\n"):
                    found.append(f"cell {i}: carriage returns (a terminal progress bar)")
                for hit in FROZEN.findall(text) if output.output_type != "stream" else []:
                    found.append(f"cell {i}: frozen widget text {hit!r}")
    return found


def test_there_are_notebooks_to_scan():
    assert len(NOTEBOOKS) >= 10, NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.relative_to(ROOT).as_posix() for p in NOTEBOOKS])
def test_no_absolute_path_or_frozen_widget_in_outputs(path):
    roots = tuple({str(ROOT), sys.prefix, str(Path.home())} - {"/"})
    found = problems(nbformat.read(path, as_version=4), roots)
    assert not found, (
        f"{path.relative_to(ROOT)}: "
        + "; ".join(found[:8])
        + " -- print paths with course_utils.paths.display_path, and let "
        "widgets fall back to static output (make solutions executes headless)"
    )


def test_the_scan_catches_what_it_exists_for():
    out = nbformat.v4.new_output
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "x",
                outputs=[
                    out(
                        "stream",
                        name="stdout",
                        text="UNetSimple is defined in /work/main/course_utils/components/unets.py\n",
                    ),
                    out(
                        "stream", name="stdout", text="Loaded cached results from /home/ada/c/data/x.json (made ...)\n"
                    ),
                    out(
                        "display_data",
                        data={
                            WIDGET_MIME: {"model_id": "ab"},
                            "text/plain": "interactive(children=(IntSlider(value=50),))",
                        },
                    ),
                    out("display_data", data={"text/plain": "UNetSimple:   0%|          | 0/100 [00:00<?, ?it/s]"}),
                    out("stream", name="stderr", text="\r  0%|   | 0/9\r 50%|#  | 4/9"),
                    out("error", ename="E", evalue="", traceback=["File C:\\Users\\ada\\x.py, line 1"]),
                ],
            )
        ]
    )
    found = problems(nb)
    for needle in (
        "/work/main/course_utils",
        "/home/ada",
        "a widget output",
        "interactive(children=",
        "0%|",
        "carriage returns",
        "C:\\\\Users",
    ):
        assert any(needle in f for f in found), (needle, found)
    clean = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "x",
                outputs=[
                    out(
                        "stream",
                        name="stdout",
                        text="UNetSimple is defined in course_utils/components/unets.py\n"
                        "see https://github.com/org/repo/blob/main/data/x.json and 1/2 or a/b/c\n"
                        "training:  50%|#####     | 1500/3000 [00:05<00:05, 290it/s]\n",
                    ),
                ],
            )
        ]
    )
    assert problems(clean) == []
