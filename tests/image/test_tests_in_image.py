"""The worker's own tests, run inside the worker image: the tests run where the code runs.

``tests/render`` (every picture and audio kind, the property tests included) and
``tests/worker`` run in the image as its default user, with the image's python, packages,
ffmpeg and fonts and the image's copy of the worker (``/app`` comes first on the path). The
test tools (pytest, hypothesis, moto, Pillow …) are not part of the image: they are installed
from the same lock, hash-checked and without dependencies, into a folder on this machine that
is mounted read-only behind the image's own packages, so they cannot shadow any of them.
The repository's ``chalicelib`` is mounted over the image's two-module copy, because some
tests compute their expectations with it (``chalicelib.pricing``); that the image's own copy
holds every module the worker imports is checked by the build's import check and
``test_image_contents``.
Left out: the two files that check the repository rather than the image
(``test_dockerfile.py`` reads git and the Dockerfile; ``test_task_role_policy.py`` builds the
deployment template).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, podman

pytestmark = [pytest.mark.image, pytest.mark.xdist_group("image")]

# What the render and worker tests import beyond the image's packages (and their closure).
TEST_TOOLS = ("pytest", "pytest-timeout", "pytest-xdist", "hypothesis", "pillow", "moto",
              "requests")  # fmt: skip
NOT_IN_IMAGE = ("tests/worker/test_dockerfile.py", "tests/worker/test_task_role_policy.py")
PACKAGES_CACHE = Path("/var/tmp/cloudburst-image-test-packages")


def test_the_render_and_worker_tests_pass_inside_the_image(image: str) -> None:
    # given the test tools, from the lock, beside (not inside) the image
    tools = tools_folder()

    # when the render and worker tests run inside the image
    ignored = [f"--ignore=/w/{path}" for path in NOT_IN_IMAGE]
    done = podman("run", "--rm", "--network", "host", "--workdir", "/tmp",
                  "-v", f"{REPO}:/w:ro", "-v", f"{tools}:/opt/test-tools:ro",
                  "-v", f"{REPO / 'chalicelib'}:/app/chalicelib:ro",
                  "-e", "PYTHONPATH=/app:/opt/test-tools", "--entrypoint", "python", image,
                  "-m", "pytest", "/w/tests/render", "/w/tests/worker", "-p", "no:cacheprovider",
                  "-q", "-n", "2", "-o", "pythonpath=/app", *ignored,
                  timeout=1500)  # fmt: skip
    tail = done.stdout[-6000:] + done.stderr[-3000:]
    print(tail)

    # then every one of them passes there
    assert done.returncode == 0, tail
    summary = done.stdout.strip().splitlines()[-1]
    passed = re.search(r"(\d+) passed", summary)
    assert passed, summary
    assert int(passed.group(1)) > 100, summary
    assert "failed" not in summary, summary
    assert "error" not in summary, summary


def tools_folder() -> Path:
    """The lock's entries for TEST_TOOLS and everything they need that the image does not
    ship, installed once per lock content (hash-checked, no dependency resolution)."""
    lock = lock_blocks(REPO / "requirements.lock")
    shipped = set(lock_blocks(REPO / "container" / "requirements.txt"))
    wanted = closure(lock, {canonical(name) for name in TEST_TOOLS}) - shipped
    text = "".join(lock[name][0] for name in sorted(wanted))
    folder = PACKAGES_CACHE / hashlib.sha256(text.encode()).hexdigest()[:16]
    if not (folder / ".complete").exists():
        folder.mkdir(parents=True, exist_ok=True)
        requirements = folder.with_suffix(".txt")
        requirements.write_text(text)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--require-hashes",
             "--only-binary=:all:", "--target", str(folder), "-r", str(requirements)],
            check=True,
        )  # fmt: skip
        (folder / ".complete").write_text("")
    folder.chmod(0o755)
    return folder


def lock_blocks(path: Path) -> dict[str, tuple[str, set[str]]]:
    """name -> (its requirement lines with hashes, the names it is required ``via``)."""
    blocks: dict[str, tuple[str, set[str]]] = {}
    name = ""
    for line in path.read_text().splitlines(keepends=True):
        entry = re.match(r"([A-Za-z0-9._-]+)==", line)
        if entry:
            name = canonical(entry.group(1))
            blocks[name] = (line, set())
        elif name and line.lstrip().startswith("--hash"):
            blocks[name] = (blocks[name][0] + line, blocks[name][1])
        elif name and line.lstrip().startswith("#"):
            via = re.sub(r"^#\s*(via)?\s*", "", line.strip())
            if via:
                blocks[name][1].add(canonical(via.split()[0]))
    return blocks


def closure(lock: dict[str, tuple[str, set[str]]], roots: set[str]) -> set[str]:
    """``roots`` and every entry required, directly or not, via one of them."""
    chosen = set(roots)
    while True:
        more = {name for name, (_, via) in lock.items() if via & chosen} - chosen
        if not more:
            return chosen
        chosen |= more


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
