"""Progress bars degrade to lines, Colab's shell counts as a widget frontend, and printed
course paths are relative (course_utils.progress, .widgets, .paths.display_path)."""

import inspect
import io
import time

import pytest

from course_utils import paths, widgets
from course_utils.progress import progress_bar
from course_utils.components.unets import UNetSimple


def test_progress_without_widgets_prints_whole_lines(monkeypatch):
    monkeypatch.setenv("COURSE_NO_WIDGETS", "1")
    buf = io.StringIO()
    for _ in progress_bar(range(30), desc="training", every_s=0.001, stream=buf):
        time.sleep(0.005)
    lines = buf.getvalue().splitlines()
    assert "\r" not in buf.getvalue()
    assert lines[0].startswith("training:") and "0/30" in lines[0]
    assert "30/30" in lines[-1] and "100%" in lines[-1]
    assert 3 <= len(lines) <= 12, lines  # periodic (every tenth of the steps at most), not one per step


def test_progress_manual_bar_and_disabled(monkeypatch):
    monkeypatch.setenv("COURSE_NO_WIDGETS", "1")
    buf = io.StringIO()
    bar = progress_bar(total=4, desc="steps", stream=buf)
    bar.update(4)
    bar.set_postfix(loss="0.5")
    bar.close()
    assert "4/4" in buf.getvalue().splitlines()[-1]
    quiet = io.StringIO()
    for _ in progress_bar(range(3), enabled=False, stream=quiet):
        pass
    assert quiet.getvalue() == ""


@pytest.mark.parametrize(
    "kwargs, fix", [({}, "iterable"), ({"total": -1}, "non-negative"), ({"total": 3, "every_s": 0}, "positive")]
)
def test_progress_input_checks(kwargs, fix):
    with pytest.raises(ValueError, match=fix):
        progress_bar(**kwargs)


def test_colab_shell_is_a_widget_frontend(monkeypatch):
    """Colab's get_ipython() is google.colab._shell.Shell, a ZMQInteractiveShell subclass."""
    from ipykernel.zmqshell import ZMQInteractiveShell
    import IPython

    class Shell(ZMQInteractiveShell):  # the name Colab's class has
        pass

    for flag in ("COURSE_GRADING", "COURSE_SMOKE", "COURSE_NO_WIDGETS"):
        monkeypatch.delenv(flag, raising=False)
    monkeypatch.setattr(IPython, "get_ipython", lambda: object.__new__(Shell))
    assert widgets.widgets_available()
    monkeypatch.setenv("COURSE_NO_WIDGETS", "1")
    assert not widgets.widgets_available()
    monkeypatch.delenv("COURSE_NO_WIDGETS")
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    assert not widgets.widgets_available()


def test_an_explorer_draws_its_snapshots_but_nothing_while_grading(monkeypatch, capsys):
    import matplotlib.pyplot as plt

    drawn = []
    for flag in ("COURSE_GRADING", "COURSE_SMOKE"):
        monkeypatch.delenv(flag, raising=False)
    monkeypatch.setenv("COURSE_NO_WIDGETS", "1")
    widgets.explore(lambda ax, v: drawn.append(v), (0, 9), label="t", snapshots=[0, 5, 9])
    assert drawn == [0, 5, 9]
    monkeypatch.setenv("COURSE_GRADING", "1")
    widgets.explore(lambda ax, v: drawn.append(v), (0, 9), label="t", snapshots=[0, 5, 9])
    assert drawn == [0, 5, 9] and "not drawn while grading" in capsys.readouterr().out
    plt.close("all")
    with pytest.raises(ValueError, match="min < max"):  # a bad call is still refused while grading
        widgets.explore(lambda ax, v: None, (9, 0), label="t", snapshots=[0])


@pytest.mark.parametrize("values, start", [((0, 999), 500), ((0.0, 1.0), 0.25)])
def test_slider_widget_builds(values, start):
    import matplotlib.pyplot as plt

    w = widgets.slider_widget(lambda ax, v: ax.set_title(str(v)), values, label="t", start=start)
    assert w.children[0].value == start and w.children[0].description == "t"
    plt.close("all")
    with pytest.raises(ValueError, match="start must lie"):
        widgets.slider_widget(lambda ax, v: None, values, label="t", start=values[1] * 2 + 1)


def test_display_path_is_relative_to_the_course(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    assert paths.display_path(inspect.getsourcefile(UNetSimple)) == "course_utils/components/unets.py"
    assert paths.display_path(paths.REPO_DATA / "lesson05" / "c.json") == "data/lesson05/c.json"
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "d"))
    assert paths.display_path(tmp_path / "d" / "x.json") == "$COURSE_DATA_DIR/x.json"
    monkeypatch.chdir(tmp_path)
    assert paths.display_path(tmp_path / "e" / "f.txt") == "e/f.txt"
    assert paths.display_path("rel/x") == "rel/x"
    with pytest.raises(TypeError, match="str or a path"):
        paths.display_path(3)


def test_colab_custom_widget_manager_only_for_ipywidgets_8(monkeypatch):
    """Colab's built-in manager draws ipywidgets 7; 8 needs enable_custom_widget_manager()."""
    import sys
    import types

    import ipywidgets

    from course_utils import runtime

    calls = []
    google = types.ModuleType("google")
    colab = types.ModuleType("google.colab")
    output = types.ModuleType("google.colab.output")
    output.enable_custom_widget_manager = lambda: calls.append("on")
    colab.output = output
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab.output", output)
    monkeypatch.setattr(ipywidgets, "__version__", "8.1.9")
    assert runtime.enable_colab_widgets() and calls == ["on"]
    monkeypatch.setattr(ipywidgets, "__version__", "7.7.1")
    assert not runtime.enable_colab_widgets() and calls == ["on"]
    for name in ("google", "google.colab", "google.colab.output"):
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(runtime, "in_colab", lambda: False)
    monkeypatch.setattr(ipywidgets, "__version__", "8.1.9")
    assert not runtime.enable_colab_widgets() and calls == ["on"]


def test_a_package_upgraded_under_a_running_kernel_asks_for_a_restart(monkeypatch, capsys):
    import sys
    import types

    from course_utils import runtime

    assert runtime.stale_modules() == []  # this process imported what is installed
    fake = types.ModuleType("ipywidgets")
    fake.__version__ = "7.7.1"  # what the kernel loaded before pip installed 8.x
    monkeypatch.setitem(sys.modules, "ipywidgets", fake)
    stale = runtime.stale_modules()
    assert len(stale) == 1 and stale[0].startswith("ipywidgets 7.7.1 is loaded but 8.")
    runtime.setup_lesson("01", quiet=True)
    printed = capsys.readouterr().out
    assert "RESTART NEEDED" in printed and "Runtime > Restart session" in printed


def test_slow_steps_still_print_about_a_dozen_lines(monkeypatch):
    """Each step slower than every_s (lesson 04 on a busy CPU) must not print a line per step."""
    monkeypatch.setenv("COURSE_NO_WIDGETS", "1")
    buf = io.StringIO()
    bar = progress_bar(total=60, desc="UNetSimple", every_s=0.001, stream=buf)
    for step in range(60):
        time.sleep(0.002)
        bar.set_postfix(loss=f"{1 / (step + 1):.4f}", refresh=False)
        bar.update(1)
    bar.close()
    lines = buf.getvalue().splitlines()
    assert 3 <= len(lines) <= 13, lines
    assert "60/60" in lines[-1] and "loss=" in lines[-1]


def test_steps_slower_than_tqdms_monitor_interval_keep_the_tenths(monkeypatch):
    """tqdm's monitor thread lowers miniters to 1 when no line came for maxinterval seconds."""
    monkeypatch.setenv("COURSE_NO_WIDGETS", "1")
    buf = io.StringIO()
    bar = progress_bar(total=20, desc="slow", every_s=0.001, stream=buf)
    assert bar.maxinterval == float("inf") and bar.miniters == 2
