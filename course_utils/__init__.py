"""Helpers for the course "Conditioning score networks on time".

One module per concern; the reference implementations that lessons import are
re-exported from :mod:`course_utils.reference`. Importing this package is cheap:
submodules are imported by whoever needs them.
"""

__version__ = "0.1.0"

from course_utils.moved import install as _install_moved

_install_moved()  # old import paths of released notebooks (see course_utils.moved)
