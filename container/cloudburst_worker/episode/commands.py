"""The assembler's ffmpeg argument lists, as pure functions (the tests compare them verbatim).

Video settings come from the renderer (``render.commands``) so a re-encoded seam is encoded
exactly like the scenes around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cloudburst_worker.render.commands import (
    CHANNELS,
    DECODE_LOG,
    FPS,
    QUIET,
    SAMPLE_RATE,
    SHIPPED_ENCODER,
    Encoder,
)

_COLOUR = [
    "-color_range", "tv", "-colorspace", "bt709",
    "-color_primaries", "bt709", "-color_trc", "bt709",
]  # fmt: skip
# The true-peak limiter aims this far under the ceiling: AAC's quantisation moves peaks.
LIMITER_MARGIN_DB = 1.0


@dataclass(frozen=True)
class SeamPlan:
    """One re-encoded seam, in frames of the segment (see ``video.seam_plan``).

    ``out_start``: first outgoing frame decoded (``out_keyframe``: it is an IDR, seek to
    it; otherwise decode up to it); ``in_frames``: incoming frames used (at least its
    first); ``lead``: segment frames before the incoming scene starts; ``offset`` and
    ``window``: where the blend starts and how long it lasts; ``frames``: segment length.
    """

    transition: str
    out_start: int
    out_frames: int  # the outgoing scene's frame count
    out_keyframe: bool
    in_frames: int
    lead: int
    offset: int
    window: int
    frames: int


def seam_args(
    plan: SeamPlan,
    outgoing: Path,
    incoming: Path,
    output: Path,
    *,
    threads: int = 1,
    encoder: Encoder = SHIPPED_ENCODER,
) -> list[str]:
    """Blend the end of ``outgoing`` into the start of ``incoming`` → one H.264 MP4 segment.

    The outgoing scene holds its last frame and the incoming its first where the window
    needs them (``tpad`` clones), so no narration timing moves.
    """
    if plan.out_keyframe:  # seek straight to the IDR the renderer placed: nothing to skip
        seek = ["-noaccurate_seek", "-ss", f"{(plan.out_start + 0.5) / FPS:.6f}"]
    else:  # the previous IDR is decoded up to the frame we need
        seek = ["-ss", f"{(plan.out_start - 0.5) / FPS:.6f}"]
    blend = plan.offset + plan.window
    graph = ";".join(
        [
            f"[0:v]trim=end_frame={plan.out_frames - plan.out_start},settb=1/{FPS},setpts=N,"
            f"tpad=stop_mode=clone:stop={blend},trim=end_frame={blend}[out]",
            f"[1:v]trim=end_frame={max(1, plan.in_frames)},settb=1/{FPS},setpts=N,"
            f"tpad=start_mode=clone:start={plan.lead - plan.offset}"
            f":stop_mode=clone:stop={plan.frames},trim=end_frame={plan.frames - plan.offset},"
            "setpts=N[in]",
            f"[out][in]xfade=transition={plan.transition}:duration={plan.window / FPS:.6f}"
            f":offset={plan.offset / FPS:.6f},format=yuv420p[v]",
        ]
    )
    return [
        *QUIET,
        "-filter_complex_threads", str(threads),
        *seek, "-an", "-i", str(outgoing),
        # read no more of the incoming scene than the seam uses
        "-t", f"{(max(1, plan.in_frames) + 1) / FPS:.6f}", "-an", "-i", str(incoming),
        "-filter_complex", graph,
        "-map", "[v]",
        "-c:v", "libx264", "-preset", encoder.preset, "-crf", str(encoder.crf),
        "-pix_fmt", "yuv420p", "-threads", str(threads), *_COLOUR,
        "-frames:v", str(plan.frames),
        "-map_metadata", "-1", "-f", "mp4", "-y", str(output),
    ]  # fmt: skip


def music_args(
    music: Path, output: Path, *, samples: int, volume: float, fade_in: float, fade_out: float
) -> list[str]:
    """The music looped (``-stream_loop``), trimmed to ``samples``, faded → raw s16le PCM."""
    seconds = samples / SAMPLE_RATE
    fade_in = min(fade_in, seconds / 2)
    fade_out = min(fade_out, seconds / 2)
    chain = [
        f"aresample={SAMPLE_RATE}",
        f"aformat=sample_fmts=flt:channel_layouts={_layout()}",
        f"atrim=end_sample={samples}",
        f"apad=whole_len={samples}",
        f"volume={volume:.6f}",
    ]
    if fade_in > 0:
        chain.append(f"afade=t=in:st=0:d={fade_in:.6f}")
    if fade_out > 0:
        chain.append(f"afade=t=out:st={seconds - fade_out:.6f}:d={fade_out:.6f}")
    return [
        *DECODE_LOG,  # read for lost data, as a narration's decode is
        "-stream_loop", "-1", "-i", str(music),
        "-map", "0:a:0", "-vn", "-sn", "-dn",
        "-af", ",".join(chain),
        "-ac", str(CHANNELS), "-ar", str(SAMPLE_RATE),
        "-f", "s16le", "-c:a", "pcm_s16le", "-y", str(output),
    ]  # fmt: skip


def measure_args(mix: Path) -> list[str]:
    """EBU R128 integrated loudness and true peak of the raw float mix (summary on stderr)."""
    return [
        "-hide_banner", "-nostdin", "-loglevel", "info",
        *_raw_float(mix),
        "-af", "ebur128=peak=true:framelog=quiet",
        "-f", "null", "-",
    ]  # fmt: skip


def measure_file_args(media: Path) -> list[str]:
    """The same measurement of a finished file's first audio stream."""
    return [
        "-hide_banner", "-nostdin", "-loglevel", "info",
        "-i", str(media), "-map", "0:a:0",
        "-af", "ebur128=peak=true:framelog=quiet",
        "-f", "null", "-",
    ]  # fmt: skip


def encode_audio_args(
    mix: Path,
    output: Path,
    *,
    samples: int,
    gain_db: float,
    ceiling_db: float | None,
    encoder: Encoder = SHIPPED_ENCODER,
) -> list[str]:
    """The mix, gained to the target and limited under the ceiling → one AAC encode.

    ``apad``/``atrim`` make its length exactly ``samples`` (the video's length).
    """
    chain = [f"volume={gain_db:.3f}dB"]
    if ceiling_db is not None:
        limit = 10 ** ((ceiling_db - LIMITER_MARGIN_DB) / 20)
        chain.append(f"alimiter=limit={limit:.6f}:attack=1:release=50:level=false:latency=true")
    chain += [f"apad=whole_len={samples}", f"atrim=end_sample={samples}"]
    return [
        *QUIET,
        *_raw_float(mix),
        "-af", ",".join(chain),
        "-c:a", "aac", "-b:a", encoder.audio_bitrate,
        "-ar", str(SAMPLE_RATE), "-ac", str(CHANNELS),
        "-f", "mp4", "-y", str(output),
    ]  # fmt: skip


def mux_args(video: Path, audio: Path, chapters: Path | None, output: Path) -> list[str]:
    """Video and audio copied into the episode MP4, chapters from an ffmetadata file."""
    chapter_input = ["-f", "ffmetadata", "-i", str(chapters)] if chapters is not None else []
    # chapter titles travel with the global metadata of the ffmetadata input
    chapter_map = ["-map_metadata", "2", "-map_chapters", "2"] if chapters is not None else [
        "-map_metadata", "-1", "-map_chapters", "-1",
    ]  # fmt: skip
    return [
        *QUIET,
        "-i", str(video), "-i", str(audio), *chapter_input,
        "-map", "0:v:0", "-map", "1:a:0", *chapter_map,
        "-c", "copy", "-movflags", "+faststart", "-f", "mp4", "-y", str(output),
    ]  # fmt: skip


def poster_args(scene: Path, seconds: float, output: Path) -> list[str]:
    """One frame at ``seconds`` (input seek: decodes from the nearest IDR only) → JPEG."""
    return [
        *QUIET,
        "-ss", f"{seconds:.3f}", "-i", str(scene),
        "-map", "0:v:0", "-frames:v", "1", "-q:v", "3",
        "-f", "image2", "-update", "1", "-y", str(output),
    ]  # fmt: skip


def label_args(
    poster: Path, label_file: str, font_file: str, output: Path, width: int
) -> list[str]:
    """A poster shrunk to ``width`` with its label underneath → PNG (contact sheet tile).

    ``label_file`` and ``font_file`` are relative to ffmpeg's working directory so the
    filtergraph needs no escaping whatever the scene name holds.
    """
    height = width * 9 // 16
    band = max(20, width // 8)
    size = label_font_size(width)
    graph = (
        f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
        f"pad={width}:{height + band}:(ow-iw)/2:0:color=0x202020,"
        f"drawtext=fontfile={font_file}:textfile={label_file}:fontcolor=white:"
        f"fontsize={size}:x=(w-text_w)/2:y={height}+({band}-{size})/2"
    )
    return [
        *QUIET,
        "-i", str(poster), "-vf", graph, "-frames:v", "1",
        "-f", "image2", "-update", "1", "-y", str(output),
    ]  # fmt: skip


def label_font_size(width: int) -> int:
    """Label text height in pixels for a tile ``width`` wide."""
    return max(20, width // 8) * 3 // 5


def _raw_float(path: Path) -> list[str]:
    return [
        "-f", "f32le", "-ar", str(SAMPLE_RATE), "-ch_layout", _layout(), "-i", str(path),
    ]  # fmt: skip


def _layout() -> str:
    return "stereo" if CHANNELS == 2 else "mono"
