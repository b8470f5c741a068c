"""The worker image's tag is a function of the build's inputs, never of a build.

Two clean machines building one commit must push one tag; an image id cannot promise that
(file times and build order leak into layers). These tests copy the build's inputs into
fresh trees, as another machine's checkout would be, and change one input at a time.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from cloudburst.deploy.image import ContainerEngine, build_inputs, content_tag

REPO = Path(__file__).resolve().parents[2]


def checkout(into: Path) -> Path:
    """A copy of every build input (and one file that is no input), with new file times."""
    for path in [*build_inputs(REPO), REPO / "chalicelib" / "settings.py"]:
        target = into / path.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)  # mode kept, times new
        os.utime(target, (1_000_000_000, 1_000_000_000))
    return into


def test_two_checkouts_of_one_commit_give_one_tag(tmp_path: Path) -> None:
    # given the same sources on two machines, copied at different times
    first = checkout(tmp_path / "a")
    second = checkout(tmp_path / "b")
    os.utime(second / "container" / "Dockerfile", (2_000_000_000, 2_000_000_000))

    # then the tag is the same, and it names the architecture
    tag = content_tag("arm64", first)
    assert tag == content_tag("arm64", second)
    assert tag.startswith("arm64-")
    assert len(tag) == len("arm64-") + 20
    assert content_tag("x86_64", first) != tag


@pytest.mark.parametrize(
    "changed",
    [
        "container/requirements.txt",  # a package version or hash
        "container/Dockerfile",  # e.g. the base image's digest
        "chalicelib/contracts.py",  # a module the worker imports
        "container/cloudburst_worker/render/commands.py",
    ],
)
def test_a_change_to_any_input_changes_the_tag(tmp_path: Path, changed: str) -> None:
    tree = checkout(tmp_path / "tree")
    before = content_tag("x86_64", tree)

    with (tree / changed).open("a") as file:
        file.write("\n# changed\n")

    assert content_tag("x86_64", tree) != before


def test_files_the_image_does_not_copy_leave_the_tag_alone(tmp_path: Path) -> None:
    tree = checkout(tmp_path / "tree")
    before = content_tag("x86_64", tree)

    (tree / "chalicelib" / "settings.py").write_text("# not in the image\n")
    cache = tree / "container" / "cloudburst_worker" / "__pycache__"
    cache.mkdir()
    (cache / "batch.cpython-311.pyc").write_bytes(b"\x00")

    assert content_tag("x86_64", tree) == before


def test_a_build_argument_is_an_input(tmp_path: Path) -> None:
    tree = checkout(tmp_path / "tree")
    public = content_tag("x86_64", tree)
    stand_in = content_tag("x86_64", tree, build_args={"BASE_IMAGE": "localhost/base:1"})
    assert public != stand_in


class ExistingImages:
    """ECR where every tag asked about is already pushed."""

    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []

    def describe_images(self, **request: Any) -> dict[str, Any]:
        self.asked.append(request)
        return {"imageDetails": [{"imageTags": [request["imageIds"][0]["imageTag"]]}]}


def test_an_unchanged_image_is_neither_built_nor_pushed(tmp_path: Path) -> None:
    # given ECR already holding the tag these sources give, and an engine that cannot run
    ecr = ExistingImages()
    engine = ContainerEngine(ecr, REPO, engine=str(tmp_path / "no-such-engine"))

    # when deploy asks for the image
    uri = engine.publish("123456789012.dkr.ecr.us-east-1.amazonaws.com/cloudburst", "arm64")

    # then the URI names the content tag, found by one look-up and no build
    assert uri.endswith(":" + content_tag("arm64", REPO))
    (request,) = ecr.asked
    assert request["repositoryName"] == "cloudburst"
