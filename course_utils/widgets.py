"""Interactive explorers with a static fallback.

A slider is only useful where a live kernel and a widget frontend exist. GitHub's
notebook viewer, nbconvert and the autograder have neither, so every explorer first
draws a static row of snapshots (always visible, also in the committed solutions),
then adds the ipywidgets slider when a live kernel is likely to display it. While
grading, an explorer draws nothing: it decides no points and the learner saw it in their
own notebook (drawing lesson 01's took 1.7 s of its 13 s solution run, `make solutions`
on the course's 2-core machine, 2026-12-03).
"""

from __future__ import annotations

from typing import Callable, Sequence

import matplotlib.pyplot as plt

from course_utils.runtime import modes

__all__ = ["widgets_available", "explore", "slider_widget"]


def widgets_available() -> bool:
    """True when ipywidgets imports and a notebook kernel is live (Jupyter, Colab; not grading).

    Colab's shell (``google.colab._shell.Shell``) subclasses ipykernel's
    ``ZMQInteractiveShell``, so the test is ``isinstance``, not the class name.
    ``COURSE_NO_WIDGETS=1`` (set for headless executions) turns widgets off.
    """
    if not modes().widgets:
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
        from ipykernel.zmqshell import ZMQInteractiveShell
    except ImportError:
        return False
    return isinstance(get_ipython(), ZMQInteractiveShell)


def explore(
    draw: Callable,
    values: Sequence,
    *,
    label: str,
    snapshots: Sequence,
    figsize=(12, 3.2),
    slider_step=1,
    interactive: bool = True,
) -> None:
    """Show ``draw(ax, value)`` for a few ``snapshots``, then a slider over ``values``.

    Args:
        draw: draws one state on a Matplotlib axis for one value of the slider.
        values: ``(min, max)`` of the slider.
        label: the slider's name (e.g. ``"t"``).
        snapshots: the values drawn in the static row.
        interactive: ``False`` draws the static row only, with no slider and no note about one.
    """
    if len(values) != 2 or not values[0] < values[1]:
        raise ValueError(f"values must be (min, max) with min < max, got {values!r}")
    if modes().grading:
        print(f"(The explorer over {label} is not drawn while grading; it decides no points.)")
        return
    fig, axes = plt.subplots(1, len(snapshots), figsize=figsize, squeeze=False)
    for ax, v in zip(axes[0], snapshots):
        draw(ax, v)
    if interactive:
        fig.suptitle(f"Static snapshots over {label} (the slider below needs a live kernel)")
    fig.tight_layout()
    plt.show()
    if not interactive:
        return
    if not widgets_available():
        print(f"(With a live notebook kernel, a slider over {label} appears here.)")
        return
    from IPython.display import display

    display(
        slider_widget(
            draw, values, label=label, start=snapshots[len(snapshots) // 2], figsize=figsize, slider_step=slider_step
        )
    )


def slider_widget(draw: Callable, values: Sequence, *, label: str, start, figsize=(12, 3.2), slider_step=1):
    """The ipywidgets ``interactive`` box (a slider over ``values`` and ``draw``'s plot).

    Built with the API shared by ipywidgets 7.6+ and 8.x (``interactive``, ``IntSlider``,
    ``FloatSlider``), so it renders with Colab's built-in widget manager (7.x) too.
    """
    if len(values) != 2 or not values[0] < values[1]:
        raise ValueError(f"values must be (min, max) with min < max, got {values!r}")
    if not values[0] <= start <= values[1]:
        raise ValueError(f"start must lie in {tuple(values)}, got {start!r}")
    import ipywidgets as W

    is_int = all(isinstance(v, int) for v in values)
    Slider = W.IntSlider if is_int else W.FloatSlider

    def _one(value):
        fig, ax = plt.subplots(figsize=(figsize[0] / 2, figsize[1]))
        draw(ax, value)
        plt.show()

    return W.interactive(
        _one, value=Slider(min=values[0], max=values[1], step=slider_step, value=start, description=label)
    )
