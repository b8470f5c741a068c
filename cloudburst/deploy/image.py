"""Build the worker image for one architecture and push it, tagged by its content digest.

The tag is ``<arch>-<first 20 hex of the image id>``: the image id is the digest of the
image's configuration, which names every layer by its content, so the same sources give
the same tag, an unchanged image is not pushed again, and the template (which names the
tag) does not change — "deploy with nothing changed changes nothing" holds for the image.
The repository is immutable, so a tag can never point at another image.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import ClientError

PLATFORMS = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}


class ImageError(RuntimeError):
    """Building or pushing the image failed; the message says what to do."""


class ImagePublisher(Protocol):
    def publish(self, repository_uri: str, architecture: str) -> str:
        """Make sure the worker image for ``architecture`` is in the repository; its URI."""
        ...


def image_tag(architecture: str, image_id: str) -> str:
    return f"{architecture}-{image_id.removeprefix('sha256:')[:20]}"


@dataclass
class ContainerEngine:
    """docker or podman on this machine, logged in to ECR with a token from ``ecr``."""

    ecr: Any
    project_dir: Path
    engine: str | None = None
    dockerfile: str = "container/Dockerfile"

    def publish(self, repository_uri: str, architecture: str) -> str:
        engine = self.engine or find_engine()
        local = f"cloudburst-worker:deploy-{architecture}"
        self._run(
            engine,
            "build",
            "--platform",
            PLATFORMS[architecture],
            "-f",
            self.dockerfile,
            "-t",
            local,
            ".",
        )
        image_id = self._run(engine, "image", "inspect", "--format", "{{.Id}}", local).strip()
        tag = image_tag(architecture, image_id)
        remote = f"{repository_uri}:{tag}"
        repository = repository_uri.split("/", 1)[1]
        if self._exists(repository, tag):
            return remote
        self._login(engine, repository_uri.split("/", 1)[0])
        self._run(engine, "tag", local, remote)
        self._run(engine, "push", remote)
        return remote

    def _exists(self, repository: str, tag: str) -> bool:
        try:
            self.ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ImageNotFoundException":
                return False
            raise
        return True

    def _login(self, engine: str, registry: str) -> None:
        token = self.ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        user, password = base64.b64decode(token).decode().split(":", 1)
        subprocess.run(
            [engine, "login", "--username", user, "--password-stdin", registry],
            input=password,
            text=True,
            check=True,
            capture_output=True,
        )

    def _run(self, *command: str) -> str:
        done = subprocess.run(
            command, cwd=self.project_dir, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise ImageError(f"`{' '.join(command)}` failed:\n{done.stderr[-3000:]}")
        return done.stdout


def find_engine() -> str:
    for engine in ("docker", "podman"):
        if shutil.which(engine):
            return engine
    raise ImageError("neither docker nor podman is installed: install one to build the worker")
