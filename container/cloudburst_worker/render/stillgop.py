"""Still scenes: x264 encodes one GOP of the picture and the muxer writes it again and again.

Every frame of a still scene is the same picture, so every closed GOP of the same length
encodes to the same bytes: encoding all of them is work thrown away. Here x264 encodes one
GOP (plus the shorter GOP that ends the scene), and the MP4 is written with that GOP repeated
at shifted timestamps. The output is an ordinary H.264 stream with an IDR every GOP, each
copy byte for byte the GOP x264 wrote, so there is still exactly one lossy encode. A 10-s
scene costs x264 150 frames instead of 300.

The plan, the decode timestamps and the copy schedule are pure functions (tested directly);
:func:`write_repeated` is the PyAV adapter that does the muxing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from cloudburst_worker.render.commands import FPS, SAMPLE_RATE

FRAME = Fraction(1, FPS)

# A repeated GOP is 4 s to x264's default keyint (the spacing the one-pass encode uses), and
# a plan has at most one IDR more than one pass: an IDR of a detailed slide weighs as much as
# ~500 still P-frames, so more GOPs would trade a little CPU for a visibly larger file.
GOP_MIN = 4 * FPS
GOP_MAX = 250


@dataclass(frozen=True)
class GopPlan:
    """``copies`` GOPs of ``gop`` frames, then one GOP of ``remainder`` frames (0: none)."""

    gop: int
    copies: int
    remainder: int

    @property
    def encoded_frames(self) -> int:
        return self.gop + self.remainder

    @property
    def frame_count(self) -> int:
        return self.gop * self.copies + self.remainder

    @property
    def gops(self) -> int:
        return self.copies + (1 if self.remainder else 0)


def one_pass_gops(frame_count: int) -> int:
    return -(-frame_count // GOP_MAX)


def plan_still_gops(frame_count: int, keyframes: tuple[int, ...] = ()) -> GopPlan | None:
    """The GOP length that leaves x264 the fewest frames; None when nothing would repeat.

    At most one GOP more than one pass; ties go to the longer GOP (fewer IDRs). Every frame
    in ``keyframes`` must start a GOP (None when no plan does: the caller encodes one pass).
    """
    best: GopPlan | None = None
    for gop in range(GOP_MAX, GOP_MIN - 1, -1):
        copies, remainder = divmod(frame_count, gop)
        plan = GopPlan(gop, copies, remainder)
        if copies < 2 or plan.gops > one_pass_gops(frame_count) + 1:
            continue
        if any(k % gop or k > copies * gop for k in keyframes):
            continue
        if best is None or plan.encoded_frames < best.encoded_frames:
            best = plan
    return best


def decode_timestamps(pts: list[int]) -> list[int]:
    """DTS (frame units) for constant-rate packets in decode order, from their PTS.

    The transport (NUT) keeps only PTS. DTS count up one frame per packet, starting as many
    frames before the first PTS as B-frame reordering needs so that no DTS passes its PTS.
    """
    first = min(pts)
    delay = max(0, *(i - (p - first) for i, p in enumerate(pts)))
    return [first - delay + i for i in range(len(pts))]


def copy_schedule(plan: GopPlan, packets: int, split: int) -> list[tuple[int, int]]:
    """(packet index, frame shift) in output decode order.

    Packets ``[0, split)`` are the repeated GOP, ``[split, packets)`` the final one, which the
    encode placed right after the first GOP.
    """
    if split != plan.gop or packets - split != plan.remainder:
        raise GopMismatch(
            f"encoder wrote GOPs of {split} and {packets - split} frames, "
            f"planned {plan.gop} and {plan.remainder}"
        )
    schedule = [(i, copy * plan.gop) for copy in range(plan.copies) for i in range(split)]
    schedule += [(i, (plan.copies - 1) * plan.gop) for i in range(split, packets)]
    return schedule


class GopMismatch(Exception):
    """The encoder did not cut GOPs where planned; the caller falls back to one pass."""


def write_repeated(encoded: bytes, plan: GopPlan, audio_samples: int, output: Path) -> None:
    """Remux the encoder's NUT (one GOP + remainder, all of the audio) into the scene's MP4.

    NUT keeps neither DTS nor packet durations: DTS are rebuilt from PTS, and the last audio
    packet is cut back to ``audio_samples`` (the narration's exact length), as in one pass.
    """
    with av.open(io.BytesIO(encoded), "r", format="nut") as source:
        video, audio = source.streams.video[0], source.streams.audio[0]
        if video.time_base is None or audio.time_base is None:
            raise GopMismatch("the encoder's NUT has no time base")
        packets: dict[str, list[av.Packet]] = {"video": [], "audio": []}
        for packet in source.demux():
            if packet.size:
                packets[packet.stream.type].append(packet)
        timed, origin = _video_copies(packets["video"], video.time_base, plan)
        timed += _audio(packets["audio"], audio.time_base, audio_samples, origin)
        timed.sort(key=lambda item: item[:2])  # stable: each stream keeps its own order
        with av.open(
            str(output), "w", format="mp4", container_options={"movflags": "+faststart"}
        ) as sink:
            streams = {
                "video": sink.add_stream_from_template(video),
                "audio": sink.add_stream_from_template(audio),
            }
            for _, kind, packet in timed:
                packet.stream = streams[kind]
                sink.mux(packet)


_Timed = tuple[Fraction, str, av.Packet]  # (decode time in seconds, stream kind, packet)


def _video_copies(
    source: list[av.Packet], time_base: Fraction, plan: GopPlan
) -> tuple[list[_Timed], int]:
    """The planned copies, re-stamped, and the frame NUT's timestamps started at."""
    step = _ticks(FRAME, time_base)
    if not source or any(int(p.pts or 0) % step for p in source):
        raise GopMismatch("the encoder's video is empty or off the 30 fps grid")
    pts = [int(p.pts or 0) // step for p in source]
    origin = min(pts)  # NUT shifted all streams so that no DTS was negative: undo it
    pts = [p - origin for p in pts]
    dts = decode_timestamps(pts)
    keys = [i for i, p in enumerate(source) if p.is_keyframe]
    split = keys[1] if len(keys) > 1 else len(source)
    timed: list[_Timed] = []
    for index, shift in copy_schedule(plan, len(source), split):
        copy = av.Packet(bytes(source[index]))
        copy.pts, copy.dts = (pts[index] + shift) * step, (dts[index] + shift) * step
        copy.time_base = time_base
        copy.is_keyframe = source[index].is_keyframe
        timed.append(((dts[index] + shift) * FRAME, "video", copy))
    return timed, origin


def _audio(source: list[av.Packet], time_base: Fraction, samples: int, origin: int) -> list[_Timed]:
    shift = origin * _ticks(FRAME, time_base)
    end = samples * _ticks(Fraction(1, SAMPLE_RATE), time_base)
    timed: list[_Timed] = []
    for packet in source:
        stamp = int(packet.pts or 0) - shift
        packet.pts = packet.dts = stamp
        timed.append((stamp * time_base, "audio", packet))
    if source:
        last = source[-1]
        last.duration = max(1, min(int(last.duration or end), end - int(last.pts or 0)))
    return timed


def _ticks(duration: Fraction, time_base: Fraction) -> int:
    ticks = duration / time_base
    if ticks.denominator != 1:
        raise GopMismatch(f"time base {time_base} does not divide {duration} s")
    return int(ticks)
