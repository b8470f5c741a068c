from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("local-stack")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


_STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_stack_outlives_its_test() -> Iterator[None]:
    """A failed or timed-out test must not leave a `local up` (and its moto) running."""
    yield
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def cloudburst(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "cloudburst.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    _STARTED.append(process)
    return process


def read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> str:
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    process.kill()
    pytest.fail(f"{marker!r} not printed within {timeout}s:\n{''.join(seen)}")


def test_local_up_prints_what_a_user_needs_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    process = cloudburst("local", "up", "--port", str(port), cwd=tmp_path)

    banner = read_until(process, "Press Ctrl-C", timeout=60)
    process.send_signal(signal.SIGINT)
    try:
        rest, _ = process.communicate(timeout=45)  # the CLI gives up by itself after 25 s
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        rest, _ = process.communicate(timeout=10)
        pytest.fail(f"still running 45s after SIGINT:\n{banner}{rest}")

    assert f"AWS_ENDPOINT_URL=http://127.0.0.1:{port}" in banner
    assert "AWS_ACCESS_KEY_ID=testing" in banner
    assert "s3://cloudburst-local/manifests/" in banner
    assert "whsec_" in banner
    assert process.returncode == 0, rest
    assert "stopped; state kept in" in rest
    with socket.socket() as probe:  # nothing listens there any more
        # SO_REUSEADDR, as every server sets it: closed connections in TIME_WAIT (the stack
        # closed them first) do not count, a listener still does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
        probe.listen()


def test_local_up_on_a_taken_port_says_so(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = cloudburst("local", "up", "--port", str(port), cwd=tmp_path)
        output, _ = process.communicate(timeout=60)

    assert process.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in output


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=45)
    assert process.returncode == 0, rest
    return rest


def test_local_up_prints_job_events_keeps_its_state_and_reset_forgets_it(tmp_path: Path) -> None:
    import boto3

    port = free_port()
    process = cloudburst("local", "up", "--port", str(port), cwd=tmp_path)
    banner = read_until(process, "Press Ctrl-C", timeout=60)
    secret = next(line.strip() for line in banner.splitlines() if "whsec_" in line)
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    scene = {"scene_name": "a", "image_path": "no.png", "audio_path": "no.mp3"}
    manifest = json.dumps({"version": 1, "scenes": [scene]})
    s3.put_object(Bucket="cloudburst-local", Key="manifests/bad.json", Body=manifest)

    events = read_until(process, "webhook job.rejected delivered", timeout=30)
    stop(process)

    assert "rejected: 2 reasons, first: scene 'a'" in events
    assert "{" not in events  # no JSON logs, no metric blobs on the terminal
    log_text = (tmp_path / ".local-stack" / "stack.log").read_text()
    assert '"message":"manifest rejected"' in log_text
    assert '"JobsRejected"' in log_text

    again = cloudburst("local", "up", "--port", str(port), cwd=tmp_path)
    banner = read_until(again, "Press Ctrl-C", timeout=60)
    objects = s3.list_objects_v2(Bucket="cloudburst-local", Prefix="manifests/")["Contents"]
    stop(again)

    assert "state carried on from the last run" in banner
    assert secret in banner
    assert [o["Key"] for o in objects] == ["manifests/bad.json"]

    reset = subprocess.run(
        [sys.executable, "-m", "cloudburst.cli", "local", "reset"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert reset.returncode == 0, reset.stderr
    assert "starts clean" in reset.stdout
    assert not (tmp_path / ".local-stack").exists()
