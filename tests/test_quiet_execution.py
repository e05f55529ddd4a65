"""Executing a notebook (make solutions / make demo / the tests) prints no framework warning.

``execute_notebook`` starts local kernels on the ipc transport (Unix sockets in a private
folder), so ipykernel has no "Kernel is running over TCP without encryption" WARNING to print,
and it runs them headless (``COURSE_NO_WIDGETS=1``), with the extra variables given to the
kernel's environment only (the calling process's environment is not changed). The kernel's stderr reaches the parent's
file descriptors, so the check runs the execution in a child process and reads all it prints.
"""

import subprocess
import sys
import textwrap


def test_notebook_execution_is_quiet_and_uses_ipc(tmp_path):
    script = textwrap.dedent(f"""
        import nbformat
        from course_utils.build.notebooks import execute_notebook
        code = ("import os, ipykernel.connect as c\\n"
                "info = c.get_connection_info(unpack=True)\\n"
                "print(info['transport'], os.environ['COURSE_NO_WIDGETS'], os.environ['COURSE_PROBE'])")
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
        nbformat.write(nb, {str(tmp_path / "x.ipynb")!r})
        import os, threading
        seen, done = set(), threading.Event()
        def watch():  # samples this process's environment while the notebook runs
            while not done.is_set():
                seen.add((os.environ.get("COURSE_NO_WIDGETS"), os.environ.get("COURSE_PROBE")))
                done.wait(0.002)
        watcher = threading.Thread(target=watch)
        watcher.start()
        out, _ = execute_notebook({str(tmp_path / "x.ipynb")!r}, env={{"COURSE_PROBE": "given"}})
        done.set()
        watcher.join()
        print("KERNEL SAID", out.cells[0].outputs[0]["text"].strip())
        print("PARENT HAD", sorted(map(str, seen)))
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180, cwd=tmp_path)
    printed = run.stdout + run.stderr
    assert run.returncode == 0, printed
    assert "KERNEL SAID ipc 1 given" in printed, printed
    # the kernel's environment is its own: this process's never changed during the run
    assert "PARENT HAD ['(None, None)']" in printed, printed
    assert "WARNING" not in printed, printed
    assert not list(tmp_path.glob("kernel*")), "ipc socket files were left in the working directory"
