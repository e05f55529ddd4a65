"""`make site` builds a static site that a browser shows without errors (course_utils.build.site).

Headless Chromium (Debian's ``chromium``, driven by Playwright with that executable; `.ci/run`
installs it) loads every page from a local HTTP server, as GitHub Pages would serve it:
no console error, no page error, no failed request; every figure of the executed solution is
on its page and drawn; MathJax typesets; the links of the index and of the navigation line
lead where they say. Skipped, with the reason printed, when no browser is installed.
"""

import functools
import http.server
import shutil
import threading

import nbformat
import pytest

from course_utils.lessons import LESSONS
from course_utils.build.site import build_site, page_name
from course_utils.paths import REPO_ROOT

ROOT = REPO_ROOT


def _browser() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no Chromium here (Debian: apt-get install chromium; .ci/run installs it)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("Playwright is not installed (requirements-dev.txt pins it: make env)")
    return path


def _figures(nb) -> int:
    return sum(
        1 for c in nb.cells for o in c.get("outputs", []) if any(m.startswith("image/") for m in o.get("data", {}))
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    pages = build_site(out)
    assert [p.name for p in pages] == ["index.html"] + [page_name(l) for l in LESSONS]

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    path = _browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield b
        b.close()


def _open(browser, url):
    """Load ``url``; return the page and what went wrong while it loaded."""
    page = browser.new_page()
    problems = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})"))
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    return page, problems


def _follow(page, link, name: str) -> None:
    """Clicks `link`, then waits for page `name` and for its requests to finish (MathJax loads its
    fonts after the page's load event; leaving earlier aborts them and reads as a failed request)."""
    link.click()
    page.wait_for_url(f"**/{name}")
    page.wait_for_load_state("networkidle")


@pytest.mark.parametrize("lesson", LESSONS, ids=[l.assignment for l in LESSONS])
def test_lesson_page_loads_with_every_figure(site, browser, lesson):
    page, problems = _open(browser, f"{site}/{page_name(lesson)}")
    try:
        assert not problems, problems
        want = _figures(nbformat.read(ROOT / lesson.solution, as_version=4))
        drawn = page.eval_on_selector_all(
            ".jp-OutputArea-output img", "imgs => imgs.filter(i => i.complete && i.naturalWidth > 0).length"
        )
        assert want > 0 and drawn == want, f"{drawn} figures drawn, the notebook has {want}"
        page.wait_for_function("() => window.MathJax && MathJax.isReady === true", timeout=30_000)
        if lesson.number in ("01", "05"):  # lessons whose prose has formulas
            assert page.locator(".MathJax, .MathJax_CHTML, .MathJax_Display").count() > 0
        assert not problems, problems
    finally:
        page.close()


def test_index_lists_every_lesson_and_navigation_works(site, browser):
    page, problems = _open(browser, f"{site}/index.html")
    try:
        for lesson in LESSONS:
            assert page.locator(f"a[href='{page_name(lesson)}']").count() == 1, lesson.assignment
        first, second = LESSONS[0], LESSONS[1]
        _follow(page, page.locator(f"a[href='{page_name(first)}']").first, page_name(first))
        assert first.title.split()[0] in page.title() or first.number in page.title()
        _follow(page, page.locator(f"a[href='{page_name(second)}']").first, page_name(second))  # "next"
        _follow(page, page.locator(f"a[href='{page_name(first)}']").first, page_name(first))  # "previous"
        _follow(page, page.locator("a[href='index.html']").last, "index.html")  # "Course home" at the bottom
        assert not problems, problems
    finally:
        page.close()
