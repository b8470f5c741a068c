"""ffmpeg argument lists, as pure functions (the tests compare them verbatim)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FPS = 30
SAMPLE_RATE = 48_000
CHANNELS = 2
PCM_BYTES_PER_SECOND = SAMPLE_RATE * CHANNELS * 2  # s16le
# Images larger than this (per side) are shrunk by ffmpeg while decoding, so a 20k-pixel
# poster cannot eat gigabytes of RAM; 4096 still leaves ≥1.9x headroom over 2112 px.
MAX_DECODE_SIDE = 4096


@dataclass(frozen=True)
class Encoder:
    """The shipped x264/AAC settings (README "Rendering" says why these)."""

    preset: str = "veryfast"
    crf: int = 21
    audio_bitrate: str = "128k"


SHIPPED_ENCODER = Encoder()

QUIET = ["-hide_banner", "-nostdin", "-loglevel", "error"]
# Decoding keeps warnings: "partial file", "corrupt", … mean the input lost data (damage.py).
DECODE_LOG = ["-hide_banner", "-nostdin", "-loglevel", "warning"]


def decode_audio_args(audio: Path, pcm_out: Path) -> list[str]:
    """First audio stream → raw s16le 48 kHz stereo: exact length, any input format/rate."""
    return [
        *DECODE_LOG,
        "-i", str(audio),
        "-map", "0:a:0", "-vn", "-sn", "-dn",
        "-ac", str(CHANNELS), "-ar", str(SAMPLE_RATE),
        "-f", "s16le", "-c:a", "pcm_s16le",
        "-y", str(pcm_out),
    ]  # fmt: skip


def decode_image_args(image: Path) -> list[str]:
    """First frame of any still (PNG/JPEG/WebP/…, alpha kept) → one RGBA PAM on stdout.

    PAM carries its own width/height header, so no separate probe is needed.
    """
    side = MAX_DECODE_SIDE
    return [
        *DECODE_LOG,
        "-i", str(image),
        "-map", "0:v:0", "-frames:v", "1",
        "-vf", f"scale='min(iw,{side})':'min(ih,{side})':force_original_aspect_ratio=decrease",
        "-pix_fmt", "rgba", "-c:v", "pam", "-f", "image2pipe",
        "pipe:1",
    ]  # fmt: skip


def encode_args(
    *,
    width: int,
    height: int,
    frame_count: int,
    still: bool,
    pcm: Path,
    output: Path | None,
    subtitles: str | None = None,
    fonts_dir: str | None = None,
    threads: int = 1,
    encoder: Encoder = SHIPPED_ENCODER,
    lossless: bool = False,
    gop: int | None = None,
    keyframes: tuple[int, ...] = (),
) -> list[str]:
    """Raw yuv420p frames on stdin + raw PCM → the scene's MP4, in one encode.

    ``still``: stdin carries one frame and the graph repeats it ``frame_count`` times (no
    per-frame pipe traffic); otherwise stdin carries every frame. ``subtitles`` is an ASS
    file path relative to ffmpeg's working directory (keeps filtergraph escaping trivial).
    ``lossless`` is for the bench's VMAF reference only. ``gop`` puts an IDR exactly every
    ``gop`` frames; ``output=None`` writes NUT to stdout (see ``stillgop``) instead of the MP4.
    ``keyframes`` are frame indices that must be IDRs (an episode's transition windows, see
    :func:`forced_keyframes`), so the assembler can copy the scene up to and from them.
    """
    chain: list[str] = []
    if still:
        chain.append(f"loop=loop={frame_count - 1}:size=1:start=0,setpts=N/{FPS}/TB")
    if subtitles is not None:
        sub = f"subtitles=filename={subtitles}"
        if fonts_dir is not None:
            sub += f":fontsdir={fonts_dir}"
        chain.append(sub)
    video_map = ["-map", "0:v:0"]
    graph: list[str] = []
    if chain:
        graph = ["-filter_complex", f"[0:v]{','.join(chain)}[v]"]
        video_map = ["-map", "[v]"]
    quality = ["-qp", "0"] if lossless else ["-crf", str(encoder.crf)]
    gop_args: list[str] = []
    if gop is not None:
        gop_args = ["-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0"]
    if forced := [k for k in keyframes if k > 0]:
        expression = "+".join(f"eq(n,{k})" for k in forced)
        gop_args += ["-force_key_frames", f"expr:{expression}", "-forced-idr", "1"]
    sink = ["-f", "nut", "pipe:1"] if output is None else [
        "-map_metadata", "-1", "-movflags", "+faststart", "-f", "mp4", "-y", str(output),
    ]  # fmt: skip
    return [
        *QUIET,
        "-filter_complex_threads", str(threads),
        "-f", "rawvideo", "-pix_fmt", "yuv420p", "-video_size", f"{width}x{height}",
        "-framerate", str(FPS),
        "-color_range", "tv", "-colorspace", "bt709",
        "-color_primaries", "bt709", "-color_trc", "bt709",
        "-i", "pipe:0",
        "-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", str(CHANNELS), "-i", str(pcm),
        *graph,
        *video_map, "-map", "1:a:0",
        "-c:v", "libx264", "-preset", encoder.preset, *quality, *gop_args,
        "-pix_fmt", "yuv420p", "-threads", str(threads),
        "-c:a", "aac", "-b:a", encoder.audio_bitrate,
        "-ar", str(SAMPLE_RATE), "-ac", str(CHANNELS),
        # No -frames:v: the frames on stdin (or the loop) are exactly frame_count already,
        # and ffmpeg ends the whole output when a stream reaches its -frames limit, which
        # dropped the AAC encoder's last packet and cut up to 35 ms of the narration's end.
        *sink,
    ]  # fmt: skip


def forced_keyframes(frame_count: int, head_reach: int, tail_reach: int) -> tuple[int, ...]:
    """IDR frame indices for an episode's seams: ``head_reach`` frames after the start and
    ``tail_reach`` before the end, each at most half the scene (chalicelib.episode's rule)."""
    keys = {min(head_reach, frame_count // 2), frame_count - min(tail_reach, frame_count // 2)}
    return tuple(sorted(k for k in keys if 0 < k < frame_count))
