"""Build the worker image for one architecture and push it, tagged by its inputs.

The tag is ``<arch>-<first 20 hex of a SHA-256 over the build's inputs>``: the Dockerfile
(which pins the base by digest), every file its COPY instructions take from the build
context (the lock-derived requirements included, so every package version and hash) and
the build arguments. It is computed before anything is built, from the sources alone, so
two clean machines building the same commit give the same tag (an image id would not: it
changes with a layer's file times), an unchanged image is neither built nor pushed again,
and the template, which names the tag, does not change — "deploy with nothing changed
changes nothing" holds for the image. The repository is immutable, so a tag can never
point at another image.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import ClientError

PLATFORMS = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}
DOCKERFILE = "container/Dockerfile"
# What .dockerignore keeps out of every copied folder: never part of the image.
_NOT_COPIED = re.compile(r"(^|/)__pycache__(/|$)|\.pyc$")


class ImageError(RuntimeError):
    """Building or pushing the image failed; the message says what to do."""


class ImagePublisher(Protocol):
    def publish(self, repository_uri: str, architecture: str) -> str:
        """Make sure the worker image for ``architecture`` is in the repository; its URI."""
        ...


def content_tag(
    architecture: str,
    project_dir: Path,
    dockerfile: str = DOCKERFILE,
    build_args: Mapping[str, str] | None = None,
) -> str:
    """The image's tag: the architecture and a digest of everything the build reads."""
    digest = hashlib.sha256(f"architecture={architecture}\n".encode())
    for name, value in sorted((build_args or {}).items()):
        digest.update(f"build-arg {name}={value}\n".encode())
    for path in build_inputs(project_dir, dockerfile):
        relative = path.relative_to(project_dir).as_posix()
        executable = "x" if path.stat().st_mode & 0o111 else "-"
        content = hashlib.sha256(path.read_bytes()).hexdigest()
        digest.update(f"file {relative} {executable} {content}\n".encode())
    return f"{architecture}-{digest.hexdigest()[:20]}"


def build_inputs(project_dir: Path, dockerfile: str = DOCKERFILE) -> list[Path]:
    """The Dockerfile and every file its COPY/ADD instructions take from the context."""
    path = project_dir / dockerfile
    if not path.is_file():
        raise ImageError(f"{path} is missing: run deploy from a CloudBurst checkout")
    files = {path}
    for source in copy_sources(path.read_text()):
        origin = project_dir / source
        if not origin.exists():
            raise ImageError(f"{dockerfile} copies {source}, which does not exist")
        found = [origin] if origin.is_file() else sorted(origin.rglob("*"))
        files.update(p for p in found if p.is_file() and not _NOT_COPIED.search(p.as_posix()))
    return sorted(files)


def copy_sources(dockerfile_text: str) -> Iterator[str]:
    """Build-context sources of every COPY/ADD (not those ``--from`` another stage)."""
    joined = re.sub(r"\\\n", " ", dockerfile_text)
    for line in joined.splitlines():
        words = line.split()
        if len(words) < 3 or words[0].upper() not in {"COPY", "ADD"}:
            continue
        if any(word.startswith("--from=") for word in words):
            continue
        yield from (word for word in words[1:-1] if not word.startswith("--"))


@dataclass
class ContainerEngine:
    """docker or podman on this machine, logged in to ECR with a token from ``ecr``."""

    ecr: Any
    project_dir: Path
    engine: str | None = None
    dockerfile: str = DOCKERFILE
    build_args: dict[str, str] = field(default_factory=dict)

    def publish(self, repository_uri: str, architecture: str) -> str:
        tag = content_tag(architecture, self.project_dir, self.dockerfile, self.build_args)
        remote = f"{repository_uri}:{tag}"
        repository = repository_uri.split("/", 1)[1]
        if self._exists(repository, tag):  # same inputs: built and pushed before
            return remote
        engine = self.engine or find_engine()
        local = f"cloudburst-worker:deploy-{architecture}"
        build_args = [f"--build-arg={k}={v}" for k, v in sorted(self.build_args.items())]
        self._run(
            engine,
            "build",
            "--platform",
            PLATFORMS[architecture],
            *build_args,
            "-f",
            self.dockerfile,
            "-t",
            local,
            ".",
        )
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
