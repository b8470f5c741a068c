"""Episode bench: assembling a job's scenes against copying their bytes and re-encoding all.

Run: ``.venv/bin/python bench/episode.py [--scenes 60] [--seconds 10]`` (60 scenes of 10 s
take about 15-25 minutes on 2 cores, most of it rendering the scenes and the full
re-encode leg; not run by CI).

In one run, on the same scenes (rendered by the renderer with alternating zoom/pan moves,
the keyframes the episode's fades need, narrations of awkward lengths holding a silence):
- ``assembly_s``: :func:`assemble_episode` with 0.5-s fades, music and loudness -16 LUFS,
  in a child process whose peak RSS (with its ffmpeg children) is ``peak_rss_mb``;
- ``copy_s``: copying the same scene files (the I/O limit);
- ``full_reencode_s``: one x264 encode of the whole episode timeline with the renderer's
  settings (decoding the assembled episode, re-encoding every frame, audio copied).
Quality, read back from the files: the largest inserted silence at any join (an assembly of
the same scenes without music, so the music cannot hide a gap), audio-vs-video end drift,
loudness error and true peak (ebur128), and the music's level in narration silences minus
under narration (spectrum without the narration's tone).

Writes ``bench/results/episode.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "container"), str(ROOT)]

from cloudburst_worker.episode import SceneInput, assemble_episode  # noqa: E402
from cloudburst_worker.render import RenderSettings, render_scene  # noqa: E402
from cloudburst_worker.render import SceneInput as RenderInput  # noqa: E402
from cloudburst_worker.render.commands import SHIPPED_ENCODER  # noqa: E402
from cloudburst_worker.render.ffmpeg import ffmpeg_exe  # noqa: E402

from chalicelib.contracts import Effect  # noqa: E402
from chalicelib.episode import Episode, keyframe_reach, parse_episode, seam_transitions  # noqa: E402
from tests.episode.episode_media import noise_level_db  # noqa: E402  (the probe the tests use)

RESULTS = ROOT / "bench" / "results" / "episode.json"
SILENCE_S = 1.2  # inside every narration: the music comes back up there
EFFECTS: tuple[Effect, ...] = ("zoom_in", "pan_left", "zoom_out", "pan_right")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--keep", type=Path, default=None, help="work folder to keep")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cloudburst-episode-bench-", dir=args.keep))
    try:
        result = run(work, args.scenes, args.seconds)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    print(json.dumps(result, indent=2))
    return 0


def run(work: Path, count: int, seconds: float) -> dict[str, Any]:
    spec = parse_episode(
        {
            "transition": {"type": "fade", "duration": 0.5},
            "music": {"path": "music.wav", "volume": 0.3, "ducking_db": -12},
            "loudness": {"target_lufs": -16, "true_peak_db": -1.5},
        }
    )
    started = time.monotonic()
    scenes = render_scenes(work / "scenes", count, seconds, spec)
    render_s = time.monotonic() - started
    music = work / "music.wav"
    _ffmpeg("-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.4:duration=47:sample_rate=44100",
            "-ac", "2", str(music))  # fmt: skip

    copy_s = timed_copy(scenes, work / "copy")
    assembled = in_child(spec, scenes, work / "out", music)
    episode = Path(assembled["path"])
    full_reencode_s, full_reencode_cpu_s = full_reencode(episode, work / "full.mp4")

    plain = assemble_episode(
        parse_episode({"transition": {"type": "fade", "duration": 0.5}, "loudness": None}),
        scenes,
        work / "plain",
    )
    starts = [c[1] for c in plain.chapters[1:]]
    gap_ms = max_join_gap_ms(plain.path, starts)

    video_s, audio_s = stream_ends(episode)
    integrated, peak = ebur128(episode)
    ducking = ducking_db(episode, assembled["chapters"], seconds)
    assert spec.loudness is not None
    return {
        "assembly_s": round(assembled["seconds"], 2),
        "copy_s": round(copy_s, 3),
        "full_reencode_s": round(full_reencode_s, 2),
        "ratio_to_copy": round(assembled["seconds"] / copy_s, 1),
        "ratio_to_full_reencode": round(assembled["seconds"] / full_reencode_s, 3),
        "reencoded_seconds": round(assembled["reencoded_seconds"], 2),
        "max_join_gap_ms": round(gap_ms, 2),
        "end_drift_ms": round(abs(video_s - audio_s) * 1000, 2),
        "loudness_error_lu": round(integrated - spec.loudness.target_lufs, 2),
        "true_peak_db": peak,
        "ducking_db": round(ducking, 1),
        "peak_rss_mb": round(assembled["peak_rss_mb"], 1),
        # the machine is shared: CPU seconds compare the two legs without the neighbours' load
        "assembly_cpu_s": round(assembled["cpu_s"], 1),
        "full_reencode_cpu_s": round(full_reencode_cpu_s, 1),
        "cpu_ratio_to_full_reencode": round(assembled["cpu_s"] / full_reencode_cpu_s, 3),
        "scenes": count,
        "episode_s": round(assembled["duration"], 2),
        "seams_reencoded": assembled["seams_reencoded"],
        "render_scenes_s": round(render_s, 1),
        "note": (
            "full 60-scene run"
            if count >= 60
            else f"{count} scenes (not the 60-scene target): the full-reencode leg was too long "
            "for the session; run `bench/episode.py` for the 60-scene figures"
        ),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }


def render_scenes(root: Path, count: int, seconds: float, spec: Episode) -> list[SceneInput]:
    """Scenes the way a job renders them: the episode's keyframes, two at a time."""
    root.mkdir(parents=True)
    seams = seam_transitions(spec, [None] * count)
    picture = root / "slide.png"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=1920x1080:duration=1", "-frames:v", "1",
            str(picture))  # fmt: skip
    jobs = []
    for i in range(count):
        length = seconds + 0.0371 * (i % 7) - 0.0123 * (i % 3)  # neither whole frames nor AAC
        audio = narration(root / f"n{i}.wav", length, 220 + 17 * i)
        reach = keyframe_reach(seams[i - 1] if i else None, seams[i] if i < len(seams) else None,
                               spec.pause)  # fmt: skip
        name = f"scene {i:03d}"
        jobs.append((RenderInput(name, picture, audio, effect=EFFECTS[i % 4], keyframe_reach=reach),
                     root / f"{name}.mp4"))  # fmt: skip
    settings = RenderSettings(threads=1)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.starmap(render_scene, [(scene, settings, out) for scene, out in jobs])
    for result in results:
        if not result.ok:
            raise SystemExit(result.error)
    return [SceneInput(s.name, out, s.audio) for s, out in jobs]


def narration(path: Path, seconds: float, frequency: int) -> Path:
    rate = 44_100
    t = np.arange(round(seconds * rate)) / rate
    wave = 0.25 * np.sin(2 * np.pi * frequency * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))
    middle = len(t) // 2
    wave[middle : middle + round(SILENCE_S * rate)] = 0
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "s16le", "-ar", str(rate),
         "-ac", "1", "-i", "pipe:0", str(path)],
        input=(wave * 32767).astype("<i2").tobytes(), check=True,
    )  # fmt: skip
    return path


def timed_copy(scenes: list[SceneInput], target: Path) -> float:
    target.mkdir()
    started = time.monotonic()
    for scene in scenes:
        shutil.copyfile(scene.video, target / scene.video.name)
    os.sync()
    return time.monotonic() - started


def in_child(spec: Episode, scenes: list[SceneInput], out: Path, music: Path) -> dict[str, Any]:
    """Assemble in a fresh process so its peak RSS (and its ffmpeg's) is the assembly's."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_assemble_measured, (spec, scenes, out, music))


def _assemble_measured(
    spec: Episode, scenes: list[SceneInput], out: Path, music: Path
) -> dict[str, Any]:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.monotonic()
    result = assemble_episode(spec, scenes, out, music_file=music, threads=2)
    seconds = time.monotonic() - started
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    own, children = usage[0].ru_maxrss, usage[1].ru_maxrss
    return {
        "path": str(result.path),
        "seconds": seconds,
        "duration": result.duration,
        "reencoded_seconds": result.reencoded_seconds,
        "seams_reencoded": result.seams_reencoded,
        "chapters": result.chapters,
        "peak_rss_mb": max(own, children) / 1024,
        "cpu_s": sum(u.ru_utime + u.ru_stime for u in usage),
    }


def full_reencode(episode: Path, output: Path) -> tuple[float, float]:
    """Every frame of the same timeline through x264 with the renderer's settings:
    (wall, CPU) seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    _ffmpeg("-i", str(episode), "-map", "0:v:0", "-map", "0:a:0",
            "-c:v", "libx264", "-preset", SHIPPED_ENCODER.preset, "-crf", str(SHIPPED_ENCODER.crf),
            "-pix_fmt", "yuv420p", "-threads", "2", "-c:a", "copy", "-movflags", "+faststart",
            str(output))  # fmt: skip
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def max_join_gap_ms(episode: Path, joins: list[float]) -> float:
    """The longest silence (≤ -50 dBFS, ≥ 0.1 ms) within 0.2 s of a join, in ms."""
    text = _ffmpeg("-i", str(episode), "-map", "0:a:0",
                   "-af", "silencedetect=noise=-50dB:d=0.0001", "-f", "null", "-")  # fmt: skip
    starts = [float(x) for x in re.findall(r"silence_start: (-?[\d.]+)", text)]
    ends = [float(x) for x in re.findall(r"silence_end: (-?[\d.]+)", text)]
    longest = 0.0
    for start, end in zip(starts, ends, strict=False):
        if any(start - 0.2 <= join <= end + 0.2 for join in joins):
            longest = max(longest, (end - start) * 1000)
    return longest


def stream_ends(episode: Path) -> tuple[float, float]:
    """Video track duration (edit list included) and decoded audio length, from the file."""
    import av

    with av.open(str(episode)) as container:
        video = container.streams.video[0]
        video_end = float((video.duration or 0) * (video.time_base or 0))
    pcm = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(episode), "-map", "0:a:0", "-ac", "1",
         "-ar", "48000", "-f", "s16le", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return video_end, len(pcm) / 2 / 48_000


def ebur128(episode: Path) -> tuple[float, float]:
    text = _ffmpeg("-i", str(episode), "-map", "0:a:0", "-af",
                   "ebur128=peak=true:framelog=quiet", "-f", "null", "-")  # fmt: skip
    return (
        float(re.findall(r"I:\s+(-?[\d.]+) LUFS", text)[-1]),
        float(re.findall(r"Peak:\s+(-?[\d.]+) dBFS", text)[-1]),
    )


def ducking_db(episode: Path, chapters: list[tuple[str, float, float]], seconds: float) -> float:
    """Music level in narration silences minus under narration, averaged over scenes."""
    differences = []
    for index, (_, start, end) in enumerate(chapters[: min(8, len(chapters))]):
        tone = 220 + 17 * index
        middle = start + (end - start) / 2
        under = noise_level_db(episode, start + 0.6, middle - 0.6, tone)
        quiet = noise_level_db(episode, middle + 0.45, middle + SILENCE_S - 0.25, tone)
        differences.append(quiet - under)
    return float(np.mean(differences))


def _ffmpeg(*args: str) -> str:
    done = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", *args],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return done.stderr


if __name__ == "__main__":
    sys.exit(main())
