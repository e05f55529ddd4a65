"""Where the course lives: the one place that names its repository.

The setup cell of every notebook (:mod:`course_utils.build.authoring` writes it from
``PIP_SPEC``) and the course site's Colab links (:mod:`course_utils.build.site`) are built
from these constants, and ``tests/build/test_readme.py`` checks that the README's Colab
badges are too. A fork changes this file, the README's badges, and runs
``make solutions notebooks``.
"""

REPO_SLUG: str = "diffusion-course/time-conditioning"
BRANCH: str = "main"
REPO_URL: str = f"https://github.com/{REPO_SLUG}"
PIP_SPEC: str = f"git+{REPO_URL}@{BRANCH}"


def colab_url(notebook_path: str) -> str:
    """Return the Colab link that opens ``notebook_path`` (relative to the repo root)."""
    if notebook_path.startswith("/") or not notebook_path.endswith(".ipynb"):
        raise ValueError(f"notebook_path must be a repo-relative .ipynb path, got {notebook_path!r}")
    return f"https://colab.research.google.com/github/{REPO_SLUG}/blob/{BRANCH}/{notebook_path}"
