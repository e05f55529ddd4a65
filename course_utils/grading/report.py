"""The grade report: one row per learner and assignment, with a status.

Reads the status records of the last grading runs from the gradebook database
(:mod:`.records`, written by :mod:`.autograde` and by every queue worker, on any
machine) and prints them; the CSV export is :mod:`.export`. A failed submission shows
``failed`` and its reason, never a bare 0; a flagged one shows its score and the
integrity findings to review. :func:`exit_code` is non-zero when anything failed.
Every learner-chosen text (names, grade ids inside notes, error messages) goes out
through :mod:`.escape`: control characters shown as escapes.
"""

from __future__ import annotations

from course_utils.grading.course import CourseDirs
from course_utils.grading.escape import for_terminal

__all__ = ["load_status", "format_table", "exit_code"]


def load_status(dirs: CourseDirs) -> list[dict]:
    """All recorded results in the gradebook database, sorted by learner then assignment."""
    from course_utils.grading.records import load_results

    return load_results(dirs.db_url)


def _fmt(v) -> str:
    return "-" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))


def format_table(rows: list[dict]) -> str:
    """A fixed-width table for the terminal (learner text escaped, see :mod:`.escape`)."""
    if not rows:
        return "No graded submissions yet (put them in submitted/<learner>/<assignment>/ and run make autograde)."
    shown = [{k: for_terminal(r[k]) for k in ("student", "assignment", "status")} for r in rows]
    wl = max(20, *(len(r["student"]) for r in shown))  # columns as wide as their longest entry
    wa = max(28, *(len(r["assignment"]) for r in shown))
    head = f"{'learner':<{wl}} {'assignment':<{wa}} {'status':<8} {'score':>11}  detail"
    lines = [head, "-" * len(head)]
    for r, t in zip(rows, shown):
        score = f"{_fmt(r['score'])} / {_fmt(r['max_score'])}" if r["score"] is not None else "-"
        detail = r["reason"] or "; ".join(
            ([f"{len(r['findings'])} integrity finding(s) to review"] if r["findings"] else []) + r["notes"]
        )
        lines.append(
            f"{t['student']:<{wl}} {t['assignment']:<{wa}} {t['status']:<8} {score:>11}  {for_terminal(detail)}"
        )
    n_failed = sum(r["status"] == "failed" for r in rows)
    n_flagged = sum(r["status"] == "flagged" for r in rows)
    n_killed = sum(any("process(es)" in n and "killed" in n for n in r["notes"]) for r in rows)
    lines.append(
        f"{len(rows)} submission(s): {len(rows) - n_failed - n_flagged} graded, "
        f"{n_flagged} flagged, {n_failed} failed"
        + (f"; {n_killed} left processes running that had to be killed" if n_killed else "")
    )
    return "\n".join(lines)


def exit_code(rows: list[dict]) -> int:
    """0 when every submission was graded (flagged counts as graded), 1 otherwise."""
    return int(any(r["status"] == "failed" for r in rows))
