"""Fixtures for the worker: moto S3, media made with ffmpeg at run time, spec builders.

Media are generated per session (a 1 s tone and small PNGs, a few KiB each); nothing
binary is committed.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import imageio_ffmpeg
import pytest
from moto import mock_aws

from chalicelib.contracts import (
    BatchSpec,
    RenderOptions,
    SceneSpec,
    outputs_prefix,
    results_prefix,
)

BUCKET = "cloudburst-test"
OTHER_BUCKET = "other-team-assets"
JOB_ID = "job-worker-test"


@dataclass(frozen=True)
class Media:
    image: Path
    audio: Path
    watermark: Path
    not_an_image: Path


def _ffmpeg(*args: str) -> None:
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args],
        check=True,
        timeout=60,
    )


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    root = tmp_path_factory.mktemp("media")
    image, audio = root / "scene.png", root / "narration.mp3"
    watermark, broken = root / "logo.png", root / "broken.png"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1", str(image))
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "libmp3lame", str(audio))
    _ffmpeg(
        "-f", "lavfi", "-i", "color=c=red@0.5:s=64x64,format=rgba", "-frames:v", "1", str(watermark)
    )  # fmt: skip
    broken.write_bytes(b"this is not a PNG file")
    return Media(image, audio, watermark, broken)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and no endpoint override, so nothing can reach a real account."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def s3(aws_env: None) -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.create_bucket(Bucket=OTHER_BUCKET)
        yield client


class CountingS3:
    """A real boto3 client that also counts downloads, to prove each URI is fetched once."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.downloads: Counter[str] = Counter()

    def download_file(self, bucket: str, key: str, filename: str, **kwargs: Any) -> None:
        self.downloads[f"s3://{bucket}/{key}"] += 1
        self._client.download_file(bucket, key, filename, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def put_file(s3: Any, path: Path, bucket: str, key: str) -> str:
    s3.upload_file(str(path), bucket, key)
    return f"s3://{bucket}/{key}"


def scene_with_assets(
    s3: Any, media: Media, name: str, *, bucket: str = BUCKET, image: Path | None = None
) -> SceneSpec:
    """A scene whose image and audio are uploaded under ``inputs/`` of ``bucket``."""
    return SceneSpec(
        scene_name=name,
        image_uri=put_file(s3, image or media.image, bucket, f"inputs/{name}.png"),
        audio_uri=put_file(s3, media.audio, bucket, f"inputs/{name}.mp3"),
    )


def make_spec(scenes: list[SceneSpec], *, vcpu: float = 2, **options: Any) -> BatchSpec:
    """A spec shaped as the planner writes it; plain rendering unless options say more."""
    return BatchSpec(
        job_id=JOB_ID,
        batch_number=1,
        attempt=1,
        bucket=BUCKET,
        outputs_prefix=outputs_prefix(JOB_ID),
        results_prefix=results_prefix(JOB_ID),
        vcpu=vcpu,
        options=RenderOptions(**{"enable_zoom": False, "language": "english", **options}),
        scenes=scenes,
    )
