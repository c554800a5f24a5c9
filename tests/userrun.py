"""Run a script as a user would: a fresh interpreter, a bare environment, a time limit."""

import subprocess
import sys
from pathlib import Path


def run_script(path: Path, *, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    """``python path`` in ``cwd`` with only ``PATH`` and a non-interactive plot backend set."""
    return subprocess.run(
        [sys.executable, str(path)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin"},
    )
