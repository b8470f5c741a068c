"""assemble_episode: rendered scenes + their source narrations → the finished episode.

S3 stays outside: the batch runner downloads the scenes, narrations, subtitles and music
into local files, calls this, and uploads what :class:`EpisodeResult` lists. Everything is
written under hidden temporary names and renamed at the end, so ``out_dir`` holds either a
whole episode or none.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from chalicelib.episode import (
    SAMPLE_RATE,
    Cue,
    Episode,
    Timeline,
    Transition,
    merge_cues,
    plan_timeline,
    seam_transitions,
    srt_text,
    vtt_text,
)
from cloudburst_worker.episode import audio, commands, video
from cloudburst_worker.episode.posters import poster
from cloudburst_worker.render.ffmpeg import FfmpegError, run_ffmpeg
from cloudburst_worker.render.subtitles import SubtitleError, parse_srt, read_srt

log = logging.getLogger(__name__)


class EpisodeFailed(Exception):
    """Assembly failed for a reason the user can read (the job ends PARTIAL with it)."""


@dataclass(frozen=True)
class SceneInput:
    """One rendered scene: its MP4 and the sources it was rendered from."""

    name: str
    video: Path  # the scene's MP4, rendered with its keyframe_reach
    narration: Path  # the source audio the scene was rendered from (never its AAC)
    subtitle: Path | None = None  # the scene's SRT, if any
    transition: Transition | None = None  # the scene's own transition into the next one


@dataclass(frozen=True)
class EpisodeResult:
    path: Path
    key: str  # the file name to upload as outputs/<job>/<key>
    duration: float
    bytes: int
    loudness_lufs: float
    true_peak_db: float
    seams_reencoded: int
    reencoded_seconds: float
    subtitles: tuple[Path, ...]  # .srt and .vtt, when the episode has subtitles
    poster: Path
    assembly_seconds: float
    chapters: tuple[tuple[str, float, float], ...] = field(default=())


def assemble_episode(
    spec: Episode,
    scenes: Sequence[SceneInput],
    out_dir: Path,
    *,
    music_file: Path | None = None,
    threads: int = 2,
    timeout: float = 3600.0,
) -> EpisodeResult:
    """Assemble ``scenes`` (in order) as ``spec`` says into ``out_dir/<name>.mp4``.

    ``music_file`` is the downloaded ``spec.music.path``. Raises :class:`EpisodeFailed`.
    """
    start = time.monotonic()
    if not scenes:
        raise EpisodeFailed("an episode needs at least one scene")
    out_dir = Path(out_dir).absolute()
    out_dir.mkdir(parents=True, exist_ok=True)
    if spec.music is not None and music_file is None:
        raise EpisodeFailed(f"music '{spec.music.path}' was not provided to the assembler")
    try:
        with tempfile.TemporaryDirectory(prefix="cloudburst-episode-", dir=out_dir) as work:
            return _assemble(spec, scenes, out_dir, Path(work), music_file, threads, timeout, start)
    except (audio.AudioError, video.AssemblyError, SubtitleError) as exc:
        raise EpisodeFailed(str(exc)) from exc
    except FfmpegError as exc:
        raise EpisodeFailed(f"episode '{spec.name}' could not be assembled: {exc.tail}") from exc


def _assemble(
    spec: Episode,
    scenes: Sequence[SceneInput],
    out_dir: Path,
    work: Path,
    music_file: Path | None,
    threads: int,
    timeout: float,
    start: float,
) -> EpisodeResult:
    narrations = [work / f"narration{i}.pcm" for i in range(len(scenes))]
    audio_file = work / "audio.m4a"
    # The audio needs only the timeline and the narrations: it is built beside the video
    # (seams, then the copied track), not after it; leaving this block waits for it.
    with ThreadPoolExecutor(max_workers=1) as beside:
        timeline, reencoded, video_file, audio_run = _video_with_audio_beside(
            spec, scenes, work, narrations, music_file, audio_file, threads, timeout, start, beside
        )
        reading = audio_run.result()
    log.info("episode %s: audio track encoded at %.1f s", spec.name, _since(start))
    names = [s.name for s in scenes]
    chapters_file = None
    if spec.chapters:
        chapters_file = work / "chapters.txt"
        chapters_file.write_text(ffmetadata(timeline, names), "utf-8")
    partial = work / "episode.mp4"
    run_ffmpeg(commands.mux_args(video_file, audio_file, chapters_file, partial), timeout=timeout)

    final = out_dir / f"{spec.name}.mp4"
    sidecars: list[Path] = []
    if spec.subtitles and any(s.subtitle is not None for s in scenes):
        cues = merge_cues([_cues(s) for s in scenes], timeline)
        for suffix, text in ((".srt", srt_text(cues)), (".vtt", vtt_text(cues))):
            staged = work / f"episode{suffix}"
            staged.write_text(text, "utf-8")
            sidecars.append(staged)
    cover = poster(partial, work / "episode.jpg", timeout=timeout)
    published = [final]
    os.replace(partial, final)
    for staged in [*sidecars, cover]:
        target = out_dir / f"{spec.name}{staged.suffix}"
        os.replace(staged, target)
        published.append(target)
    return EpisodeResult(
        path=final,
        key=final.name,
        duration=timeline.duration,
        bytes=final.stat().st_size,
        loudness_lufs=reading.integrated_lufs,
        true_peak_db=reading.true_peak_db,
        seams_reencoded=reencoded,
        reencoded_seconds=timeline.reencoded_samples / SAMPLE_RATE,
        subtitles=tuple(p for p in published if p.suffix in (".srt", ".vtt")),
        poster=out_dir / f"{spec.name}.jpg",
        assembly_seconds=time.monotonic() - start,
        chapters=tuple(
            (c.title, c.start / SAMPLE_RATE, c.end / SAMPLE_RATE) for c in timeline.chapters(names)
        ),
    )


def _video_with_audio_beside(
    spec: Episode,
    scenes: Sequence[SceneInput],
    work: Path,
    narrations: list[Path],
    music_file: Path | None,
    audio_file: Path,
    threads: int,
    timeout: float,
    start: float,
    beside: ThreadPoolExecutor,
) -> tuple[Timeline, int, Path, Future[audio.LoudnessReading]]:
    """The video track (copied scenes, re-encoded seams); the audio track's build is handed to
    ``beside`` as soon as the timeline is known."""
    # short ffmpeg runs, one per scene or seam: keep every core busy with one each
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        samples = list(
            pool.map(
                lambda s, pcm: audio.decode_narration(s.narration, pcm, s.name, timeout),
                scenes,
                narrations,
            )
        )
        frames = list(pool.map(_frame_count, scenes))
        transitions = seam_transitions(spec, [s.transition for s in scenes])
        timeline = plan_timeline(samples, transitions, spec.pause, frames)
        audio_run = beside.submit(
            audio.build_track,
            timeline,
            narrations,
            spec.music,
            music_file,
            spec.loudness,
            work,
            audio_file,
            timeout,
        )
        seams = [seam for seam in timeline.seams if seam.reencoded]
        seam_files = {seam.index: work / f"seam{seam.index}.mp4" for seam in seams}
        runs = [
            pool.submit(
                run_ffmpeg,
                commands.seam_args(
                    video.seam_plan(timeline, seam),
                    scenes[seam.index].video,
                    scenes[seam.index + 1].video,
                    seam_files[seam.index],
                    threads=1,
                ),
                timeout=timeout,
            )
            for seam in seams
        ]
        for run in runs:
            run.result()
    segments: list[video.Segment] = []
    for index, slot in enumerate(timeline.scenes):
        scene = scenes[index]
        last = slot.copy_to if slot.copy_to < slot.frames else None
        segments.append(video.Segment(scene.video, slot.start, slot.copy_from, last, scene.name))
        if index in seam_files:
            start_at = timeline.seams[index].span[0]
            segments.append(video.Segment(seam_files[index], start_at, 0, None, f"seam {index}"))
    reencoded = len(seams)
    log.info("episode %s: %d seams encoded at %.1f s", spec.name, reencoded, _since(start))
    video_file = work / "video.mp4"
    video.write_video(segments, timeline.samples, video_file)
    for segment in segments:
        if segment.path.parent == work:
            segment.path.unlink()

    log.info("episode %s: video track written at %.1f s", spec.name, _since(start))
    return timeline, reencoded, video_file, audio_run


def _since(start: float) -> float:
    return time.monotonic() - start


def ffmetadata(timeline: Timeline, names: Sequence[str]) -> str:
    """Chapters as an ffmetadata document (one per scene, titled with its name)."""
    lines = [";FFMETADATA1"]
    for chapter in timeline.chapters(names):
        lines += [
            "[CHAPTER]",
            f"TIMEBASE=1/{SAMPLE_RATE}",
            f"START={chapter.start}",
            f"END={chapter.end}",
            f"title={_escape(chapter.title)}",
        ]
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    for special in ("\\", "=", ";", "#", "\n"):
        text = text.replace(special, "\\" + special)
    return text


def _cues(scene: SceneInput) -> list[Cue]:
    if scene.subtitle is None:
        return []
    parsed = parse_srt(read_srt(scene.subtitle), scene.subtitle.name)
    return [Cue(c.start, c.end, "\n".join(c.lines)) for c in parsed]


def _frame_count(scene: SceneInput) -> int:
    import av

    try:
        with av.open(str(scene.video)) as source:
            stream = source.streams.video[0]
            count = sum(1 for p in source.demux(stream) if p.size)
    except (av.FFmpegError, IndexError) as exc:
        raise EpisodeFailed(f"scene '{scene.name}': its MP4 could not be read ({exc})") from exc
    if count == 0:
        raise EpisodeFailed(f"scene '{scene.name}': its MP4 holds no video frames")
    return count
