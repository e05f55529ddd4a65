"""nbgrader_config() changes nothing of the process, and a new gradebook needs no `alembic` on PATH."""

import os
import subprocess
import sys
import textwrap


def test_a_gradebook_is_created_without_the_venv_on_path_and_path_is_untouched(tmp_path):
    script = textwrap.dedent(f"""
        import os
        from nbgrader.api import Gradebook
        from course_utils.grading.course import CourseDirs, nbgrader_config
        before = dict(os.environ)
        dirs = CourseDirs(root={str(tmp_path)!r})
        cfg = nbgrader_config(dirs)
        assert dict(os.environ) == before, "nbgrader_config changed the environment"
        with Gradebook(dirs.db_url) as gb:   # a new gradebook asks nbgrader for its schema version
            print("SCHEMA", gb.db.execute(__import__("sqlalchemy").text(
                "SELECT version_num FROM alembic_version")).scalar())
    """)
    # PATH without the venv's bin: nbgrader's own lookup (`alembic` by name) would fail here.
    path = os.pathsep.join(
        p
        for p in os.environ.get("PATH", "").split(os.pathsep)
        if os.path.realpath(p) != os.path.realpath(os.path.dirname(sys.executable))
    )
    env = dict(os.environ, PATH=path or "/usr/bin:/bin")
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SCHEMA " in run.stdout and len(run.stdout.split("SCHEMA ")[1].strip()) == 12, run.stdout
