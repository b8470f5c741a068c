"""The worker's mvhd reader: exact on the MP4s ffmpeg writes, and it never hangs on others.

A box of size 0 ("to the end of the file") once made the walk read the same header forever;
generated box trees and arbitrary bytes must end in a duration or a ValueError.
"""

from __future__ import annotations

import struct
from pathlib import Path

import av
import pytest
from cloudburst_worker.render.mp4 import mp4_duration_seconds
from hypothesis import given, settings
from hypothesis import strategies as st
from render_media import ffmpeg, make_tone


def box(kind: bytes, body: bytes, *, size_field: str = "plain") -> bytes:
    if size_field == "large":
        return struct.pack(">I4sQ", 1, kind, 16 + len(body)) + body
    if size_field == "to_end":
        return struct.pack(">I4s", 0, kind) + body
    return struct.pack(">I4s", 8 + len(body), kind) + body


def mvhd(timescale: int, duration: int, *, version: int) -> bytes:
    if version == 1:
        body = bytes([1, 0, 0, 0]) + struct.pack(">QQIQ", 0, 0, timescale, duration)
    else:
        body = bytes(4) + struct.pack(">IIII", 0, 0, timescale, duration)
    return box(b"mvhd", body + bytes(80))


def test_reads_the_duration_pyav_reads_from_a_faststart_file(tmp_path: Path) -> None:
    tone = make_tone(tmp_path / "tone.mp3", 1.3)
    out = tmp_path / "clip.mp4"
    ffmpeg("-i", str(tone), "-c:a", "aac", "-movflags", "+faststart", str(out))
    with av.open(str(out)) as container:
        assert container.duration is not None
        expected = container.duration / av.time_base
    assert mp4_duration_seconds(out) == pytest.approx(expected, abs=1e-3)


@given(
    timescale=st.integers(1, 2**32 - 1),
    duration=st.integers(0, 2**32 - 1),
    version=st.sampled_from([0, 1]),
    size_field=st.sampled_from(["plain", "large", "to_end"]),
    skipped=st.lists(st.binary(max_size=40), max_size=3),
)
@settings(max_examples=150, deadline=None)
def test_finds_mvhd_behind_any_boxes_and_size_forms(
    tmp_path_factory: pytest.TempPathFactory,
    timescale: int,
    duration: int,
    version: int,
    size_field: str,
    skipped: list[bytes],
) -> None:
    """``moov`` may be the last box and say "to the end of the file" (size 0)."""
    leading = b"".join(box(b"free", body) for body in skipped)
    moov = box(b"moov", mvhd(timescale, duration, version=version), size_field=size_field)
    path = tmp_path_factory.mktemp("mp4") / "movie.mp4"
    path.write_bytes(box(b"ftyp", b"isom") + leading + moov)
    assert mp4_duration_seconds(path) == pytest.approx(duration / timescale)


@given(
    st.binary(max_size=300)
    | st.lists(st.sampled_from([0, 1, 7, 8, 9]), max_size=6).map(
        lambda sizes: b"".join(struct.pack(">I4s", n, b"moov") for n in sizes)
    )
)
@settings(max_examples=300, deadline=None)
def test_any_other_bytes_end_in_a_duration_or_a_value_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("junk") / "junk.mp4"
    path.write_bytes(data)
    outcome: float | str
    try:
        outcome = mp4_duration_seconds(path)
    except ValueError as exc:
        outcome = str(exc)
    assert (isinstance(outcome, float) and outcome >= 0) or outcome.startswith("junk.mp4: ")


def test_a_zero_time_scale_is_named(tmp_path: Path) -> None:
    path = tmp_path / "zero.mp4"
    path.write_bytes(box(b"moov", mvhd(0, 10, version=0)))
    with pytest.raises(ValueError, match="time scale of 0"):
        mp4_duration_seconds(path)
