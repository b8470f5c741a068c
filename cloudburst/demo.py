"""``cloudburst demo`` (what ``make demo`` runs): what the product is for, through its own CLI.

Two jobs on the embedded local stack, driven exactly as a user drives a deployment:

1. a folder in the earlier tools' layout (``images/scene_001_chinese.png``,
   ``audio/scene_001_chinese.mp3`` + ``.srt``) — Chinese narration, subtitles in a box,
   Ken Burns zoom, a watermark — sent with ``cloudburst submit FOLDER --episode``, so it
   also comes back as one episode (fades between scenes, background music ducked under the
   narration, Chinese subtitles as ``episode.srt``/``.vtt``);
2. a manifest with local paths — English, portrait (1080×1920), pan left and pan right,
   the same watermark — sent with ``cloudburst submit MANIFEST``;

then ``cloudburst watch JOB --fetch DIR`` follows each to the end and downloads it into
``./cloudburst_results/<job_id>/``, next to the verified webhook. The assets are generated
with the ffmpeg of the ``imageio-ffmpeg`` wheel, so nothing but the Python environment is
needed.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from chalicelib.contracts import INPUTS_PREFIX, MANIFEST_SUFFIX, MANIFESTS_PREFIX
from cloudburst.local.console import Tee
from cloudburst.local.stack import LocalStack

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
CHINESE_NARRATION = (
    "欢迎使用云爆发视频渲染。",
    "把一个文件夹交给它就行。",
    "每一批场景在自己的任务里渲染。",
    "字幕、缩放和水印一次完成。",
    "结果和报告一起下载到本地。",
    "签名的回调告诉你已经完成。",
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
    narration: Sequence[str] = _NARRATION,
) -> list[SceneAssets]:
    """Still images (gradients), narration-like audio (a wobbling voiced tone) and SRTs.

    Every ``subtitles_every``-th scene (the first included) gets a subtitle file whose text
    is taken from ``narration``.
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
            subtitle.write_text(_srt(narration[index % len(narration)], duration), "utf-8")
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
    prefix = f"{INPUTS_PREFIX}{name}/"
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
    key = f"{MANIFESTS_PREFIX}{name}{MANIFEST_SUFFIX}"
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
    command: Callable[[list[str]], int],
    *,
    results_root: Path = RESULTS_ROOT,
    scenes: int = 3,
    timeout: float = 300.0,
    webhook_timeout: float = 30.0,
    quiet: bool = True,
    out: TextIO = sys.stdout,
) -> list[Path]:
    """Run both jobs through ``command`` (the CLI's ``main``, passed in so this module does
    not import the CLI that imports it); returns their results folders or raises
    :class:`DemoFailed`."""
    terminal = _Terminal(command, out)
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
        root = Path(tmp)
        print(f"▶ generating {scenes} Chinese scenes and 2 English ones…", file=out)
        folder, manifest, logo = make_demo_inputs(root, scenes, stamp)
        music = make_music(root / "music.mp3", 6.0)
        # The stack exported what `cloudburst local up` prints; the CLI resolves it from there.
        common = ["--config-priority", "5", "--watermark", str(logo)]
        chinese = terminal.run(
            "submit", str(folder), "--scenes-per-batch", "2", "--min-scenes-per-batch",
            "1", "--max-parallel-tasks", "2", *common,
            "--episode", "--transition", "fade:0.5", "--pause", "0.3", "--music", str(music),
        )  # fmt: skip
        english = terminal.run("submit", str(manifest), "--portrait", *common)
        results: list[Path] = []
        for submitted in (chinese, english):
            job_id = submitted.splitlines()[0].removeprefix("job ").strip()
            target = results_root / job_id
            if target.exists():
                shutil.rmtree(target)
            code = terminal.code("watch", job_id, "--fetch", str(target), "--timeout", str(timeout))
            hooks = stack.receiver.wait_for(1, timeout=webhook_timeout, job_id=job_id)
            if hooks and hooks[0].path is not None:
                shutil.copyfile(hooks[0].path, target / "webhook.json")
            _summary(job_id, target, hooks, out)
            if code != 0:
                raise DemoFailed(f"job {job_id} did not succeed; see {target / 'job.json'}")
            if not hooks:
                raise DemoFailed(f"no verified webhook for {job_id} within {webhook_timeout:.0f}s")
            if hooks[0].type != "job.succeeded":
                raise DemoFailed(f"webhook type was {hooks[0].type}, expected job.succeeded")
            results.append(target)
        return results


def make_demo_inputs(root: Path, scenes: int, stamp: str) -> tuple[Path, Path, Path]:
    """The Chinese folder, the English manifest (local paths) and the watermark."""
    folder = root / f"demo-{stamp}-chinese"
    make_scene_assets(
        folder, scenes, language="chinese", subtitles_every=1, narration=CHINESE_NARRATION
    )
    english = make_scene_assets(root / "english", 2, durations=(2.8, 2.6), subtitles_every=1)
    manifest = root / f"demo-{stamp}-english.json"
    manifest.write_text(
        json.dumps(
            {
                "version": 1,
                "language": "english",
                "scenes": [
                    {
                        "scene_name": scene.scene_name,
                        "image_path": str(scene.image.relative_to(root)),
                        "audio_path": str(scene.audio.relative_to(root)),
                        "subtitle_path": str(scene.subtitle.relative_to(root)),
                        "effect": effect,
                    }
                    for scene, effect in zip(english, ("pan_left", "pan_right"), strict=True)
                    if scene.subtitle is not None
                ],
                "background_box": True,
                "background_opacity": 0.3,
            },
            indent=2,
        ),
        "utf-8",
    )
    logo = root / "logo.png"
    import imageio_ffmpeg

    _ffmpeg(
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-f", "lavfi", "-i", "color=c=0xff6600@0.75:s=320x120,format=rgba",
        "-vf", "drawbox=x=12:y=12:w=296:h=96:color=white@0.9:t=10",
        "-frames:v", "1", str(logo),
    )  # fmt: skip
    return folder, manifest, logo


def make_music(path: Path, seconds: float) -> Path:
    """A short background loop (two soft chords): the episode loops and ducks it."""
    import imageio_ffmpeg

    chord = "+".join(f"0.08*sin(2*PI*{f}*t)" for f in (220, 277.18, 329.63))
    other = "+".join(f"0.08*sin(2*PI*{f}*t)" for f in (196, 246.94, 293.66))
    half = seconds / 2
    expression = f"if(lt(mod(t,{seconds}),{half}),{chord},{other})"
    _ffmpeg(
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-f", "lavfi", "-i", f"aevalsrc=exprs='{expression}|{expression}':s=48000:d={seconds}",
        "-c:a", "libmp3lame", "-b:a", "128k", str(path),
    )  # fmt: skip
    return path


@dataclass(frozen=True)
class _Terminal:
    """``cloudburst`` commands run as the user would type them, echoed to ``out``."""

    command: Callable[[list[str]], int]
    out: TextIO

    def run(self, *argv: str) -> str:
        """What the command printed; DemoFailed if it exited non-zero."""
        printed = io.StringIO()
        code = self._run(printed, argv)
        if code != 0:
            raise DemoFailed(f"`cloudburst {' '.join(argv)}` exited {code}")
        return printed.getvalue()

    def code(self, *argv: str) -> int:
        return self._run(io.StringIO(), argv)

    def _run(self, printed: io.StringIO, argv: Sequence[str]) -> int:
        shown = " ".join(_shorten(a) for a in argv)
        print(f"$ cloudburst {shown}", file=self.out, flush=True)
        with contextlib.redirect_stdout(Tee(self.out, printed)):
            return self.command(list(argv))


def _shorten(argument: str) -> str:
    """Temporary paths shown by their last part, so the commands read like a user's."""
    path = Path(argument)
    return path.name if path.is_absolute() and len(argument) > 30 else argument


def _summary(job_id: str, results: Path, hooks: list[Any], out: TextIO) -> None:
    videos = sorted(results.glob("*.mp4"))
    print(f"▶ job {job_id}: {len(videos)} videos in {results}/", file=out)
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
        episode = data.get("episode")
        if episode:
            sidecars = ", ".join(Path(k).name for k in episode["subtitles_keys"])
            print(
                f"  episode     {results / Path(episode['key']).name}  "
                f"({episode['duration']:.1f} s, {episode['loudness_lufs']:.1f} LUFS, "
                f"{episode['seams_reencoded']} seams re-encoded; subtitles {sidecars})",
                file=out,
            )
    sheet = results / "contact_sheet.jpg"
    if sheet.exists():
        print(f"  contact     {sheet}  (every scene's poster: posters/)", file=out)
    if hooks:
        print(
            f"  webhook     {results / 'webhook.json'}  ({hooks[0].type}, signature verified)",
            file=out,
        )


def _ffmpeg(ffmpeg: str, *args: str) -> None:
    subprocess.run(
        [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", *args],
        check=True,
        timeout=_FFMPEG_TIMEOUT_SECONDS,
        capture_output=True,
    )


def _srt(text: str, duration: float) -> str:
    """Two cues, each half of ``text`` (by words, or by characters for Chinese)."""
    middle = duration / 2

    def stamp(seconds: float) -> str:
        millis = round(seconds * 1000)
        return f"00:00:{millis // 1000:02d},{millis % 1000:03d}"

    spaced = " " in text
    parts = text.split() if spaced else list(text)
    half = max(1, len(parts) // 2)
    joiner = " " if spaced else ""
    return (
        f"1\n{stamp(0.1)} --> {stamp(middle)}\n{joiner.join(parts[:half])}\n\n"
        f"2\n{stamp(middle)} --> {stamp(duration - 0.1)}\n{joiner.join(parts[half:])}\n"
    )
