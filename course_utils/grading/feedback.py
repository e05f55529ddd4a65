"""Feedback for learners that reveals no hidden test and no expected value.

nbgrader's own ``generate_feedback`` renders the autograded notebook, hidden tests
included. Here each graded cell's source is replaced by the version the learner
was given (hidden tests already stripped by ``generate_assignment``), tracebacks
are cut to their last line (the check's own message), and a score summary is put
on top; the result is rendered to HTML with nbconvert, whose sanitiser
(``HTMLExporter.sanitize_html``: bleach with nbconvert's allow-list, "Sanitizing
HTML" in the nbconvert docs) removes learner scripts, iframes and event handlers
from markdown cells and from HTML, markdown, SVG and JavaScript outputs.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

__all__ = ["learner_view", "write_feedback"]

MAX_ERROR_CHARS = 400


def _gid(cell):
    return (cell.get("metadata", {}).get("nbgrader") or {}).get("grade_id")


def learner_view(autograded: nbformat.NotebookNode, released: nbformat.NotebookNode,
                 cell_scores: dict) -> nbformat.NotebookNode:
    """A copy of ``autograded`` that is safe to return to the learner."""
    released_src = {_gid(c): c.source for c in released.cells if _gid(c)}
    nb = nbformat.from_dict(autograded)
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader") or {}
        gid = meta.get("grade_id")
        if meta.get("grade") and not meta.get("solution"):
            cell.source = released_src.get(gid, "# (test cell)")
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                evalue = str(out.get("evalue", ""))[:MAX_ERROR_CHARS]
                out["evalue"] = evalue
                out["traceback"] = [f"{out.get('ename', 'Error')}: {evalue}"]
    total = sum(s for s, _ in cell_scores.values())
    maximum = sum(m for _, m in cell_scores.values())
    rows = "\n".join(f"| `{gid}` | {s:g} / {m:g} |" for gid, (s, m) in sorted(cell_scores.items()))
    summary = nbformat.v4.new_markdown_cell(
        f"# Feedback\n\n**Score: {total:g} / {maximum:g}**\n\n| check | points |\n|---|---|\n{rows}\n\n"
        "Failed checks show their message below the test cell. Hidden checks are not shown.")
    nb.cells.insert(0, summary)
    return nb


def write_feedback(autograded_path: Path, released_path: Path, cell_scores: dict, out_html: Path) -> Path:
    """Render the learner's feedback for one notebook to ``out_html``."""
    from nbconvert import HTMLExporter

    nb = learner_view(nbformat.read(autograded_path, as_version=4),
                      nbformat.read(released_path, as_version=4), cell_scores)
    body, _ = HTMLExporter(template_name="classic", sanitize_html=True).from_notebook_node(nb)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text(body)
    return out_html
