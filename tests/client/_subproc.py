"""Run a Python snippet in a child process with cpipe importable, bounded in time."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def child_env() -> dict:
    env = dict(os.environ)
    import cpipe

    # The child imports the cpipe this test process imported: the installed
    # package under `make test`, python/ with an in-place build otherwise.
    paths = [os.path.dirname(os.path.dirname(os.path.abspath(cpipe.__file__))), REPO]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def run_python(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter; raises subprocess.TimeoutExpired on a hang."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=timeout, env=child_env(), cwd=REPO)
