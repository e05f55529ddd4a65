"""Feedback for learners that reveals no hidden test and no expected value.

nbgrader's own ``generate_feedback`` renders the autograded notebook, hidden tests
included. Here each graded cell's source is replaced by the version the learner
was given (hidden tests already stripped by ``generate_assignment``), any other
output that quotes a line of a hidden probe is removed (learner code can capture a
probe's source while it runs, e.g. from an IPython event, and print it later),
tracebacks are cut to their last line (the check's own message), each graded cell is
followed by its own points, and a score summary with every cell's points is put on top;
the result is rendered to HTML with nbconvert, whose sanitiser
(``HTMLExporter.sanitize_html``: bleach with nbconvert's allow-list, "Sanitizing
HTML" in the nbconvert docs) removes learner scripts, iframes and event handlers
from markdown cells and from HTML, markdown, SVG and JavaScript outputs. Expected
values never reach the kernel (:mod:`.judge`), so no output can hold one.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

__all__ = ["learner_view", "write_feedback", "cell_points"]

MAX_ERROR_CHARS = 400
MIN_PROBE_LINE = 8  # shorter hidden lines (")", "else:") are too common to mean a leak
REMOVED = "[output removed from feedback: it quotes the hidden tests]\n"


def _gid(cell):
    return (cell.get("metadata", {}).get("nbgrader") or {}).get("grade_id")


def hidden_lines(autograded: nbformat.NotebookNode, released: nbformat.NotebookNode) -> set[str]:
    """Lines of the graded cells that the learner was not given: the hidden probes."""
    released_lines = {ln.strip() for c in released.cells for ln in c.source.splitlines()}
    out = set()
    for cell in autograded.cells:
        meta = cell.get("metadata", {}).get("nbgrader") or {}
        if meta.get("grade") and not meta.get("solution"):
            out |= {
                ln.strip()
                for ln in cell.source.splitlines()
                if len(ln.strip()) >= MIN_PROBE_LINE and ln.strip() not in released_lines
            }
    return out


def _output_text(out: dict) -> str:
    parts = [out.get("text", ""), out.get("evalue", ""), *out.get("traceback", [])]
    for value in (out.get("data") or {}).values():
        parts.append(value if isinstance(value, str) else repr(value))
    return "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)


def _quotes_hidden(out: dict, secret: set[str]) -> bool:
    text = _output_text(out)
    # also as printed inside a repr (e.g. of IPython's In list): escaped newlines and quotes
    unescaped = text.replace("\\n", "\n").replace("\\'", "'").replace('\\"', '"')
    return any(line in text or line in unescaped for line in secret)


def cell_points(grade_id: str, score: float, maximum: float) -> str:
    """The line shown under a graded cell in the feedback: its points and whether it passed."""
    state = "passed" if score >= maximum else ("partly passed" if score > 0 else "not passed: see the message above")
    return f"**`{grade_id}`: {score:g} / {maximum:g} points** ({state})"


def learner_view(
    autograded: nbformat.NotebookNode, released: nbformat.NotebookNode, cell_scores: dict
) -> nbformat.NotebookNode:
    """A copy of ``autograded`` that is safe to return to the learner."""
    released_src = {_gid(c): c.source for c in released.cells if _gid(c)}
    secret = hidden_lines(autograded, released)
    nb = nbformat.from_dict(autograded)
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader") or {}
        gid = meta.get("grade_id")
        if meta.get("grade") and not meta.get("solution"):
            cell.source = released_src.get(gid, "# (test cell)")
        if cell.get("cell_type") == "code":
            cell.outputs = [
                nbformat.v4.new_output("stream", name="stdout", text=REMOVED) if _quotes_hidden(out, secret) else out
                for out in cell.outputs
            ]
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                evalue = str(out.get("evalue", ""))[:MAX_ERROR_CHARS]
                out["evalue"] = evalue
                out["traceback"] = [f"{out.get('ename', 'Error')}: {evalue}"]
    cells = []
    for cell in nb.cells:  # each graded cell is followed by its own points, where the learner reads its message
        cells.append(cell)
        gid = _gid(cell)
        meta = cell.get("metadata", {}).get("nbgrader") or {}
        if meta.get("grade") and gid in cell_scores:
            cells.append(nbformat.v4.new_markdown_cell(cell_points(gid, *cell_scores[gid])))
    nb.cells = cells
    total = sum(s for s, _ in cell_scores.values())
    maximum = sum(m for _, m in cell_scores.values())
    rows = "\n".join(f"| `{gid}` | {s:g} / {m:g} |" for gid, (s, m) in sorted(cell_scores.items()))
    summary = nbformat.v4.new_markdown_cell(
        f"# Feedback\n\n**Score: {total:g} / {maximum:g}**\n\n| check | points |\n|---|---|\n{rows}\n\n"
        "Failed checks show their message below the test cell. Hidden checks are not shown."
    )
    nb.cells.insert(0, summary)
    return nb


def write_feedback(autograded_path: Path, released_path: Path, cell_scores: dict, out_html: Path) -> Path:
    """Render the learner's feedback for one notebook to ``out_html``."""
    from nbconvert import HTMLExporter

    nb = learner_view(
        nbformat.read(autograded_path, as_version=4), nbformat.read(released_path, as_version=4), cell_scores
    )
    body, _ = HTMLExporter(template_name="classic", sanitize_html=True).from_notebook_node(nb)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text(body)
    return out_html
