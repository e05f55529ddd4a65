"""Executing a notebook (make solutions / make demo / the tests) prints no framework warning.

``execute_notebook`` starts local kernels on the ipc transport (Unix sockets in a private
folder), so ipykernel has no "Kernel is running over TCP without encryption" WARNING to print,
and it runs them headless (``COURSE_NO_WIDGETS=1``). The kernel's stderr reaches the parent's
file descriptors, so the check runs the execution in a child process and reads all it prints.
"""

import subprocess
import sys
import textwrap


def test_notebook_execution_is_quiet_and_uses_ipc(tmp_path):
    script = textwrap.dedent(f"""
        import nbformat
        from course_utils.grading.notebooks import execute_notebook
        code = ("import os, ipykernel.connect as c\\n"
                "info = c.get_connection_info(unpack=True)\\n"
                "print(info['transport'], os.environ['COURSE_NO_WIDGETS'])")
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
        nbformat.write(nb, {str(tmp_path / 'x.ipynb')!r})
        out, _ = execute_notebook({str(tmp_path / 'x.ipynb')!r})
        print("KERNEL SAID", out.cells[0].outputs[0]["text"].strip())
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180,
                         cwd=tmp_path)
    printed = run.stdout + run.stderr
    assert run.returncode == 0, printed
    assert "KERNEL SAID ipc 1" in printed, printed
    assert "WARNING" not in printed, printed
    assert not list(tmp_path.glob("kernel*")), "ipc socket files were left in the working directory"
