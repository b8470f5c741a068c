"""The worker image renders what the local set-up renders, as a Fargate task would run it.

Three proofs, each against the real image (``make image``) run with podman:
- it runs as a non-root user with the very ffmpeg binary and font files of the local set-up;
- a real batch run inside it by the local stack (every feature: CJK subtitles in a box, zoom,
  watermark; portrait with outlined subtitles) gives videos equal frame by frame, within one
  level, to the local renderer's, and each feature visibly changed its frames;
- SIGTERM (ECS StopTask, a Spot interruption) stops it within seconds, well inside Fargate
  Spot's two-minute warning, keeping every finished scene's MP4 and record.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from cloudburst_worker.render import RenderSettings, SceneInput, render_scene
from cloudburst_worker.render.ffmpeg import ffmpeg_exe
from cloudburst_worker.render.fonts import subtitle_fonts

from chalicelib.contracts import (
    BatchSpec,
    RenderOptions,
    SceneSpec,
    batch_spec_key,
    outputs_prefix,
    results_prefix,
)
from cloudburst.demo import SceneAssets, download_prefix, make_scene_assets, upload_job
from cloudburst.local import LocalStack

from .conftest import podman, podman_command, worker_command

pytestmark = [pytest.mark.image, pytest.mark.xdist_group("image")]

CHINESE_SRT = "1\n00:00:00,100 --> 00:00:01,500\n你好，世界：云端渲染\n"
WORKER_UID = 10001


@pytest.fixture(scope="module")
def stack(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(
        port=0,
        state_dir=tmp_path_factory.mktemp("image-stack"),
        worker_command=worker_command(image),
    ) as running:
        yield running


def test_the_image_runs_as_non_root_with_the_local_ffmpeg_and_font_files(image: str) -> None:
    # given what the local set-up renders with
    local = toolchain_fingerprint()

    # when the same question is asked inside the image, as its default user
    done = podman("run", "--rm", "--network", "none", "--entrypoint", "python", image,
                  "-c", FINGERPRINT_SCRIPT)  # fmt: skip
    assert done.returncode == 0, done.stderr
    inside = json.loads(done.stdout)

    # then it is not root, and ffmpeg and every subtitle font are byte-identical
    assert (inside["uid"], inside["gid"]) == (WORKER_UID, WORKER_UID)
    assert inside["ffmpeg"] == local["ffmpeg"]
    assert inside["fonts"] == local["fonts"]


def test_a_batch_in_the_image_renders_every_feature_as_the_local_renderer_does(
    stack: LocalStack, tmp_path: Path
) -> None:
    # given two jobs between them using every feature, each one Fargate task in the image
    s3 = stack.client("s3")
    cjk = make_scene_assets(tmp_path / "cjk", 2, durations=(2.0, 1.6), subtitles_every=1,
                            language="chinese")  # fmt: skip
    for scene in cjk:
        assert scene.subtitle is not None
        scene.subtitle.write_text(CHINESE_SRT, "utf-8")
        make_checkerboard(scene.image)  # texture, so that a zoom and a dark box show
    logo = make_logo(tmp_path / "logo.png")
    s3.upload_file(str(logo), stack.bucket, "inputs/brand/logo.png")
    cjk_options = {
        "language": "chinese",
        "enable_zoom": True,
        "background_box": True,
        "background_opacity": 0.2,
        "watermark_path": "inputs/brand/logo.png",
    }
    portrait = make_scene_assets(tmp_path / "portrait", 1, durations=(1.5,), subtitles_every=1)
    portrait_options = {"language": "english", "enable_zoom": False, "is_portrait": True,
                        "background_box": False}  # fmt: skip
    upload_job(s3, stack.bucket, cjk, name="image-cjk", options=cjk_options)
    upload_job(s3, stack.bucket, portrait, name="image-portrait", options=portrait_options)

    # when both jobs run
    deliveries = stack.receiver.wait_for(2, timeout=300)

    # then both succeed, rendered inside the image
    reports = {d.body["data"]["manifest_key"]: d.body["data"] for d in deliveries}
    assert {d.type for d in deliveries} == {"job.succeeded"}, reports
    logs = [p.read_text() for p in (stack.state_dir / "tasks").glob("*.log")]
    finished = [log for log in logs if '"message":"batch finished"' in log]
    assert len(finished) == 2, logs  # (a duplicate launch the app stops leaves an empty log)

    # and every video equals the local renderer's, frame by frame, within one level
    cases = [
        Case(cjk, "manifests/image-cjk.json", settings_of(cjk_options, watermark=logo)),
        Case(portrait, "manifests/image-portrait.json", settings_of(portrait_options)),
    ]
    for case in cases:
        job_id = reports[case.manifest_key]["job_id"]
        folder = tmp_path / job_id
        download_prefix(s3, stack.bucket, f"outputs/{job_id}/", folder / "image")
        for scene in case.scenes:
            from_image = folder / "image" / f"{scene.scene_name}.mp4"
            local = render_locally(scene, case.settings, folder / "local")
            difference = max_frame_difference(from_image, local)
            print(f"image-test: {case.manifest_key} {scene.scene_name} max diff {difference}")
            assert difference <= 1, scene.scene_name

    # and each feature is there: sizes, zoom moving, watermark, box, outlined subtitles
    first_cjk = tmp_path / reports["manifests/image-cjk.json"]["job_id"] / "image"
    zoomed = planes(first_cjk / "scene_001.mp4")
    assert zoomed[0][0].shape == (1080, 1920)
    assert np.abs(zoomed[0][0] - zoomed[-1][0]).mean() > 1, "the camera did not move"
    portrait_video = planes(
        tmp_path / reports["manifests/image-portrait.json"]["job_id"] / "image" / "scene_001.mp4"
    )
    assert portrait_video[0][0].shape == (1920, 1080)
    cjk_scene, _settings = cjk[0], cases[0].settings
    bare = render_locally(cjk_scene, settings_of(cjk_options), tmp_path / "bare", subtitles=False)
    with_all, without = planes(first_cjk / "scene_001.mp4")[15][0], planes(bare)[15][0]
    assert np.abs(with_all[10:140, 10:250] - without[10:140, 10:250]).mean() > 20, "no watermark"
    box = (slice(900, 1060), slice(760, 1160))
    assert with_all[box].mean() < without[box].mean() - 20, "no dark subtitle box"
    plain_portrait = render_locally(portrait[0], settings_of(portrait_options),
                                    tmp_path / "plain", subtitles=False)  # fmt: skip
    lower = (slice(1500, 1900), slice(100, 980))
    assert np.abs(portrait_video[15][0][lower] - planes(plain_portrait)[15][0][lower]).max() > 100


def test_every_kind_of_picture_decodes_in_the_image_as_it_does_locally(
    image: str, tmp_path: Path
) -> None:
    # given pictures that take each decoder path (libspng, OpenCV's JPEG/WebP/PNG, ffmpeg)
    pictures = make_pictures(tmp_path / "pictures")
    local = decode_digests(pictures)

    # when the image decodes them and composites each as a watermark (the trimmed libraries'
    # neighbours: OpenCV's decoders and resize, ffmpeg's decoder)
    done = podman("run", "--rm", "--network", "none", "-v", f"{pictures}:/pictures:ro",
                  "--entrypoint", "python", image, "-c", DECODE_SCRIPT)  # fmt: skip
    assert done.returncode == 0, done.stderr

    # then every picture decodes to the very pixels the local set-up gets
    assert json.loads(done.stdout) == local


def test_sigterm_stops_the_image_within_seconds_keeping_finished_scenes(
    stack: LocalStack, image: str, tmp_path: Path
) -> None:
    # given a one-vCPU batch of four zooming scenes running in the image
    s3 = stack.client("s3")
    job_id = f"sigterm-{uuid.uuid4().hex[:8]}"
    scenes = make_scene_assets(tmp_path, 4, durations=(3.0,), subtitles_every=99)
    specs = []
    for scene in scenes:
        uris = {}
        for role, path in (("image", scene.image), ("audio", scene.audio)):
            key = f"inputs/{job_id}/{path.name}"
            s3.upload_file(str(path), stack.bucket, key)
            uris[f"{role}_uri"] = f"s3://{stack.bucket}/{key}"
        specs.append(SceneSpec(scene_name=scene.scene_name, effect="zoom_in", **uris))
    spec = BatchSpec(job_id=job_id, batch_number=1, bucket=stack.bucket, vcpu=1,
                     outputs_prefix=outputs_prefix(job_id), results_prefix=results_prefix(job_id),
                     options=RenderOptions(language="english"), scenes=specs)  # fmt: skip
    s3.put_object(Bucket=stack.bucket, Key=batch_spec_key(job_id, 1), Body=spec.model_dump_json())
    name = f"cloudburst-{job_id}"
    env = {**stack.worker_env(), "BATCH_SPEC": f"s3://{stack.bucket}/{batch_spec_key(job_id, 1)}"}
    task = subprocess.Popen(worker_command(image, name=name), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        first = wait_for_records(s3, stack.bucket, results_prefix(job_id), 1, timeout=180)

        # when ECS stops the task (the container's PID 1 gets SIGTERM)
        signalled = time.monotonic()
        kill = subprocess.run(podman_command("kill", "--signal", "TERM", name),
                              capture_output=True, text=True, check=False)  # fmt: skip
        assert kill.returncode == 0, kill.stderr
        out, err = task.communicate(timeout=110)
        stopped_after = time.monotonic() - signalled
    finally:
        if task.poll() is None:
            task.kill()

    print(f"image-test: SIGTERM to exit {stopped_after:.2f} s, code {task.returncode}")
    # then it exits by itself within seconds (143: SIGTERM, not SIGKILL's 137), saying why
    assert task.returncode == 143, err
    assert stopped_after < 10, f"took {stopped_after:.1f} s"
    assert json.loads(out.splitlines()[-1])["message"].startswith("SIGTERM")
    # and every finished scene kept its MP4 and record; the rest are left for the retry
    records = list_keys(s3, stack.bucket, results_prefix(job_id))
    videos = list_keys(s3, stack.bucket, outputs_prefix(job_id))
    assert set(first) <= set(records)
    assert 1 <= len(records) < len(scenes)
    for key in records:
        record = json.loads(s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read())
        assert record["status"] == "succeeded"
        assert record["output_key"] in videos


# -- helpers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    scenes: list[SceneAssets]
    manifest_key: str
    settings: RenderSettings


FINGERPRINT_SCRIPT = """
import hashlib, json, os, subprocess
from cloudburst_worker.render.ffmpeg import ffmpeg_exe
from cloudburst_worker.render.fonts import subtitle_fonts
def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()
fonts = {lang: [[f.family, digest(f.path)] for f in subtitle_fonts(lang)]
         for lang in ("chinese", "english")}
version = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True).stdout
print(json.dumps({"uid": os.getuid(), "gid": os.getgid(), "fonts": fonts,
                  "ffmpeg": [version.splitlines()[0], digest(ffmpeg_exe())]}))
"""


DECODE_SCRIPT = """
import hashlib, json, pathlib
from cloudburst_worker.render import frames
digests = {}
for path in sorted(pathlib.Path("/pictures").iterdir()):
    picture = frames.decode_picture(path, 60)
    overlay = frames.make_overlay(picture, 1920)
    digests[path.name] = [list(picture.shape), hashlib.sha256(picture.tobytes()).hexdigest(),
                          hashlib.sha256(overlay.frame.y.tobytes()).hexdigest()]
print(json.dumps(digests))
"""


def make_pictures(folder: Path) -> Path:
    """One small file per decoder path: libspng, OpenCV (JPEG incl. CMYK, progressive and
    EXIF-rotated, WebP, PNG with tRNS, 16-bit PNG) and ffmpeg (GIF)."""
    from PIL import Image

    folder.mkdir()
    yy, xx = np.mgrid[0:36, 0:64]
    rgba = np.stack([xx * 4, yy * 7, 255 - xx * 4, 128 + yy * 3], axis=2).astype(np.uint8)
    picture = Image.fromarray(rgba, "RGBA")
    rgb = picture.convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    picture.save(folder / "rgba.png")
    picture.convert("L").save(folder / "grey.png")
    rgb.quantize(colors=16).save(folder / "palette-trns.png", transparency=bytes(range(0, 255, 16)))
    rgb.save(folder / "baseline.jpg", quality=90)
    rgb.save(folder / "progressive.jpg", quality=90, progressive=True)
    rgb.convert("CMYK").save(folder / "cmyk.jpg", quality=90)
    rgb.save(folder / "exif-rotated.jpg", quality=90, exif=exif.tobytes())
    picture.save(folder / "rgba.webp", lossless=True)
    rgb.save(folder / "lossy.webp", quality=80)
    rgb.quantize(colors=16).save(folder / "palette.gif")
    wide = cv2.cvtColor(rgba.astype(np.uint16) * 257, cv2.COLOR_RGBA2BGRA)
    ok, png16 = cv2.imencode(".png", wide)
    assert ok
    (folder / "rgba16.png").write_bytes(bytes(png16))
    return folder


def decode_digests(folder: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", DECODE_SCRIPT.replace("/pictures", str(folder))],
                          capture_output=True, text=True, check=True)  # fmt: skip
    digests: dict[str, Any] = json.loads(done.stdout)
    return digests


def toolchain_fingerprint() -> dict[str, Any]:
    def digest(path: Path | str) -> str:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()

    version = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
    return {
        "ffmpeg": [version.splitlines()[0], digest(ffmpeg_exe())],
        "fonts": {
            lang: [[f.family, digest(f.path)] for f in subtitle_fonts(lang)]
            for lang in ("chinese", "english")
        },
    }


def settings_of(options: dict[str, Any], watermark: Path | None = None) -> RenderSettings:
    """The settings the worker builds from a job's options (cloudburst_worker/batch.py)."""
    return RenderSettings(
        language=options["language"],
        enable_zoom=options["enable_zoom"],
        is_portrait=options.get("is_portrait", False),
        watermark=watermark,
        background_box=options["background_box"],
        background_opacity=options.get("background_opacity", 0.2),
        threads=1,
    )


def render_locally(
    scene: SceneAssets, settings: RenderSettings, folder: Path, *, subtitles: bool = True
) -> Path:
    subtitle = scene.subtitle if subtitles else None
    result = render_scene(
        SceneInput(scene.scene_name, scene.image, scene.audio, subtitle),
        settings,
        folder / f"{scene.scene_name}.mp4",
    )
    assert result.ok, result.error
    return result.output


def planes(path: Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every frame's Y, U, V planes as int16 (decoded, no colour conversion)."""
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(tuple(np.asarray(p, np.int16) for p in _yuv(frame)))
    return frames  # type: ignore[return-value]


def _yuv(frame: av.VideoFrame) -> list[np.ndarray]:
    h, w = frame.height, frame.width
    data = frame.to_ndarray(format="yuv420p")
    quarter = h // 4
    return [
        data[:h],
        data[h : h + quarter].reshape(h // 2, w // 2),
        data[h + quarter :].reshape(h // 2, w // 2),
    ]


def max_frame_difference(a: Path, b: Path) -> int:
    """Largest per-pixel difference of any plane of any frame; the frame counts must match."""
    frames_a, frames_b = planes(a), planes(b)
    assert len(frames_a) == len(frames_b) > 0
    return max(
        int(np.abs(pa - pb).max())
        for fa, fb in zip(frames_a, frames_b, strict=True)
        for pa, pb in zip(fa, fb, strict=True)
    )


def make_logo(path: Path) -> Path:
    """An RGBA mark: an opaque white disc on a half-transparent blue square."""
    yy, xx = np.mgrid[0:128, 0:128]
    logo = np.zeros((128, 128, 4), np.uint8)
    logo[...] = (30, 60, 200, 128)
    logo[(yy - 64) ** 2 + (xx - 64) ** 2 < 40**2] = (255, 255, 255, 255)
    from PIL import Image

    Image.fromarray(logo, "RGBA").save(path)
    return path


def make_checkerboard(path: Path) -> Path:
    """A bright 1920x1080 picture of 60-px squares over a gradient."""
    yy, xx = np.mgrid[0:1080, 0:1920]
    squares = ((yy // 60 + xx // 60) % 2).astype(np.uint8) * 90
    rgb = np.stack([squares + 120, squares + 100 + xx * 40 // 1920, squares + 140], axis=2)
    from PIL import Image

    Image.fromarray(rgb.astype(np.uint8), "RGB").save(path)
    return path


def list_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def wait_for_records(s3: Any, bucket: str, prefix: str, count: int, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        keys = list_keys(s3, bucket, prefix)
        if len(keys) >= count:
            return keys
        time.sleep(0.1)
    raise AssertionError(f"no {count} result records under {prefix} within {timeout:g} s")
