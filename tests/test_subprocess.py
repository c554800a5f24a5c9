"""bayeskit._subprocess: the child's own peak RSS, the time limit, and cleanup of its group."""

import os
import subprocess
import time

import pytest

from bayeskit._subprocess import run_python


def _gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_peak_rss_is_the_childs_own():
    # 400 MB written (so resident), then freed: the peak still counts it, the exit status and
    # output come back; a child that allocates nothing stays far below (Python itself: ~10 MB)
    # even while this process holds 300 MB (a child forked by it directly would count them)
    big = run_python(["-c", "b = bytearray(400_000_000); b[::4096] = b'x' * len(b[::4096])"])
    held = bytearray(300_000_000)
    held[::4096] = b"x" * len(held[::4096])
    small = run_python(["-c", "print('hi')"])
    del held
    assert big.returncode == 0 and small.returncode == 0
    assert small.stdout == "hi\n"
    assert big.peak_rss_gb >= 0.4
    assert small.peak_rss_gb < 0.1


def test_exit_code_and_stderr_come_back():
    res = run_python(["-c", "import sys; sys.stderr.write('bad'); sys.exit(3)"], env={"A": "1"})
    assert (res.returncode, res.stderr) == (3, "bad")
    assert run_python(["-c", "import os; print(os.environ['A'])"], env={"A": "7"}).stdout == "7\n"


def test_timeout_kills_the_child(tmp_path):
    pidfile = tmp_path / "pid"
    code = f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    with pytest.raises(subprocess.TimeoutExpired):
        run_python(["-c", code], timeout=3)
    assert _gone(int(pidfile.read_text()))


def test_what_the_child_left_running_is_stopped(tmp_path):
    pidfile = tmp_path / "pid"
    code = (
        "import subprocess, sys; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(pidfile)!r}, 'w').write(str(p.pid))"
    )
    assert run_python(["-c", code], timeout=30).returncode == 0
    assert _gone(int(pidfile.read_text()))
