"""What ships in the worker image works, and nothing of the build is left in it.

Run against the real image (``make image``) with podman, as its default user:
- every installed file is the one its wheel installed (no library stubbed or patched), every
  shared library loads with all symbols bound, every shipped module imports;
- the features an earlier, amputated image aborted on (OpenCV's GEMM and video I/O, AV1 in
  PyAV, numpy's random/fft/ma, pydantic.v1, the STS and SSO models) work;
- the image's configuration holds no build-time variable (a proxy's CA came in as a secret);
- a SIGTERM while the worker, as the container's PID 1, is still importing stops it at once.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from .conftest import REPO, podman

pytestmark = [pytest.mark.image, pytest.mark.xdist_group("image")]

CHECK = REPO / "container" / "trim_packages.py"
SITE = "/opt/cloudburst/venv/lib/python3.11/site-packages"


def test_every_file_is_its_wheels_every_library_loads_and_every_module_imports(
    image: str,
) -> None:
    # when the build's own check runs inside the image over the packages and the worker
    done = podman("run", "--rm", "--network", "none", "-v", f"{CHECK}:/check/trim_packages.py:ro",
                  "--entrypoint", "python", image, "/check/trim_packages.py", "--check",
                  SITE, "/app", timeout=600)  # fmt: skip

    # then it finds nothing, having looked at the libraries and modules there are
    assert done.returncode == 0, done.stderr[-5000:]
    summary = done.stdout.splitlines()[-1]
    libraries, modules, _failures = (int(word) for word in summary.split() if word.isdigit())
    assert libraries > 100, summary
    assert modules > 1000, summary
    assert summary.endswith(" 0 failures"), summary


def test_what_the_amputated_image_aborted_on_works(image: str) -> None:
    done = podman("run", "--rm", "--network", "none", "--entrypoint", "python", image,
                  "-c", FEATURES_SCRIPT, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    checks = json.loads(done.stdout.splitlines()[-1])
    assert checks, done.stdout
    assert [name for name, ok in checks.items() if not ok] == []


def test_the_image_configuration_holds_no_build_time_environment(image: str) -> None:
    inspected = json.loads(podman("image", "inspect", image).stdout)[0]
    env = dict(item.split("=", 1) for item in inspected["Config"]["Env"])
    assert not [name for name in env if name.startswith(("PIP_", "SOURCE_DATE"))], env
    assert set(env) <= {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH",
                        "HOME", "LANG", "GPG_KEY", "PYTHON_VERSION", "PYTHON_SHA256"}  # fmt: skip
    assert inspected["Config"]["User"] == "10001:10001"
    # and no layer holds the CA bundle the build was given
    found = podman("run", "--rm", "--network", "none", "--entrypoint", "sh", image, "-c",
                   "ls /run/secrets 2>/dev/null; echo ${PIP_CERT:-unset}")  # fmt: skip
    assert found.stdout.split() == ["unset"], found.stdout


def test_sigterm_while_the_worker_imports_stops_the_container_at_once(
    image: str, tmp_path: Path
) -> None:
    # given the worker as the container's PID 1, held in its imports by a slow boto3
    (tmp_path / "boto3.py").write_text("import time\ntime.sleep(60)\n")
    tmp_path.chmod(0o755)
    (tmp_path / "boto3.py").chmod(0o644)
    name = f"cloudburst-early-{uuid.uuid4().hex[:8]}"
    started = podman("run", "--detach", "--name", name, "--network", "none",
                     "-v", f"{tmp_path}:/slow:ro",
                     "-e", "PYTHONPATH=/slow:/app", image)  # fmt: skip
    assert started.returncode == 0, started.stderr
    try:
        pid = int(podman("inspect", "--format", "{{.State.Pid}}", name).stdout)
        wait_until_catching(pid, 15)

        # when ECS stops the task
        assert podman("kill", "--signal", "TERM", name).returncode == 0
        code = podman("wait", name, timeout=30).stdout.strip()
        logs = podman("logs", name).stdout
    finally:
        podman("rm", "--force", name)

    # then PID 1 exits by itself with 143 (not SIGKILL's 137 a stop timeout later), saying why
    assert code == "143", logs
    assert json.loads(logs.splitlines()[-1])["message"].startswith("SIGTERM while starting")


def wait_until_catching(pid: int, signum: int, timeout: float = 30) -> None:
    """Until process ``pid`` (seen from the host) has a handler for ``signum``."""
    deadline = time.monotonic() + timeout
    while True:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        (caught,) = [line.split()[1] for line in status if line.startswith("SigCgt:")]
        if int(caught, 16) >> (signum - 1) & 1:
            return
        assert time.monotonic() < deadline, "the worker never installed its SIGTERM handler"
        time.sleep(0.005)


FEATURES_SCRIPT = (Path(__file__).with_name("features.py")).read_text()
