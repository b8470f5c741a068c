"""Test media for the assembler: narrations with silences, scenes rendered by our renderer,
and probes that read the files (PyAV, ffmpeg ebur128/silencedetect), never our bookkeeping."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from cloudburst_worker.episode import SceneInput
from cloudburst_worker.render import RenderSettings, render_scene
from cloudburst_worker.render import SceneInput as RenderInput
from cloudburst_worker.render.ffmpeg import ffmpeg_exe
from PIL import Image

from chalicelib.episode import Episode, Transition, keyframe_reach, seam_transitions


def ffmpeg(*args: str) -> str:
    done = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stderr


def narration(path: Path, seconds: float, *, frequency: int, silence: float = 0.0) -> Path:
    """A tone of ``seconds`` (any length: not whole frames, not whole AAC frames) at 44.1 kHz
    mono, with ``silence`` seconds of silence in the middle, saved as WAV."""
    rate = 44_100
    t = np.arange(round(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * frequency * t)
    if silence:
        middle = len(t) // 2
        wave[middle : middle + round(silence * rate)] = 0
    pcm = (wave * 32767).astype("<i2").tobytes()
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "s16le", "-ar",
         str(rate), "-ac", "1", "-i", "pipe:0", str(path)],
        input=pcm, check=True,
    )  # fmt: skip
    return path


def picture(path: Path, colour: tuple[int, int, int]) -> Path:
    image = np.zeros((180, 320, 3), np.uint8)
    image[:] = colour
    image[60:120, 100:220] = 255 - np.array(colour, np.uint8)
    Image.fromarray(image).save(path)
    return path


def music(path: Path, seconds: float) -> Path:
    ffmpeg("-loglevel", "error", "-f", "lavfi", "-i",
           f"anoisesrc=color=pink:amplitude=0.5:duration={seconds}:sample_rate=44100",
           "-ac", "2", str(path))  # fmt: skip
    return path


def render_scenes(
    root: Path,
    lengths: list[float],
    spec: Episode,
    *,
    silence: float = 0.0,
    own: list[Transition | None] | None = None,
    keyframes: bool = True,
) -> list[SceneInput]:
    """Scenes rendered by the renderer with the keyframes the episode needs."""
    root.mkdir(parents=True, exist_ok=True)
    names = [f"scene {i}" for i in range(len(lengths))]
    own = own or [None] * len(lengths)
    seams = seam_transitions(spec, own)
    settings = RenderSettings(enable_zoom=False, threads=1)
    scenes = []
    for i, seconds in enumerate(lengths):
        audio = narration(root / f"n{i}.wav", seconds, frequency=300 + 40 * i, silence=silence)
        image = picture(root / f"p{i}.png", ((60 * i) % 256, 90, 200 - (30 * i) % 200))
        srt = root / f"s{i}.srt"
        srt.write_text(f"1\n00:00:00,000 --> 00:00:00,500\n字幕 {i}\n", "utf-8")
        reach = keyframe_reach(seams[i - 1] if i else None, seams[i] if i < len(seams) else None,
                               spec.pause)  # fmt: skip
        if not keyframes:
            reach = (0, 0)
        result = render_scene(
            RenderInput(names[i], image, audio, keyframe_reach=reach, effect="none"),
            settings,
            root / f"{names[i]}.mp4",
        )
        assert result.ok, result.error
        scenes.append(SceneInput(names[i], result.output, audio, srt, own[i]))
    return scenes


@dataclass(frozen=True)
class Probe:
    video_seconds: float
    audio_seconds: float
    frames: int
    chapters: list[str]
    faststart: bool


def probe(path: Path) -> Probe:
    with av.open(str(path)) as container:
        v, a = container.streams.video[0], container.streams.audio[0]
        rate = a.rate
        # the track's duration (edit list included): what a player shows, to the sample
        video_end = float((v.duration or 0) * v.time_base) if v.time_base else 0.0
        frames = sum(1 for p in container.demux(v) if p.size)
        chapters = [c["metadata"].get("title", "") for c in container.chapters()]
    pcm = subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-i",
            str(path),
            "-map",
            "0:a:0",
            "-ac",
            "1",
            "-f",
            "s16le",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout  # ffmpeg applies the MP4 edit list (priming and padding), as players do
    audio_end = len(pcm) / 2 / rate
    head = path.read_bytes()[:200_000]
    return Probe(video_end, audio_end, frames, chapters, head.find(b"moov") < head.find(b"mdat"))


def ebur128(path: Path) -> tuple[float, float]:
    text = ffmpeg("-i", str(path), "-map", "0:a:0", "-af", "ebur128=peak=true:framelog=quiet",
                  "-f", "null", "-")  # fmt: skip
    integrated = float(re.findall(r"I:\s+(-?[\d.]+) LUFS", text)[-1])
    peak = float(re.findall(r"Peak:\s+(-?[\d.]+) dBFS", text)[-1])
    return integrated, peak


def silences(
    path: Path, *, noise_db: float = -50, minimum: float = 0.001
) -> list[tuple[float, float]]:
    detect = f"silencedetect=noise={noise_db}dB:d={minimum}"
    text = ffmpeg("-i", str(path), "-map", "0:a:0", "-af", detect, "-f", "null", "-")
    starts = [float(x) for x in re.findall(r"silence_start: (-?[\d.]+)", text)]
    ends = [float(x) for x in re.findall(r"silence_end: (-?[\d.]+)", text)]
    return list(zip(starts, ends + [float("inf")] * (len(starts) - len(ends)), strict=True))


def source_seconds(path: Path) -> float:
    """A narration's length, decoded by ffmpeg at 48 kHz like every consumer does."""
    pcm = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-ac", "1", "-ar", "48000",
         "-f", "s16le", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return len(pcm) / 2 / 48_000


def noise_level_db(path: Path, start: float, end: float, tone: float) -> float:
    """Level of everything but the narration's tone (± 30 Hz) between two times: the music."""
    pcm = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-ss", f"{start:.4f}", "-t", f"{end - start:.4f}",
         "-i", str(path), "-map", "0:a:0", "-ac", "1", "-f", "f32le", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    data = np.frombuffer(pcm, "<f4")
    window = np.hanning(len(data))
    spectrum = np.abs(np.fft.rfft(data * window)) ** 2
    freqs = np.fft.rfftfreq(len(data), 1 / 48_000)
    keep = (np.abs(freqs - tone) > 30) & (freqs > 20)
    # mean power (Parseval, one-sided), independent of the window's length
    return float(10 * np.log10(2 * spectrum[keep].sum() / (len(data) * np.sum(window**2)) + 1e-20))
