"""``python -m course_utils.build``: see :mod:`course_utils.build.cli`."""

import sys

from course_utils.build.cli import main

sys.exit(main())
