"""Test media made on the fly (ffmpeg lavfi, numpy, PIL) and PyAV probes of outputs.

A uniquely named module (not conftest) so test files can import it without clashing
with other directories' conftest modules.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from cloudburst_worker.render.ffmpeg import ffmpeg_exe
from PIL import Image


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def make_tone(path: Path, seconds: float, *, rate: int = 44_100, channels: int = 1) -> Path:
    ffmpeg(
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={rate}:duration={seconds}",
        "-ac", str(channels), str(path),
    )  # fmt: skip
    return path


def make_picture(path: Path, width: int, height: int, *, alpha: bool = False) -> Path:
    """A smooth colour gradient with a grid of dots: textured enough for motion checks."""
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack(
        [
            xx * 255 // max(1, width - 1),
            yy * 255 // max(1, height - 1),
            255 - xx * 255 // max(1, width),
        ],
        axis=-1,
    ).astype(np.uint8)
    step = max(4, min(width, height) // 12)
    rgb[(yy % step < step // 4) & (xx % step < step // 4)] = 255
    if alpha:
        a = np.full((height, width, 1), 255, np.uint8)
        a[:, : width // 2] = 0
        Image.fromarray(np.concatenate([rgb, a], axis=-1), "RGBA").save(path)
    else:
        Image.fromarray(rgb, "RGB").save(path)
    return path


@dataclass(frozen=True)
class Probe:
    width: int
    height: int
    video_codec: str
    pix_fmt: str
    fps: float
    frames: int
    video_seconds: float
    audio_codec: str
    sample_rate: int
    channels: int
    audio_bitrate: int
    container_seconds: float
    colour: tuple[str, str, str, str]  # primaries, transfer, matrix, range


def probe(path: Path) -> Probe:
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert v.duration is not None
        assert v.time_base is not None
        assert c.duration is not None
        return Probe(
            width=v.width,
            height=v.height,
            video_codec=v.codec_context.name,
            pix_fmt=str(v.codec_context.pix_fmt),
            fps=float(v.average_rate or 0),
            frames=v.frames,
            video_seconds=float(v.duration * v.time_base),
            audio_codec=a.codec_context.name,
            sample_rate=a.sample_rate,
            channels=a.channels,
            audio_bitrate=a.bit_rate or 0,
            container_seconds=c.duration / 1_000_000,
            colour=_colour(v.codec_context),
        )


def frame_at(path: Path, seconds: float) -> np.ndarray:
    """The decoded RGB frame shown at ``seconds``."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        for frame in c.decode(stream):
            if frame.time is not None and frame.time + 1e-6 >= seconds:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError(f"no frame at {seconds}s in {path}")


def luma_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="gray").astype(np.float32) for f in c.decode(video=0)]


def audio_seconds(path: Path) -> float:
    """Decoded length of an audio file (what the video must match)."""
    samples, rate = 0, 0
    with av.open(str(path)) as c:
        for frame in c.decode(audio=0):
            samples += frame.samples
            rate = frame.sample_rate
    return samples / rate


def make_noise_picture(path: Path, width: int, height: int) -> Path:
    """Blurred random texture: no periodicity, so image registration is unambiguous."""
    rng = np.random.default_rng(7)
    small = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    rgb = np.asarray(Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC))
    Image.fromarray(rgb).save(path)
    return path


def _colour(ctx: Any) -> tuple[str, str, str, str]:
    names = {1: "bt709", 2: "unspecified"}
    ranges = {1: "tv", 2: "pc"}
    return (
        names.get(int(ctx.color_primaries), str(ctx.color_primaries)),
        names.get(int(ctx.color_trc), str(ctx.color_trc)),
        names.get(int(ctx.colorspace), str(ctx.colorspace)),
        ranges.get(int(ctx.color_range), str(ctx.color_range)),
    )
