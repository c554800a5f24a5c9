"""Run a Python child process with a time limit and read its peak resident memory.

The peak is the child's own ``ru_maxrss`` from ``wait4`` (what ``/usr/bin/time -v`` reports as
"Maximum resident set size"). Linux counts in it the memory a forked process shares with its
parent before ``exec``, so the child is forked by a small Python process of its own (as
``/usr/bin/time`` does), not by the caller: the floor is that spawner's ~10 MB, not the caller's
resident memory. The child runs in a session of its own; on a timeout or an error its whole
process group is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

__all__ = ["ChildResult", "run_python"]

_POLL_S = 0.05
# Runs the real child and writes its ru_maxrss (kilobytes on Linux) to the file argv[1].
_SPAWNER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


class ChildResult(NamedTuple):
    """What a child left: exit code, its output, wall seconds and peak RSS in GB (10^9 bytes)."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_gb: float


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_python(
    args: list[str], *, env: dict[str, str] | None = None, timeout: float = 600.0
) -> ChildResult:
    """Run ``python args...`` (this interpreter) and wait for it, at most ``timeout`` seconds.

    Args:
        args: the interpreter's arguments, e.g. ``["-m", "pkg.mod", "payload"]``.
        env: variables added to (or replacing in) this process's environment.
        timeout: wall-clock limit in seconds (> 0).

    Returns:
        :class:`ChildResult`; ``peak_rss_gb`` is the child's maximum resident set size.

    Raises:
        subprocess.TimeoutExpired: if the child runs past ``timeout`` (it is killed first).
    """
    full_env = {**os.environ, **(env or {})}
    with (
        tempfile.TemporaryFile("w+") as out,
        tempfile.TemporaryFile("w+") as err,
        tempfile.NamedTemporaryFile("r") as peak,
    ):
        start = time.perf_counter()
        cmd = [sys.executable, "-c", _SPAWNER, peak.name, *args]
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=full_env, start_new_session=True)
        status = None
        try:
            while status is None:
                pid, wstatus, _ = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    status = wstatus
                elif time.perf_counter() - start > timeout:
                    raise subprocess.TimeoutExpired(proc.args, timeout)
                else:
                    time.sleep(_POLL_S)
        finally:
            _kill_group(proc.pid)  # the child, or what it left running in its session
            if status is None:
                os.wait4(proc.pid, 0)
            # reaped by wait4 above: tell Popen so that it does not wait again
            proc.returncode = -1 if status is None else os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        kilobytes = float(peak.read() or "nan")  # nan if the spawner died before writing
        return ChildResult(proc.returncode, out.read(), err.read(), seconds, kilobytes / 1e6)
