"""Exact decoded narration length from the container header, so the encoder can start at once.

The encoder needs the video frame count (``round(seconds * FPS)``) before it starts, and decoding
the whole narration to learn it costs an ffmpeg run. For the formats below the header already says
how many samples ffmpeg's decode (``decode_audio_args``) will produce, once ffmpeg's own trimming
is mirrored: WAV data clamped to the file, MP4 edit lists, LAME encoder delay/padding. Anything
this module cannot vouch for returns ``None`` and the caller decodes as before.

Pure and dependency-free: reads only the few header bytes it needs (plus an MP4 ``moov``).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

# An MP4 ``moov`` larger than this is not worth reading to save one decode.
MAX_MOOV_BYTES = 64 << 20

# ffmpeg's mp3 demuxer skips this many decoder-delay samples on top of the LAME tag's own
# delay, and trims the end from ``frames * spf - end_pad + 529`` (libavformat/mp3dec.c).
_MP3_DECODER_DELAY = 528 + 1

_MP3_RATES = {3: (44_100, 48_000, 32_000), 2: (22_050, 24_000, 16_000), 0: (11_025, 12_000, 8_000)}
# Encoders whose LAME-tag delay/padding ffmpeg trusts (and therefore trims by).
_MP3_LAME_ENCODERS = (b"LAME", b"Lavf", b"Lavc")
_ID3_HEADER = 10
_MAX_ID3_TAGS = 16

_WAV_PCM, _WAV_FLOAT, _WAV_EXTENSIBLE = 1, 3, 0xFFFE
_KSDATAFORMAT_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_WAV_UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # streaming writers: "data runs to end of file"

# First top-level box types that mark an ISO-BMFF / QuickTime file.
_MP4_FIRST_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot")
_AAC_OBJECT_TYPES = (0x40, 0x66, 0x67, 0x68)  # MPEG-4 audio, MPEG-2 AAC main/LC/SSR
_AAC_LC, _SBR = 2, 5
_SYNC_EXTENSION = 0x2B7  # backward-compatible SBR/PS signalling in an AudioSpecificConfig


class _Unsure(Exception):
    """The header cannot say exactly; the caller must decode."""


def header_seconds(path: Path) -> float | None:
    """Decoded length in seconds from the container header alone; None when it cannot be exact."""
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(12)
            if len(head) < 12:
                return None
            if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
                return _wav_seconds(f, size)
            if head[:3] == b"ID3" or (head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
                return _mp3_seconds(f, size)
            if head[4:8] in _MP4_FIRST_BOXES:
                return _mp4_seconds(f, size)
            return None
    except (_Unsure, OSError, struct.error, ValueError, IndexError, KeyError, OverflowError):
        return None


# --- WAV ---------------------------------------------------------------------------------------


def _wav_seconds(f: BinaryIO, size: int) -> float:
    """PCM/float WAV: whole blocks of the data chunk that actually exist in the file."""
    fmt: bytes | None = None
    pos = 12
    while pos + 8 <= size:
        f.seek(pos)
        chunk_id, chunk_size = struct.unpack("<4sI", _read(f, 8))
        body = pos + 8
        if chunk_id == b"fmt ":
            if chunk_size < 16:
                raise _Unsure
            fmt = _read(f, min(chunk_size, 40))
        elif chunk_id == b"data":
            if fmt is None:
                raise _Unsure
            block_align, rate = _wav_layout(fmt)
            available = size - body
            data = chunk_size
            if data in _WAV_UNKNOWN_SIZES or data > available:
                data = available  # ffmpeg decodes what is there
            frames = data // block_align
            if frames <= 0:
                raise _Unsure
            return frames / rate
        pos = body + chunk_size + (chunk_size & 1)  # RIFF chunks are word-aligned
    raise _Unsure


def _wav_layout(fmt: bytes) -> tuple[int, int]:
    """(block_align, sample_rate) for uncompressed PCM/float; compressed formats are unsure."""
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _WAV_EXTENSIBLE:
        if len(fmt) < 40 or fmt[26:40] != _KSDATAFORMAT_TAIL:
            raise _Unsure
        tag = struct.unpack_from("<H", fmt, 24)[0]
    if tag == _WAV_PCM:
        ok_bits: tuple[int, ...] = (8, 16, 24, 32)
    elif tag == _WAV_FLOAT:
        ok_bits = (32, 64)
    else:
        raise _Unsure
    if bits not in ok_bits or channels < 1 or rate < 1 or block_align != channels * bits // 8:
        raise _Unsure
    return block_align, rate


# --- MP3 ---------------------------------------------------------------------------------------


def _mp3_seconds(f: BinaryIO, size: int) -> float:
    """Xing/Info frame count less the LAME tag's delay and padding, trimmed the way ffmpeg does."""
    base = _skip_id3v2(f)
    f.seek(base)
    head = f.read(200)  # frame header + side info + Xing (with TOC) + LAME tag
    header = struct.unpack_from(">I", head)[0]
    version = (header >> 19) & 3
    layer = (header >> 17) & 3
    bitrate_index = (header >> 12) & 15
    rate_index = (header >> 10) & 3
    if header >> 21 != 0x7FF or version == 1 or layer != 1 or rate_index == 3:
        raise _Unsure  # not an MPEG audio layer III frame header
    if bitrate_index in (0, 15):
        raise _Unsure  # free-format or invalid
    lsf = version != 3
    mono = (header >> 6) & 3 == 3
    rate = _MP3_RATES[version][rate_index]
    samples_per_frame = 576 if lsf else 1152
    if head[36:40] == b"VBRI":
        raise _Unsure  # ffmpeg lets a VBRI frame count override the Xing one
    pos = 4 + ((9 if mono else 17) if lsf else (17 if mono else 32))
    if head[pos : pos + 4] not in (b"Xing", b"Info"):
        raise _Unsure  # plain CBR: length only by scanning every frame
    flags = struct.unpack_from(">I", head, pos + 4)[0]
    if flags & 3 != 3:
        raise _Unsure  # need both the frame count and the byte count
    frames, stream_bytes = struct.unpack_from(">II", head, pos + 8)
    pos += 16 + (100 if flags & 4 else 0) + (4 if flags & 8 else 0)
    if head[pos : pos + 4] not in _MP3_LAME_ENCODERS:
        raise _Unsure  # ffmpeg would not trim delay/padding
    if len(head) < pos + 24:
        raise _Unsure
    delays = int.from_bytes(head[pos + 21 : pos + 24], "big")
    start_pad, end_pad = delays >> 12, delays & 0xFFF

    available = size - base
    after_header = available - 4
    if available < stream_bytes:
        raise _Unsure  # truncated: the decode stops short of the header's count
    if after_header - stream_bytes > stream_bytes >> 4:
        raise _Unsure  # ffmpeg's "concatenated file" rule drops the frame count
    total = frames * samples_per_frame
    decoded = total - start_pad - _MP3_DECODER_DELAY - max(0, end_pad - _MP3_DECODER_DELAY)
    if decoded <= 0:
        raise _Unsure
    return decoded / rate


def _skip_id3v2(f: BinaryIO) -> int:
    """Offset just past any consecutive ID3v2 tags (ffmpeg reads them all before probing)."""
    pos = 0
    for _ in range(_MAX_ID3_TAGS):
        f.seek(pos)
        tag = f.read(_ID3_HEADER)
        if len(tag) < _ID3_HEADER or tag[:3] != b"ID3" or tag[3] == 0xFF or tag[4] == 0xFF:
            return pos
        if any(b & 0x80 for b in tag[6:10]):
            return pos  # not a valid syncsafe size: ffmpeg does not treat it as a tag
        length = (tag[6] << 21) | (tag[7] << 14) | (tag[8] << 7) | tag[9]
        pos += _ID3_HEADER + length + (_ID3_HEADER if tag[5] & 0x10 else 0)  # footer flag
    raise _Unsure


# --- MP4 / M4A / MOV ---------------------------------------------------------------------------


def _mp4_seconds(f: BinaryIO, size: int) -> float:
    """First sound track's presentation length: its single edit, else its media duration."""
    pos = 0
    moov: bytes | None = None
    while pos + 8 <= size:
        f.seek(pos)
        header = f.read(16)
        box_size, kind = struct.unpack_from(">I4s", header)
        header_len = 8
        if box_size == 1:
            box_size = struct.unpack_from(">Q", header, 8)[0]
            header_len = 16
        elif box_size == 0:
            box_size = size - pos
        if box_size < header_len or pos + box_size > size:
            raise _Unsure  # malformed, or truncated (a faststart file missing media)
        if kind == b"moof":
            raise _Unsure  # fragmented
        if kind == b"moov":
            if moov is not None or box_size > MAX_MOOV_BYTES:
                raise _Unsure
            f.seek(pos + header_len)
            moov = _read(f, box_size - header_len)
            if b"mvex" in moov:
                raise _Unsure  # fragmented: samples live in moof boxes
        pos += box_size
    if moov is None:
        raise _Unsure
    return _moov_seconds(moov)


def _moov_seconds(moov: bytes) -> float:
    if b"iTunSMPB" in moov:
        # ffmpeg 9 trims by iTunSMPB priming/remainder, even over an edit list.
        raise _Unsure
    movie_scale: int | None = None
    sound: tuple[int, int] | None = None
    for kind, start, end in _boxes(moov, 0, len(moov)):
        if kind == b"mvhd":
            movie_scale = _mvhd_timescale(moov, start)
        elif kind == b"trak" and sound is None and _is_sound(moov, start, end):
            sound = (start, end)  # ffmpeg's 0:a:0 is the first sound track in file order
    if movie_scale is None or sound is None:
        raise _Unsure
    return _track_seconds(moov, *sound, movie_scale)


def _track_seconds(moov: bytes, start: int, end: int, movie_scale: int) -> float:
    mdia = _child(moov, start, end, b"mdia")
    media_scale, media_duration = _mdhd(moov, *_child(moov, *mdia, b"mdhd"))
    stbl = _child(moov, *_child(moov, *mdia, b"minf"), b"stbl")
    _require_aac_lc(moov, *_child(moov, *stbl, b"stsd"))
    if _stts_total(moov, *_child(moov, *stbl, b"stts")) != media_duration:
        raise _Unsure  # which of the two ffmpeg trusts is not worth guessing
    if media_scale == 0 or media_duration in (0, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
        raise _Unsure
    edts = _find(moov, start, end, b"edts")
    if edts is None:
        return media_duration / media_scale  # no edit list: ffmpeg decodes every sample
    segment, media_time = _single_edit(moov, *_child(moov, *edts, b"elst"))
    available = media_duration - media_time
    if movie_scale == 0 or available <= 0:
        raise _Unsure
    return min(segment / movie_scale, available / media_scale)


def _single_edit(buf: bytes, start: int, end: int) -> tuple[int, int]:
    """(segment_duration, media_time) of a lone plain edit; empty/multiple/rate edits are unsure."""
    version = buf[start]
    (count,) = struct.unpack_from(">I", buf, start + 4)
    if count != 1:
        raise _Unsure
    if version == 1:
        segment, media_time, rate = struct.unpack_from(">QqI", buf, start + 8)
        entry_end = start + 28
    else:
        segment, media_time, rate = struct.unpack_from(">IiI", buf, start + 8)
        entry_end = start + 20
    if entry_end > end or media_time < 0 or segment <= 0 or rate != 0x10000:
        raise _Unsure
    return segment, media_time


def _require_aac_lc(buf: bytes, start: int, end: int) -> None:
    """The one sample description is plain AAC-LC (1024-sample frames, no SBR/PS signalled)."""
    (count,) = struct.unpack_from(">I", buf, start + 4)
    if count != 1:
        raise _Unsure
    entry_size, fourcc = struct.unpack_from(">I4s", buf, start + 8)
    entry, entry_end = start + 8, start + 8 + entry_size
    if fourcc != b"mp4a" or entry_end > end:
        raise _Unsure
    (sound_version,) = struct.unpack_from(">H", buf, entry + 16)
    children = entry + 36 + {0: 0, 1: 16, 2: 36}[sound_version]
    esds = _find(buf, children, entry_end, b"esds")
    if esds is None:
        wave = _find(buf, children, entry_end, b"wave")  # QuickTime wraps it
        esds = _find(buf, *wave, b"esds") if wave else None
    if esds is None:
        raise _Unsure
    config = _audio_specific_config(buf, esds[0] + 4, esds[1])
    _require_lc_config(config)


def _audio_specific_config(buf: bytes, pos: int, end: int) -> bytes:
    tag, length, pos = _descriptor(buf, pos)
    if tag != 0x03:
        raise _Unsure
    flags = buf[pos + 2]
    pos += 3
    if flags & 0x80:
        pos += 2  # dependsOn_ES_ID
    if flags & 0x40:
        pos += 1 + buf[pos]  # URL
    if flags & 0x20:
        pos += 2  # OCR_ES_ID
    tag, length, pos = _descriptor(buf, pos)
    if tag != 0x04 or buf[pos] not in _AAC_OBJECT_TYPES:
        raise _Unsure
    tag, length, pos = _descriptor(buf, pos + 13)
    if tag != 0x05 or pos + length > end or length < 2:
        raise _Unsure
    return buf[pos : pos + length]


def _descriptor(buf: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, length, payload offset) of an MPEG-4 descriptor (7-bit length continuation)."""
    tag = buf[pos]
    length = 0
    for i in range(1, 5):
        byte = buf[pos + i]
        length = (length << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return tag, length, pos + i + 1
    raise _Unsure


def _require_lc_config(config: bytes) -> None:
    bits = int.from_bytes(config, "big")
    width = len(config) * 8

    def take(n: int, at: int) -> int:
        if at + n > width:
            raise _Unsure
        return (bits >> (width - at - n)) & ((1 << n) - 1)

    at = 0
    if take(5, at) != _AAC_LC:
        raise _Unsure  # HE-AAC/other object types: ffmpeg's trimming not verified
    at += 5
    at += 4 + (24 if take(4, at) == 15 else 0)  # sampling frequency (index or explicit)
    if take(4, at) == 0:
        raise _Unsure  # channel layout in a PCE
    at += 4
    if take(3, at) != 0:  # frameLengthFlag (960), dependsOnCoreCoder, extensionFlag
        raise _Unsure
    at += 3
    # Backward-compatible SBR signalling. ffmpeg's encoder writes it with sbrPresentFlag=0
    # ("definitely no SBR"); any SBR would change the output rate and frame length.
    signalled = width - at >= 11 and take(11, at) == _SYNC_EXTENSION
    if signalled and (take(5, at + 11) != _SBR or take(1, at + 16) != 0):
        raise _Unsure


def _stts_total(buf: bytes, start: int, end: int) -> int:
    (count,) = struct.unpack_from(">I", buf, start + 4)
    if start + 8 + 8 * count > end:
        raise _Unsure
    return sum(
        n * delta for n, delta in struct.iter_unpack(">II", buf[start + 8 : start + 8 + 8 * count])
    )


def _mvhd_timescale(buf: bytes, start: int) -> int:
    return int(struct.unpack_from(">I", buf, start + (20 if buf[start] == 1 else 12))[0])


def _mdhd(buf: bytes, start: int, end: int) -> tuple[int, int]:
    """(timescale, duration) from a version 0 or 1 media header."""
    if buf[start] == 1:
        scale, duration = struct.unpack_from(">IQ", buf, start + 20)
    else:
        scale, duration = struct.unpack_from(">II", buf, start + 12)
    return scale, duration


def _is_sound(buf: bytes, start: int, end: int) -> bool:
    mdia = _find(buf, start, end, b"mdia")
    hdlr = _find(buf, *mdia, b"hdlr") if mdia else None
    return hdlr is not None and buf[hdlr[0] + 8 : hdlr[0] + 12] == b"soun"


def _boxes(buf: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each box in buf[start:end]; malformed is unsure."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", buf, pos)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", buf, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise _Unsure
        yield kind, pos + header, pos + size
        pos += size


def _find(buf: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    for found, a, b in _boxes(buf, start, end):
        if found == kind:
            return a, b
    return None


def _child(buf: bytes, start: int, end: int, kind: bytes) -> tuple[int, int]:
    found = _find(buf, start, end, kind)
    if found is None:
        raise _Unsure
    return found


def _read(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise _Unsure
    return data
