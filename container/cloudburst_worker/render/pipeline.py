"""render_scene: validate and decode the inputs, then one x264/AAC encode to a temp name."""

from __future__ import annotations

import logging
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import cv2

from chalicelib.contracts import Effect
from cloudburst_worker.render import damage, frames, motion, stillgop
from cloudburst_worker.render.commands import (
    FPS,
    PCM_BYTES_PER_SECOND,
    SAMPLE_RATE,
    SHIPPED_ENCODER,
    Encoder,
    decode_audio_args,
    encode_args,
    forced_keyframes,
)
from cloudburst_worker.render.ffmpeg import FfmpegError, run_ffmpeg
from cloudburst_worker.render.mp4 import mp4_duration_seconds
from cloudburst_worker.render.scene import RenderResult, RenderSettings, SceneInput
from cloudburst_worker.render.subtitles import SubtitleError, build_ass

log = logging.getLogger(__name__)

LANDSCAPE = (1920, 1080)
PORTRAIT = (1080, 1920)


class SceneError(Exception):
    """An input problem the user can fix; the message is shown to them as is."""


def render_scene(scene: SceneInput, settings: RenderSettings, output: Path) -> RenderResult:
    """Render one scene to ``output``; never raises for bad inputs or ffmpeg failures.

    Failures come back as ``ok=False`` with a reason. The MP4 is written under a hidden
    temporary name beside ``output`` and renamed, so ``output`` is either whole or absent.
    """
    return _render_scene(scene, settings, output, SHIPPED_ENCODER, lossless=False)


def _render_scene(
    scene: SceneInput,
    settings: RenderSettings,
    output: Path,
    encoder: Encoder,
    *,
    lossless: bool,
) -> RenderResult:
    start = time.monotonic()
    output = Path(output).absolute()  # ffmpeg runs in a scratch folder: relative paths move
    partial = output.parent / f".{output.name}.{uuid.uuid4().hex[:8]}.partial"
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="cloudburst-render-") as work:
            _render_into(scene, settings, partial, Path(work), start, encoder, lossless)
        duration = mp4_duration_seconds(partial)
        os.replace(partial, output)
        size = output.stat().st_size
        return RenderResult(True, output, duration, time.monotonic() - start, size, None)
    except SceneError as exc:
        reason = str(exc)
    except FfmpegError as exc:
        if exc.timed_out:
            reason = _over_time(scene, settings)
        else:
            reason = f"scene '{scene.name}' could not be encoded: {exc.tail}"
    except Exception as exc:  # never raise out of the renderer: the batch must go on
        reason = f"scene '{scene.name}' failed inside the renderer: {type(exc).__name__}: {exc}"
    partial.unlink(missing_ok=True)
    return RenderResult(False, output, 0.0, time.monotonic() - start, 0, reason)


def _render_into(
    scene: SceneInput,
    settings: RenderSettings,
    partial: Path,
    work: Path,
    start: float,
    encoder: Encoder,
    lossless: bool,
) -> None:
    def remaining() -> float:
        left = settings.timeout_seconds - (time.monotonic() - start)
        if left <= 0:
            raise SceneError(_over_time(scene, settings))
        return left

    cv2.setNumThreads(max(1, settings.threads))
    width, height = PORTRAIT if settings.is_portrait else LANDSCAPE
    pcm = work / "audio.pcm"
    effect = motion.choose_effect(scene.name, scene.effect, settings.enable_zoom)
    still = effect == "none"
    # Set-up before the encoder runs is pure overhead against the encode-only limit, so
    # the picture is prepared on a thread while ffmpeg decodes the audio, and the encoder
    # is started before the picture is ready (the frame source waits for it).
    with ThreadPoolExecutor(max_workers=1) as pool:
        picture = pool.submit(_prepare_picture, scene, settings, effect, width, height, remaining())
        audio_seconds = _decode_audio(scene.audio, pcm, remaining())
        frame_count = max(1, round(audio_seconds * FPS))
        keyframes = forced_keyframes(frame_count, *scene.keyframe_reach)
        subtitles = fonts_dir = None
        if scene.subtitle is not None:
            subtitles, fonts_dir = _write_subtitles(
                scene.subtitle, settings, width, height, audio_seconds, work
            )

        @cache
        def ready() -> tuple[frames.YuvFrame, frames.Overlay | None]:
            base, overlay = picture.result()
            if still and overlay is not None:
                frames.composite(base, overlay)  # once: a still carries its watermark
                return base, None
            return base, overlay

        def frame_source() -> Iterator[bytes | memoryview]:
            base, overlay = ready()
            if still:
                yield from (base.y.data, base.u.data, base.v.data)
            else:
                yield from motion.moving_frames(base, width, height, effect, frame_count, overlay)

        def encode(count: int, output: Path | None, gop: int | None = None) -> bytes:
            args = encode_args(
                width=width,
                height=height,
                frame_count=count,
                still=still,
                pcm=pcm,
                output=output,
                subtitles=subtitles,
                fonts_dir=fonts_dir,
                threads=settings.threads,
                encoder=encoder,
                lossless=lossless,
                gop=gop,
                keyframes=keyframes,
            )
            run = run_ffmpeg(
                args,
                timeout=remaining(),
                stdin_chunks=frame_source(),
                capture_stdout=output is None,
                cwd=str(work),
            )
            return run.stdout

        # Unchanging frames (a still without subtitles): encode one GOP, repeat it when muxing
        repeat = still and settings.repeat_still_gops and not (subtitles or lossless)
        plan = stillgop.plan_still_gops(frame_count, keyframes) if repeat else None
        if plan is not None:
            encoded = encode(plan.encoded_frames, None, plan.gop)
            try:
                stillgop.write_repeated(encoded, plan, round(audio_seconds * SAMPLE_RATE), partial)
                return
            except stillgop.GopMismatch as exc:
                log.warning("scene %s: GOPs not repeatable (%s); one pass", scene.name, exc)
        encode(frame_count, partial)


def _prepare_picture(
    scene: SceneInput,
    settings: RenderSettings,
    effect: Effect,
    width: int,
    height: int,
    timeout: float,
) -> tuple[frames.YuvFrame, frames.Overlay | None]:
    """The scene's picture fitted (at the move's oversize) in yuv420p, and the watermark."""
    oversize = motion.base_scale(effect)
    rgb = frames.flatten_alpha(_decode_image(scene.image, "image", timeout))
    base_w, base_h = _even(width * oversize), _even(height * oversize)
    base = frames.rgb_to_yuv420(frames.fit_to_frame(rgb, base_w, base_h))
    overlay = None
    if settings.watermark is not None:
        mark = _decode_image(settings.watermark, "watermark", timeout)
        overlay = frames.make_overlay(mark, width)
    return base, overlay


def _write_subtitles(
    srt: Path,
    settings: RenderSettings,
    width: int,
    height: int,
    audio_seconds: float,
    work: Path,
) -> tuple[str, str]:
    """The ASS file and a fonts folder for libass, both relative to ``work``."""
    try:
        ass = build_ass(srt, settings, width, height, audio_seconds)
    except SubtitleError as exc:
        raise SceneError(str(exc)) from exc
    (work / "subtitles.ass").write_text(ass.text, encoding="utf-8")
    (work / "fonts").mkdir()
    for index, font_file in enumerate(ass.font_files):
        (work / "fonts" / f"{index}{font_file.suffix.lower()}").symlink_to(font_file)
    return "subtitles.ass", "fonts"


def _over_time(scene: SceneInput, settings: RenderSettings) -> str:
    return f"scene '{scene.name}' took longer than its {settings.timeout_seconds:g} s limit"


def _decode_audio(audio: Path, pcm: Path, timeout: float) -> float:
    _require_file(audio, "audio")
    decode_audio_checked(audio, "audio", decode_audio_args(audio, pcm), timeout)
    seconds = pcm.stat().st_size / PCM_BYTES_PER_SECOND
    if seconds < 1 / FPS:
        raise SceneError(f"audio '{audio.name}' is empty (shorter than one video frame)")
    return seconds


def decode_audio_checked(audio: Path, role: str, args: list[str], timeout: float) -> None:
    """Run ffmpeg's decode of ``audio`` (``args`` log warnings); a SceneError naming the
    file when it is cut, holds no audio or loses data — ffmpeg exits 0 on a cut file, and a
    narration or music bed would end early, silently."""
    cut = damage.audio_damage(audio)
    if cut:
        raise SceneError(f"{role} '{audio.name}' is damaged: {cut}")
    try:
        run = run_ffmpeg(args, timeout=timeout)
    except FfmpegError as exc:
        if exc.timed_out:
            raise
        if exc.mentions("matches no streams"):
            raise SceneError(f"{role} '{audio.name}' has no audio stream") from exc
        raise SceneError(f"{role} '{audio.name}' could not be decoded: {exc.tail}") from exc
    lost = damage.lost_data(run.stderr_tail)
    if lost:
        raise SceneError(f"{role} '{audio.name}' is damaged or cut short: {lost}")


def _decode_image(path: Path, role: str, timeout: float) -> frames.U8:
    _require_file(path, role)
    try:
        return frames.decode_picture(path, timeout)
    except FfmpegError as exc:
        if exc.timed_out:
            raise
        tail = exc.tail
        if exc.mentions("matches no streams"):
            tail = "the file holds no picture"
        raise SceneError(f"{role} '{path.name}' could not be decoded: {tail}") from exc
    except ValueError as exc:
        raise SceneError(f"{role} '{path.name}' could not be decoded: {exc}") from exc
    except MemoryError:
        raise SceneError(f"{role} '{path.name}' is too large to decode in memory") from None


def _require_file(path: Path, role: str) -> None:
    if not Path(path).is_file():
        raise SceneError(f"{role} '{Path(path).name}' does not exist")
    if Path(path).stat().st_size == 0:
        raise SceneError(f"{role} '{Path(path).name}' is an empty file")


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)
