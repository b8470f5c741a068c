"""Video: every scene's H.264 copied onto the timeline packet by packet; seams re-encoded.

A scene's frames keep their 1/30-s spacing from the sample where its narration starts; its
last frame lasts until the next thing starts (a pause or a rounding half-frame), so the
track is variable-rate at the joins and exact to the audio sample (time base 1/48000).
Decode timestamps are rebuilt for the whole track (the j-th smallest presentation time of
a segment, minus a fixed reorder delay) so they rise across joins of differently encoded
streams. A segment whose parameter sets differ from the track's (a stillgop scene's SPS, a
seam) carries its SPS/PPS in band on its keyframes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from chalicelib.episode import FPS, FRAME_SAMPLES, SAMPLE_RATE, Seam, Timeline
from cloudburst_worker.episode.commands import SeamPlan

# x264's B-pyramid reorders at most two frames; the rebuilt DTS trail PTS by this much.
REORDER_DELAY = 2 * FRAME_SAMPLES
TIME_BASE = Fraction(1, SAMPLE_RATE)


class AssemblyError(Exception):
    """The scenes cannot be assembled as given; the message says which and why."""


def seam_plan(timeline: Timeline, seam: Seam) -> SeamPlan:
    """What to decode from the two scenes and where the blend sits, in segment frames."""
    a, b = timeline.scenes[seam.index], timeline.scenes[seam.index + 1]
    span0, span1 = seam.span
    frames = max(1, math.ceil((span1 - span0) / FRAME_SAMPLES))
    window = min(frames, max(1, round((seam.window[1] - seam.window[0]) / FRAME_SAMPLES)))
    offset = min(frames - window, max(0, round((seam.window[0] - span0) / FRAME_SAMPLES)))
    lead = min(frames, max(0, math.ceil((b.start - span0) / FRAME_SAMPLES)))
    lead = max(lead, offset)
    return SeamPlan(
        transition=seam.transition.type,
        out_start=min(a.copy_to, a.frames - 1),
        out_frames=a.frames,
        out_keyframe=a.copy_to < a.frames,
        in_frames=b.copy_from,
        lead=lead,
        offset=offset,
        window=window,
        frames=frames,
    )


@dataclass(frozen=True)
class Segment:
    """Frames ``[first, last)`` of ``path``, its frame 0 placed at sample ``start``."""

    path: Path
    start: int
    first: int
    last: int | None  # None: to the end
    name: str


def write_video(segments: list[Segment], samples: int, output: Path) -> None:
    """Mux the segments, in order, into one video-only MP4 lasting ``samples``."""
    with av.open(str(segments[0].path)) as first:
        template = first.streams.video[0]
        track_params = _parameter_sets(template.codec_context.extradata)
        with av.open(str(output), "w", format="mp4") as sink:
            stream = sink.add_stream_from_template(template)
            stream.time_base = TIME_BASE
            last_dts: int | None = None
            pending: av.Packet | None = None
            end_pts = 0
            for segment in segments:
                packets = _segment_packets(segment, track_params)
                if not packets:
                    continue
                for packet in packets:
                    if last_dts is not None and int(packet.dts or 0) <= last_dts:
                        raise AssemblyError(
                            f"scene '{segment.name}': its frames overlap the previous scene's"
                        )
                    last_dts = int(packet.dts or 0)
                    if pending is not None:
                        sink.mux(pending)
                    packet.stream = stream
                    pending = packet
                end_pts = max(end_pts, *(int(p.pts or 0) for p in packets))
            if pending is None:
                raise AssemblyError("the scenes hold no video frames")
            # a player ends the track at the largest pts + duration: make that ``samples``
            pending.duration = max(1, samples - int(pending.pts or 0))
            if end_pts + FRAME_SAMPLES > samples:
                raise AssemblyError("the last scene has more frames than the episode has time")
            sink.mux(pending)


def _segment_packets(segment: Segment, track_params: bytes) -> list[av.Packet]:
    """The segment's packets re-stamped on the timeline, in decode order."""
    chosen: list[tuple[int, av.Packet]] = []
    with av.open(str(segment.path)) as source:
        video = source.streams.video[0]
        if video.time_base is None:
            raise AssemblyError(f"scene '{segment.name}': its video has no time base")
        step = Fraction(1, FPS) / video.time_base
        params = _parameter_sets(video.codec_context.extradata)
        inband = params if params != track_params else b""
        origin: int | None = None
        started = segment.first == 0
        ended = segment.last is None
        for packet in source.demux(video):
            if packet.pts is None or not packet.size:
                continue
            if origin is None:
                origin = int(packet.pts)
            exact = Fraction(int(packet.pts) - origin) / step
            if exact.denominator != 1:
                raise AssemblyError(f"scene '{segment.name}': its video is off the 30 fps grid")
            frame = int(exact)
            if packet.is_keyframe and frame == segment.last:
                ended = True
                break
            if packet.is_keyframe and frame == segment.first:
                started = True
            if not started:
                continue
            copy = av.Packet((inband + bytes(packet)) if packet.is_keyframe else bytes(packet))
            copy.is_keyframe = packet.is_keyframe
            chosen.append((frame, copy))
    if not started or not ended:
        missing = segment.first if not started else segment.last
        raise AssemblyError(
            f"scene '{segment.name}' has no keyframe at frame {missing}: render it with the "
            "episode's keyframe_reach"
        )
    times = sorted(segment.start + frame * FRAME_SAMPLES for frame, _ in chosen)
    for (frame, packet), earliest in zip(chosen, times, strict=True):
        pts, dts = segment.start + frame * FRAME_SAMPLES, earliest - REORDER_DELAY
        if dts > pts:
            raise AssemblyError(f"scene '{segment.name}': reorders more frames than x264 does")
        packet.time_base = TIME_BASE
        packet.pts, packet.dts, packet.duration = pts, dts, FRAME_SAMPLES
    return [packet for _, packet in chosen]


def _parameter_sets(extradata: bytes | None) -> bytes:
    """SPS and PPS from an ``avcC`` record, as 4-byte length-prefixed NAL units."""
    if not extradata or extradata[0] != 1:
        return b""
    out = bytearray()
    position = 5
    for mask in (0x1F, 0xFF):  # the SPS count shares its byte with reserved bits
        count = extradata[position] & mask
        position += 1
        for _ in range(count):
            size = int.from_bytes(extradata[position : position + 2], "big")
            out += size.to_bytes(4, "big") + extradata[position + 2 : position + 2 + size]
            position += 2 + size
    return bytes(out)
