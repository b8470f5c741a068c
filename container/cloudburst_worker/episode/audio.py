"""Audio: the episode's one track, built from the source narrations, streamed in chunks.

Narrations are decoded to PCM the way the renderer decodes them (so their lengths are the
ones the scenes were rendered for), laid end to end with silent pauses, the music ducked by
a gain envelope computed from where narration is audible, the sum measured (EBU R128),
gained to the target, limited under the true-peak ceiling and encoded to AAC once. Nothing
holds more than a chunk of samples in memory; disk holds the PCM of the episode twice.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from chalicelib.episode import SAMPLE_RATE, Loudness, Music, Timeline
from cloudburst_worker.episode import commands
from cloudburst_worker.render.commands import CHANNELS, decode_audio_args
from cloudburst_worker.render.ffmpeg import FfmpegError, run_ffmpeg
from cloudburst_worker.render.pipeline import SceneError, decode_audio_checked

log = logging.getLogger(__name__)

CHUNK = SAMPLE_RATE * 4  # samples per channel handled at once
BLOCK = SAMPLE_RATE // 100  # 10 ms: the ducking envelope's resolution
AUDIBLE_DBFS = -45.0  # a 10-ms block of narration louder than this is speech
ATTACK_S, RELEASE_S, HOLD_S = 0.05, 0.25, 0.15
F32 = npt.NDArray[np.float32]


class AudioError(Exception):
    """A narration or the music cannot be used; the message names it."""


@dataclass(frozen=True)
class LoudnessReading:
    integrated_lufs: float
    true_peak_db: float


def decode_narration(audio: Path, pcm: Path, name: str, timeout: float) -> int:
    """Decode like the renderer does; returns the narration's length in samples."""
    try:
        run_ffmpeg(decode_audio_args(audio, pcm), timeout=timeout)
    except FfmpegError as exc:
        raise AudioError(f"scene '{name}': narration could not be decoded: {exc.tail}") from exc
    return pcm.stat().st_size // (2 * CHANNELS)


def build_track(
    timeline: Timeline,
    narrations: Sequence[Path],
    music: Music | None,
    music_file: Path | None,
    loudness: Loudness | None,
    work: Path,
    output: Path,
    timeout: float,
) -> LoudnessReading:
    """The episode's AAC track (``output``, MP4), exactly ``timeline.samples`` long."""
    started = time.monotonic()
    mix = work / "mix.f32"
    music_pcm: Path | None = None
    if music is not None and music_file is not None:
        music_pcm = work / "music.pcm"
        args = commands.music_args(
            music_file,
            music_pcm,
            samples=timeline.samples,
            volume=music.volume,
            fade_in=music.fade_in,
            fade_out=music.fade_out,
        )
        try:
            decode_audio_checked(music_file, "music", args, timeout)
        except SceneError as exc:
            raise AudioError(str(exc)) from exc
        except FfmpegError as exc:  # timed out
            raise AudioError(f"music '{music_file.name}' could not be decoded: {exc}") from exc
    gains = None
    if music is not None and music_pcm is not None:
        gains = ducking_gains(_bed(timeline, narrations), music.ducking_db)
    with open(mix, "wb") as sink:
        music_chunks = _pcm_chunks(music_pcm) if music_pcm else None
        block_at = 0
        for speech in _bed(timeline, narrations):
            chunk = speech
            if music_chunks is not None and gains is not None:
                bed = next(music_chunks)
                blocks = len(chunk) // BLOCK
                envelope = _per_sample(gains[block_at : block_at + blocks + 1], len(chunk))
                block_at += blocks
                chunk = chunk + bed * envelope[:, None]
            sink.write(chunk.astype("<f4").tobytes())
    for used in [*narrations, *([music_pcm] if music_pcm else [])]:
        used.unlink()  # disk: only the mix stays for the loudness passes
    log.info("episode audio: mixed at %.1f s", time.monotonic() - started)
    gain, ceiling = 0.0, None
    if loudness is not None:
        measured = measure(commands.measure_args(mix), timeout)
        gain = (
            loudness.target_lufs - measured.integrated_lufs if measured.integrated_lufs > -70 else 0
        )
        ceiling = loudness.true_peak_db
    args = commands.encode_audio_args(
        mix, output, samples=timeline.samples, gain_db=gain, ceiling_db=ceiling
    )
    run_ffmpeg(args, timeout=timeout)
    log.info("episode audio: measured and encoded at %.1f s", time.monotonic() - started)
    reading = measure(commands.measure_file_args(output), timeout)
    log.info("episode audio: result measured at %.1f s", time.monotonic() - started)
    if ceiling is not None and reading.true_peak_db > ceiling:
        # AAC moved a peak over the ceiling: take the excess off and encode once more
        args = commands.encode_audio_args(
            mix,
            output,
            samples=timeline.samples,
            gain_db=gain - (reading.true_peak_db - ceiling) - 0.2,
            ceiling_db=ceiling - (reading.true_peak_db - ceiling) - 0.2,
        )
        run_ffmpeg(args, timeout=timeout)
        reading = measure(commands.measure_file_args(output), timeout)
    mix.unlink()
    return reading


def ducking_gains(bed: Iterator[F32], ducking_db: float) -> F32:
    """Linear gain per 10-ms block: ``ducking_db`` where narration is audible, else 1.

    Speech is widened by a hold on both sides (the music dips just before a word and stays
    down over short breaths), then smoothed with attack/release ramps so it never clicks.
    """
    levels: list[F32] = []
    carry = np.zeros((0, CHANNELS), np.float32)
    for chunk in bed:
        data = np.concatenate([carry, chunk])
        usable = len(data) // BLOCK * BLOCK
        blocks = data[:usable].reshape(-1, BLOCK, CHANNELS)
        levels.append(np.sqrt(np.mean(np.square(blocks), axis=(1, 2))).astype(np.float32))
        carry = data[usable:]
    if len(carry):
        levels.append(np.array([np.sqrt(np.mean(np.square(carry)))], np.float32))
    rms = np.concatenate(levels) if levels else np.zeros(1, np.float32)
    audible = 20 * np.log10(np.maximum(rms, 1e-9)) > AUDIBLE_DBFS
    hold = int(HOLD_S * 100)
    if hold:
        kernel = np.ones(2 * hold + 1)
        audible = np.convolve(audible.astype(np.float32), kernel, mode="same") > 0
    target = np.where(audible, ducking_db, 0.0)
    smoothed = np.empty_like(target)
    level = 0.0
    down, up = 1 / (ATTACK_S * 100), 1 / (RELEASE_S * 100)  # fraction of the step per block
    for i, goal in enumerate(target):
        step = abs(ducking_db) * (down if goal < level else up)
        level = max(goal, level - step) if goal < level else min(goal, level + step)
        smoothed[i] = level
    return np.asarray(10 ** (smoothed / 20), np.float32)


def measure(args: list[str], timeout: float) -> LoudnessReading:
    """Integrated loudness and true peak from ffmpeg ebur128's summary."""
    run = run_ffmpeg(args, timeout=timeout)
    return parse_ebur128("\n".join(run.stderr_tail))


_INTEGRATED = re.compile(r"I:\s+(-?[\d.]+|-inf)\s+LUFS")
_PEAK = re.compile(r"Peak:\s+(-?[\d.]+|-inf)\s+dBFS")


def parse_ebur128(text: str) -> LoudnessReading:
    """The summary's ``I: -16.0 LUFS`` and true ``Peak: -1.6 dBFS`` (the last of each)."""
    integrated = _INTEGRATED.findall(text)
    peak = _PEAK.findall(text)
    if not integrated or not peak:
        raise AudioError("the loudness measurement printed no summary")
    return LoudnessReading(_number(integrated[-1]), _number(peak[-1]))


def _number(text: str) -> float:
    return float("-inf") if text == "-inf" else float(text)


def _bed(timeline: Timeline, narrations: Sequence[Path]) -> Iterator[F32]:
    """The narrations on the timeline with silent pauses, in chunks of ``CHUNK`` samples."""
    buffer: list[F32] = []
    held = 0

    def pieces() -> Iterator[F32]:
        at = 0
        for slot, pcm in zip(timeline.scenes, narrations, strict=True):
            if slot.start > at:
                yield from _silence(slot.start - at)
            yield from _pcm_chunks(pcm)
            at = slot.start + slot.samples
        if timeline.samples > at:
            yield from _silence(timeline.samples - at)

    for piece in pieces():
        buffer.append(piece)
        held += len(piece)
        while held >= CHUNK:
            data = np.concatenate(buffer)
            yield data[:CHUNK]
            buffer, held = [data[CHUNK:]], held - CHUNK
    if held:
        yield np.concatenate(buffer)


def _silence(samples: int) -> Iterator[F32]:
    while samples > 0:
        size = min(samples, CHUNK)
        yield np.zeros((size, CHANNELS), np.float32)
        samples -= size


def _pcm_chunks(pcm: Path) -> Iterator[F32]:
    with open(pcm, "rb") as source:
        while data := source.read(CHUNK * CHANNELS * 2):
            yield (np.frombuffer(data, "<i2").reshape(-1, CHANNELS) / 32768).astype(np.float32)


def _per_sample(gains: F32, samples: int) -> F32:
    """Block gains (one per 10 ms, at block centres) interpolated to every sample."""
    if len(gains) == 0:
        return np.ones(samples, np.float32)
    centres = np.arange(len(gains)) * BLOCK + BLOCK / 2
    return np.interp(np.arange(samples), centres, gains).astype(np.float32)
