"""Build the course's static web site from the executed solution notebooks (``make site``).

Self-study readers get one HTML page per lesson, rendered by nbconvert's HTML exporter
(https://nbconvert.readthedocs.io, the ``lab`` template: the same look as JupyterLab) from
the committed, executed ``solutions/``: every plot is embedded in the page, and each
explorer shows its static row of snapshots (the slider needs a live kernel). An index page
carries the lesson table. Both are notebooks rendered by the same exporter: the index is
built from :data:`course_utils.lessons.LESSONS`, and each lesson page gets a navigation
line (course home, previous, next) as a markdown cell at its top and bottom.

The site works offline and from any static host (GitHub Pages included): MathJax 2.7 is
copied from the ``jupyter-server-mathjax`` package into ``_static/mathjax``, and the
template's remote scripts (require.js, Mermaid) are left out; nothing else is loaded.

Usage: ``python -m course_utils.build.site --out build/site``.
"""

from __future__ import annotations

import argparse
import copy
import shutil
import sys
from pathlib import Path
from typing import Iterable, Sequence

import nbformat

from course_utils.about import colab_url
from course_utils.paths import REPO_ROOT, display_path
from course_utils.lessons import LESSONS, Lesson

__all__ = ["build_site", "main"]

MATHJAX = "_static/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
# The lab template, minus the scripts it would fetch from a CDN (require.js is only used by
# widget state and Mermaid only by diagrams; the course's notebooks have neither), with MathJax
# from _static/ (jupyter-server-mathjax ships only the STIX-Web fonts: configure them first)
# and an empty icon, so that a browser asks the server for nothing the site lacks.
_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}<link rel="icon" href="data:,">{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
<script type="text/x-mathjax-config">
MathJax.Hub.Config({
  tex2jax: {inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]], displayMath: [["$$", "$$"], ["\\\\[", "\\\\]"]],
            processEscapes: true, processEnvironments: true},
  "HTML-CSS": {availableFonts: ["STIX-Web"], preferredFont: "STIX-Web", webFont: "STIX-Web",
               imageFont: null, linebreaks: {automatic: true},
               // MathJax 2 measures web fonts against a blank font at url('about:blank'), which
               // Chromium refuses (a console error); a local() source asks the network for nothing.
               styles: {"@font-face": {"font-family": "MathJax_Blank", src: "local('MathJax_Blank')"}}},
  // HTML-CSS everywhere: the native MathML output would ask for TeX fonts the package lacks
  MMLorHTML: {prefer: "HTML"},
  messageStyle: "none"
});
</script>
<script src="{{ resources.mathjax_url }}"></script>
<style>
/* The hidden MathML that MathJax adds for screen readers would otherwise ask for TeX web fonts
   (e.g. MathJax_Script for \\mathcal) that the package does not ship; it is never seen. */
.MJX_Assistive_MathML * { font-family: inherit !important; }
</style>
{%- endblock html_head_js_mathjax -%}
"""
COURSE_TITLE = "Conditioning score networks on time"


def _exporter():
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"course.html.j2": _TEMPLATE})],
        template_file="course.html.j2",
        mathjax_url=MATHJAX,
    )


def page_name(lesson: Lesson) -> str:
    """The file name of a lesson's page, e.g. ``01_sinusoidal_embedding.html``."""
    return f"{lesson.assignment}.html"


def _nav(lessons: Sequence[Lesson], i: int) -> str:
    parts = ["[Course home](index.html)"]
    if i > 0:
        parts.append(f"← [{lessons[i - 1].number} · {lessons[i - 1].title}]({page_name(lessons[i - 1])})")
    if i + 1 < len(lessons):
        parts.append(f"[{lessons[i + 1].number} · {lessons[i + 1].title}]({page_name(lessons[i + 1])}) →")
    return "**Navigation:** " + " · ".join(parts)


def _index_notebook(lessons: Sequence[Lesson]) -> nbformat.NotebookNode:
    rows = [
        f"| {l.number} | [{l.title}]({page_name(l)}) | {l.minutes} min | {l.gpu} | "
        f"[open the exercise in Colab]({colab_url(l.student)}) |"
        for l in lessons
    ]
    text = "\n".join(
        [
            f"# {COURSE_TITLE}",
            "",
            "How diffusion models tell their network *how noisy* its input is: sinusoidal timestep "
            "embeddings, the timestep MLP, FiLM, adaptive group normalization, a real MNIST training "
            "comparison, and a FiLM score network trained in continuous time on 2D data.",
            "",
            "Each page below is a lesson's solution notebook, stored executed: every figure as it was "
            "computed. The interactive explorers appear as their static row of snapshots; to drag their "
            "sliders, open the lesson in Colab or a local Jupyter.",
            "",
            "| # | lesson (solution, executed) | time | GPU | exercise notebook |",
            "|---|---|---|---|---|",
            *rows,
        ]
    )
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)])


def _lesson_notebook(path: Path, nav: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nbformat.read(path, as_version=4))
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(nav))
    nb.cells.append(nbformat.v4.new_markdown_cell(nav))
    return nb


def _copy_mathjax(out: Path) -> None:
    try:
        import jupyter_server_mathjax
    except ImportError:
        raise RuntimeError(
            "make site needs MathJax from the jupyter-server-mathjax package: "
            "run `make env` (requirements-dev.txt pins it)"
        ) from None
    src = Path(jupyter_server_mathjax.__file__).parent / "static"
    shutil.copytree(src, out / "_static" / "mathjax", dirs_exist_ok=True)


def build_site(out: Path, lessons: Iterable[Lesson] = LESSONS, root: Path = REPO_ROOT) -> list[Path]:
    """Write ``index.html`` and one page per lesson into ``out``; return the pages written.

    Args:
        out: the site folder (created; existing pages are overwritten).
        lessons: the lessons to render, in navigation order.
        root: the repository whose ``solutions/`` are rendered.
    """
    lessons = list(lessons)
    if not lessons:
        raise ValueError("no lessons to render")
    missing = [l.solution for l in lessons if not (root / l.solution).is_file()]
    if missing:
        raise FileNotFoundError(f"solution notebooks missing: {', '.join(missing)}; run `make solutions`")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _copy_mathjax(out)
    (out / ".nojekyll").write_text("")  # GitHub Pages: serve _static/ as it is
    exporter = _exporter()
    pages = []
    for i, lesson in enumerate(lessons):
        nb = _lesson_notebook(root / lesson.solution, _nav(lessons, i))
        html, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": f"{lesson.number} · {lesson.title}"}})
        pages.append(out / page_name(lesson))
        pages[-1].write_text(html, encoding="utf-8")
    html, _ = exporter.from_notebook_node(_index_notebook(lessons), resources={"metadata": {"name": COURSE_TITLE}})
    pages.insert(0, out / "index.html")
    pages[0].write_text(html, encoding="utf-8")
    return pages


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m course_utils.build.site",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "site", help="the site folder")
    args = ap.parse_args(argv)
    try:
        pages = build_site(args.out)
    except (FileNotFoundError, RuntimeError, ValueError) as err:
        print(f"make site: {err}", file=sys.stderr)
        return 1
    for page in pages:
        print(f"wrote {display_path(page)} ({page.stat().st_size / 1e6:.1f} MB)")
    print(f"open {display_path(args.out / 'index.html')} in a browser, or serve the folder (see README, 'Course site')")
    return 0


if __name__ == "__main__":
    sys.exit(main())
