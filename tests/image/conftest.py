"""The worker image, built by ``make image``, run with podman (``make image-test``).

Every test here is marked ``image`` and deselected by default (pyproject's addopts), so
``make test`` passes on machines without podman; ``make image-test`` selects them and names
the image in ``CLOUDBURST_IMAGE``. A missing podman or image fails loudly: it is never a skip.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = REPO / "container" / "podman" / "containers.conf"
DEFAULT_IMAGE = "localhost/cloudburst-worker:dev"
# What a task's container gets from ECS: its spec, its attempt, credentials and region
# (the local stack adds its endpoint). `-e NAME` copies the variable from podman's caller.
TASK_VARIABLES = (
    "BATCH_SPEC",
    "CLOUDBURST_ATTEMPT",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
)


def podman_command(*args: str) -> list[str]:
    """``podman ARGS`` with this repository's containers.conf (runc, ulimits that fit here)."""
    return ["env", f"CONTAINERS_CONF={CONTAINERS_CONF}", "podman", *args]


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        podman_command(*args), capture_output=True, text=True, timeout=timeout, check=False
    )


def worker_command(image: str, *, name: str | None = None) -> list[str]:
    """How a Fargate task runs the image, on this machine: host network (the local stack
    listens on 127.0.0.1), the task's variables passed through, removed when it stops.

    The local stack stops a task by SIGTERM to its process group. ``podman run --rm`` that
    gets it before its container started exits and leaves the container behind (state
    Created), so a small shell runs it, passes SIGTERM on, and removes the container by name
    whatever happened.
    """
    env = [flag for variable in TASK_VARIABLES for flag in ("-e", variable)]
    run = shlex.join(podman_command("run", "--rm", "--network", "host"))
    remove = shlex.join(podman_command("rm", "--force", "--ignore"))
    script = "\n".join(
        [
            f"name={shlex.quote(name) if name else 'cloudburst-task-$$'}",
            f'{run} --name "$name" {shlex.join([*env, image])} &',
            "pid=$!",
            "trap 'stopped=143; kill -TERM $pid 2>/dev/null' TERM",
            "wait $pid; code=$?",
            "while kill -0 $pid 2>/dev/null; do wait $pid; code=$?; done",
            f'{remove} "$name" >/dev/null 2>&1',
            # stopped before the worker ran: exit as a SIGTERMed worker would, never 0
            'if [ "$code" = 0 ] && [ -n "${stopped:-}" ]; then code=$stopped; fi',
            "exit $code",
        ]
    )
    return ["sh", "-c", script]


def containers_of(image: str) -> set[str]:
    """Ids of every container of ``image``, in any state (Created and Exited included)."""
    listed = podman("ps", "--all", "--quiet", "--no-trunc", "--filter", f"ancestor={image}")
    assert listed.returncode == 0, listed.stderr
    return set(listed.stdout.split())


@pytest.fixture(scope="session")
def image() -> Iterator[str]:
    """The image under test; at the end of the session, no container of it may be left."""
    name = os.environ.get("CLOUDBURST_IMAGE", DEFAULT_IMAGE)
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: apt-get install -y podman runc debootstrap")
    if podman("image", "exists", name).returncode != 0:
        pytest.fail(f"image {name} does not exist: run `make image` first")
    before = containers_of(name)
    yield name
    left = containers_of(name) - before
    assert not left, f"image-test left containers behind: {sorted(left)}"
