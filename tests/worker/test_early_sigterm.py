"""SIGTERM while the worker is still importing its libraries stops it at once, with a log line.

ECS may stop a task at any moment, its first half second included. A slow ``boto3`` placed
first on the path holds the worker inside its imports; the test waits until the process
catches SIGTERM (its signal mask in /proc says so), which must happen before those imports.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SLOW_BOTO3 = "import time\ntime.sleep(60)\n"


def catches(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has a handler installed for ``signum`` (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


def wait_until_catching(pid: int, signum: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not catches(pid, signum):
        assert time.monotonic() < deadline, f"process {pid} never installed a handler"
        time.sleep(0.005)


def test_sigterm_during_the_imports_exits_143_with_a_log_line(tmp_path: Path) -> None:
    # given a worker whose boto3 import takes a minute (a stand-in first on the path)
    (tmp_path / "boto3.py").write_text(SLOW_BOTO3)
    path = os.pathsep.join([str(tmp_path), str(REPO), str(REPO / "container")])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": path}
    worker = subprocess.Popen(
        [sys.executable, "-m", "cloudburst_worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    # when ECS stops the task while it is still importing
    wait_until_catching(worker.pid, signal.SIGTERM)
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=10)

    # then it exits with 128+SIGTERM, saying why in one JSON line, and no traceback
    assert worker.returncode == 128 + signal.SIGTERM, err
    (line,) = [json.loads(text) for text in out.splitlines()]
    assert line["message"].startswith("SIGTERM while starting")
    assert line["service"] == "cloudburst-worker"
    assert "Traceback" not in err
