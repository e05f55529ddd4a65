"""Progress bars for long loops that also read well where no widget can render.

In a live notebook (JupyterLab, Colab) a loop gets tqdm's widget bar (``tqdm.auto``,
https://tqdm.github.io). Where widgets cannot render — a headless nbconvert/nbclient
execution such as ``make solutions``, the autograder, a plain terminal or a log file —
a widget bar would be stored as frozen text (``0%|          | 0/100``) and a terminal
bar as a string of carriage returns. There the same tqdm bar is written as whole lines
instead, one every ``every_s`` seconds and tenth of the steps, plus the final one, which stay readable in a
stored notebook output and in CI logs.
"""

from __future__ import annotations

import sys
from typing import Iterable, TextIO

from course_utils.widgets import widgets_available

__all__ = ["progress_bar"]


class _Lines:
    """A file for tqdm that turns each redraw (``\\r...``) into one line on ``stream``."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        line = text.replace("\r", "").strip()
        if line:
            self.stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(
    iterable: Iterable | None = None,
    *,
    total: int | None = None,
    desc: str = "",
    every_s: float = 10.0,
    enabled: bool = True,
    stream: TextIO | None = None,
):
    """A tqdm bar over ``iterable`` (or ``total`` manual ``update()`` steps).

    Args:
        iterable: what to loop over; ``None`` for a manual bar (call ``.update(n)``).
        total: the number of steps when ``iterable`` has no length.
        desc: the label in front of the bar, e.g. ``"training"``.
        every_s: where widgets cannot render, the least number of seconds between two
            progress lines (and at least a tenth of the steps lies between them too).
        enabled: ``False`` returns a silent bar (same interface, prints nothing).
        stream: where the lines go when widgets cannot render (default: ``sys.stdout``).

    Returns:
        a ``tqdm`` object: iterate over it, or call ``update``/``set_postfix``/``close``.
    """
    if iterable is None and total is None:
        raise ValueError("give an iterable to loop over, or total= for a manual bar")
    if total is not None and (not isinstance(total, int) or total < 0):
        raise ValueError(f"total must be a non-negative int, got {total!r}")
    if not every_s > 0:
        raise ValueError(f"every_s must be a positive number of seconds, got {every_s!r}")
    if enabled and widgets_available():
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, leave=True)
    from tqdm import tqdm

    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    # a line when at least every_s seconds AND a tenth of the steps have passed (plus the last):
    # at most about a dozen lines per bar, however slow each step is
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        disable=not enabled,
        leave=True,
        file=_Lines(stream or sys.stdout),
        mininterval=every_s,
        miniters=max(1, (total or 0) // 10),
        maxinterval=float("inf"),  # tqdm's monitor would reset miniters to 1 on slow steps
        ascii=True,
        dynamic_ncols=False,
        ncols=80,
    )
