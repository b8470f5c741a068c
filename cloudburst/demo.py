"""``cloudburst demo`` (what ``make demo`` runs): a real 6-scene job through the local stack.

It behaves like a user: assets and a manifest go up with plain boto3, progress is read from
the job table and the outputs prefix, and the results come down from S3 into
``./cloudburst_results/<job_id>/``. The assets are generated with the ffmpeg that ships in
the ``imageio-ffmpeg`` wheel, so nothing but the Python environment is needed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import boto3

from cloudburst.local.stack import DUMMY_KEY, REGION, LocalStack

RESULTS_ROOT = Path("cloudburst_results")
_FFMPEG_TIMEOUT_SECONDS = 60
_DURATIONS = (3.0, 2.6, 3.4, 2.8, 3.2, 3.0)
_NARRATION = (
    "Welcome to CloudBurst.",
    "Upload a manifest to S3.",
    "Each batch renders on its own Fargate task.",
    "Scenes come back as 1080p MP4 files.",
    "A job report lands next to them.",
    "And a signed webhook tells you it is done.",
)


class DemoFailed(RuntimeError):
    """The demo job did not end as expected; the message says what was seen."""


@dataclass(frozen=True)
class SceneAssets:
    """One generated scene: local files and the S3 keys they are uploaded to."""

    scene_name: str
    image: Path
    audio: Path
    subtitle: Path | None

    def manifest_entry(self, prefix: str) -> dict[str, str]:
        entry = {
            "scene_name": self.scene_name,
            "image_path": f"{prefix}images/{self.image.name}",
            "audio_path": f"{prefix}audio/{self.audio.name}",
        }
        if self.subtitle is not None:
            entry["subtitle_path"] = f"{prefix}audio/{self.subtitle.name}"
        return entry


def make_scene_assets(
    directory: Path,
    count: int,
    *,
    durations: Sequence[float] = _DURATIONS,
    subtitles_every: int = 2,
    language: str = "english",
) -> list[SceneAssets]:
    """Still images (gradients), narration-like audio (a wobbling voiced tone) and SRTs.

    Every ``subtitles_every``-th scene (the first included) gets a subtitle file.
    """
    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    (directory / "images").mkdir(parents=True, exist_ok=True)
    (directory / "audio").mkdir(parents=True, exist_ok=True)
    scenes: list[SceneAssets] = []
    for index in range(count):
        name = f"scene_{index + 1:03d}"
        duration = durations[index % len(durations)]
        image = directory / "images" / f"{name}_{language}.png"
        audio = directory / "audio" / f"{name}_{language}.mp3"
        _ffmpeg(
            ffmpeg,
            "-f",
            "lavfi",
            "-i",
            f"gradients=s=1920x1080:seed={index + 7}",
            "-frames:v",
            "1",
            str(image),
        )
        pitch = 150 + 20 * index
        voice = (
            f"0.3*sin(2*PI*({pitch}+25*sin(2*PI*0.8*t))*t)"
            f"*(0.55+0.45*sin(2*PI*3.3*t))*(0.7+0.3*sin(2*PI*0.45*t))"
        )
        _ffmpeg(
            ffmpeg,
            "-f",
            "lavfi",
            "-i",
            f"aevalsrc=exprs='{voice}|{voice}':s=48000:d={duration}",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "128k",
            str(audio),
        )
        subtitle: Path | None = None
        if index % subtitles_every == 0:
            subtitle = directory / "audio" / f"{name}_{language}.srt"
            subtitle.write_text(_srt(_NARRATION[index % len(_NARRATION)], duration), "utf-8")
        scenes.append(SceneAssets(name, image, audio, subtitle))
    return scenes


def upload_job(
    s3: Any,
    bucket: str,
    scenes: Sequence[SceneAssets],
    *,
    name: str,
    options: dict[str, Any],
) -> str:
    """Upload the assets under ``inputs/<name>/`` and the manifest; returns the manifest key."""
    prefix = f"inputs/{name}/"
    for scene in scenes:
        for path, folder in ((scene.image, "images"), (scene.audio, "audio")):
            s3.upload_file(str(path), bucket, f"{prefix}{folder}/{path.name}")
        if scene.subtitle is not None:
            s3.upload_file(str(scene.subtitle), bucket, f"{prefix}audio/{scene.subtitle.name}")
    manifest = {
        "version": 1,
        "scenes": [scene.manifest_entry(prefix) for scene in scenes],
        **options,
    }
    key = f"manifests/{name}.json"
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(manifest, indent=2).encode(),
        ContentType="application/json",
    )
    return key


def download_prefix(s3: Any, bucket: str, prefix: str, destination: Path) -> list[Path]:
    """Copy every object under ``prefix`` into ``destination`` (what a user's script does)."""
    destination.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            relative = obj["Key"][len(prefix) :]
            if not relative or relative.endswith("/"):
                continue
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, obj["Key"], str(target))
            paths.append(target)
    return sorted(paths)


def run_demo(
    *,
    results_root: Path = RESULTS_ROOT,
    scenes: int = 6,
    timeout: float = 300.0,
    webhook_timeout: float = 30.0,
    quiet: bool = True,
    out: TextIO = sys.stdout,
) -> Path:
    """Run the whole demo; returns the results directory or raises :class:`DemoFailed`."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    # The Lambdas' JSON logs and metric lines would break the progress line; -v shows them.
    quiet_env = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}
    state_dir = Path(".local-stack") / f"demo-{stamp}"
    with (
        tempfile.TemporaryDirectory(prefix="cloudburst-demo-") as tmp,
        LocalStack(port=0, state_dir=state_dir, extra_env=quiet_env if quiet else {}) as stack,
    ):
        print(f"▶ local stack on {stack.endpoint} (state, task logs: {stack.state_dir})", file=out)
        if stack.secret_generated:
            print(f"  webhook secret (generated): {stack.webhook_secret}", file=out)
        print(f"▶ generating {scenes} scenes (images, narration, subtitles)…", file=out)
        assets = make_scene_assets(Path(tmp), scenes)
        s3 = boto3.client(
            "s3",
            endpoint_url=stack.endpoint,
            region_name=REGION,
            aws_access_key_id=DUMMY_KEY,
            aws_secret_access_key=DUMMY_KEY,
        )
        name = f"demo-{stamp}"
        key = upload_job(
            s3,
            stack.bucket,
            assets,
            name=name,
            options={
                "language": "english",
                "enable_zoom": True,
                "scenes_per_batch": 3,
                "max_parallel_tasks": 2,
                "min_scenes_per_batch": 1,
                "config_priority": 5,
                "webhook_url": stack.receiver.url,
            },
        )
        print(f"▶ uploaded s3://{stack.bucket}/{key}", file=out)
        job = watch_job(stack, key, timeout=timeout, out=out)
        hooks = stack.receiver.wait_for(1, timeout=webhook_timeout, job_id=job.job_id)
        results = results_root / job.job_id
        if results.exists():
            shutil.rmtree(results)
        files = download_prefix(s3, stack.bucket, f"outputs/{job.job_id}/", results)
        webhook_copy = results / "webhook.json"
        if hooks and hooks[0].path is not None:
            shutil.copyfile(hooks[0].path, webhook_copy)
        _summary(job, results, files, hooks, webhook_copy, out)
        if job.status != "SUCCEEDED":
            raise DemoFailed(f"job {job.job_id} ended {job.status}; see {results / 'job.json'}")
        if not hooks:
            raise DemoFailed(f"no verified webhook arrived within {webhook_timeout:.0f}s")
        if hooks[0].type != "job.succeeded":
            raise DemoFailed(f"webhook type was {hooks[0].type}, expected job.succeeded")
        return results


@dataclass(frozen=True)
class WatchedJob:
    job_id: str
    status: str


def watch_job(stack: LocalStack, manifest_key: str, *, timeout: float, out: TextIO) -> WatchedJob:
    """Follow the job the upload started through its status document (S3 only) and show one
    updating progress line until it ends. The bucket is versioned: the upload names its job."""
    from chalicelib.contracts import status_key
    from chalicelib.events import job_id_for_upload

    s3 = stack.client("s3")
    version = s3.head_object(Bucket=stack.bucket, Key=manifest_key)["VersionId"]
    job_id = job_id_for_upload(stack.bucket, manifest_key, f"v:{version}")
    started = time.monotonic()
    deadline = started + timeout
    tty = out.isatty()
    last = ""
    status: dict[str, Any] = {}
    while True:
        try:
            body = s3.get_object(Bucket=stack.bucket, Key=status_key(job_id))["Body"].read()
            status = json.loads(body)
        except s3.exceptions.NoSuchKey:
            pass
        done = status.get("scenes_succeeded", 0) + status.get("scenes_failed", 0)
        line = (
            f"  job {job_id}: scenes {done}/{status.get('total_scenes', '?')} · "
            f"tasks running {status.get('tasks_running', 0)} · "
            f"{time.monotonic() - started:5.1f}s"
        )
        if line != last and (tty or line.split("·")[:2] != last.split("·")[:2]):
            shown = "\r" + line.ljust(len(last)) if tty else line
            print(shown, end="" if tty else "\n", file=out, flush=True)
            last = line
        state = status.get("status", "RUNNING")
        if state != "RUNNING":
            if tty:
                print(file=out)
            return WatchedJob(job_id, state)
        if time.monotonic() > deadline:
            if tty:
                print(file=out)
            raise DemoFailed(f"job {job_id} still {state} after {timeout:.0f}s")
        time.sleep(0.25)


def _summary(
    job: Any,
    results: Path,
    files: list[Path],
    hooks: list[Any],
    webhook_copy: Path,
    out: TextIO,
) -> None:
    videos = [p for p in files if p.suffix == ".mp4"]
    print(f"▶ job {job.job_id}: {job.status}", file=out)
    print(f"  videos ({len(videos)}) in {results}/", file=out)
    for video in videos:
        print(f"    {video.name}  {video.stat().st_size / 1e6:.2f} MB", file=out)
    report = results / "job.json"
    if report.exists():
        data = json.loads(report.read_text("utf-8"))
        print(
            f"  job report  {report}  (cost ${data.get('total_cost_usd', 0):.5f}, "
            f"tasks {data.get('tasks_used')}, {data.get('successful_scenes')}/"
            f"{data.get('total_scenes')} scenes)",
            file=out,
        )
    if hooks:
        print(f"  webhook     {webhook_copy}  ({hooks[0].type}, signature verified)", file=out)
        print(f"              original: {hooks[0].path}", file=out)


def _ffmpeg(ffmpeg: str, *args: str) -> None:
    subprocess.run(
        [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", *args],
        check=True,
        timeout=_FFMPEG_TIMEOUT_SECONDS,
        capture_output=True,
    )


def _srt(text: str, duration: float) -> str:
    middle = duration / 2

    def stamp(seconds: float) -> str:
        millis = round(seconds * 1000)
        return f"00:00:{millis // 1000:02d},{millis % 1000:03d}"

    words = text.split()
    half = max(1, len(words) // 2)
    return (
        f"1\n{stamp(0.1)} --> {stamp(middle)}\n{' '.join(words[:half])}\n\n"
        f"2\n{stamp(middle)} --> {stamp(duration - 0.1)}\n{' '.join(words[half:])}\n"
    )
