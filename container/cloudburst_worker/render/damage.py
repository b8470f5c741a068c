"""Is this the media the user sent, whole? Checks that turn lost data into a failed scene.

Decoders are forgiving: libjpeg fills a cut JPEG with flat grey, ffmpeg logs ``partial file``
for a cut M4A and exits 0. A scene rendered from half a picture or half a narration is not
what the user sent, so the renderer fails it with the file named. Containers are checked
from their own bytes (PNG chunk CRCs and IEND, JPEG markers up to EOI, RIFF sizes, Ogg's
end-of-stream page); ffmpeg's warnings are read for what only decoding can tell.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# ffmpeg log lines (any level) that mean samples or pixels were lost, lower-cased.
LOST_DATA = (
    "partial file",
    "corrupt",
    "invalid data",
    "truncat",
    "overread",
    "premature end",
    "decoding error",
    "decode_frame() failed",
    "error while decoding",
    "filesize and duration do not match",
    "input buffer exhausted",
    "invalid residual",
    "header missing",
    "incomplete frame",
    "error submitting packet",
)


@dataclass(frozen=True)
class PictureHeader:
    """What a picture's header says, read before any pixel is decoded."""

    kind: str  # "png", "jpeg", "webp"
    width: int
    height: int
    progressive: bool = False  # JPEG SOF2 / PNG Adam7: cannot be decoded at reduced size


def lost_data(lines: Iterable[str]) -> str | None:
    """The first ffmpeg log line that says data was lost, or None."""
    for line in lines:
        lowered = line.lower()
        if any(marker in lowered for marker in LOST_DATA):
            return line.split("] ")[-1].strip()
    return None


# libjpeg's warnings (jerror.h) that mean entropy-coded data was lost or skipped. A handful
# of "extraneous bytes" before the end or a new scan is encoder slop seen in real camera
# files; more, or any before a restart marker (a restart interval out of step), is damage.
LIBJPEG_PREFIX = "Corrupt JPEG data: "
LIBJPEG_LOST = ("premature end", "bad huffman code", "instead of rst")
LIBJPEG_SLOP_BYTES = 8


def is_libjpeg_warning(line: str) -> bool:
    return line.startswith((LIBJPEG_PREFIX, "Premature end of JPEG file"))


def libjpeg_damage(warnings: Iterable[str]) -> str | None:
    """Why libjpeg's warnings mean pixels were lost, or None."""
    for line in warnings:
        reason = line.removeprefix(LIBJPEG_PREFIX).strip()
        lowered = reason.lower()
        extraneous = lowered.split(" extraneous bytes before marker 0x", 1)
        if len(extraneous) == 2 and extraneous[0].isdigit():
            before_restart = extraneous[1][:2] in {f"d{n}" for n in range(8)}
            if before_restart or int(extraneous[0]) > LIBJPEG_SLOP_BYTES:
                return f"the JPEG file is damaged ({reason})"
        elif any(marker in lowered for marker in LIBJPEG_LOST) or "end of jpeg file" in lowered:
            return f"the JPEG file is damaged ({reason})"
    return None


def picture_damage(data: bytes) -> str | None:
    """Why a PNG, JPEG or WebP file is not whole, or None (other formats: ffmpeg's word)."""
    if data.startswith(PNG_SIGNATURE):
        return _png_damage(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_damage(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        declared = struct.unpack_from("<I", data, 4)[0] + 8
        if len(data) < declared:
            return f"the WebP file is cut short ({len(data)} of {declared} bytes)"
    return None


def picture_header(data: bytes) -> PictureHeader | None:
    """Size (and progressiveness) from a PNG, JPEG or WebP header; None if unknown."""
    if data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR" and len(data) >= 29:
        width, height = struct.unpack_from(">II", data, 16)
        return PictureHeader("png", width, height, progressive=data[28] == 1)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_header(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8X":
            width = 1 + int.from_bytes(data[24:27], "little")
            height = 1 + int.from_bytes(data[27:30], "little")
            return PictureHeader("webp", width, height)
        if chunk == b"VP8 ":
            width, height = struct.unpack_from("<HH", data, 26)
            return PictureHeader("webp", width & 0x3FFF, height & 0x3FFF)
        if chunk == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            return PictureHeader("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    return None


def audio_damage(path: Path) -> str | None:
    """Why a WAV or Ogg/Opus narration is not whole, by its container; None otherwise."""
    with open(path, "rb") as handle:
        head = handle.read(12)
        size = path.stat().st_size
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            return _wav_damage(handle, size)
        if head[:4] == b"OggS":
            return _ogg_damage(handle, size)
    return None


def _png_damage(data: bytes) -> str | None:
    pos = len(PNG_SIGNATURE)
    while True:
        if pos + 8 > len(data):
            return "the PNG file is cut short (no IEND chunk)"
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > len(data):
            name = kind.decode("latin-1")
            return f"the PNG file is cut short (its {name} chunk ends after the file)"
        (crc,) = struct.unpack_from(">I", data, end - 4)
        if zlib.crc32(data[pos + 4 : end - 4]) != crc:
            return f"the PNG file is damaged (its {kind.decode('latin-1')} chunk fails its CRC)"
        if kind == b"IEND":
            return None
        pos = end


def _jpeg_damage(data: bytes) -> str | None:
    pos = 2
    while pos + 1 < len(data):
        if data[pos] != 0xFF:
            return f"the JPEG file is damaged (no marker at byte {pos})"
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            return None
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
            continue
        if pos + 4 > len(data):
            break
        end = pos + 2 + struct.unpack_from(">H", data, pos + 2)[0]
        if end > len(data):
            break
        pos = end if marker != 0xDA else _after_scan(data, end)
        if pos < 0:
            break
    if pos >= 0 and data.endswith(b"\xff\xd9"):  # it does end: something inside is wrong
        return f"the JPEG file is damaged (the segment at byte {pos} runs past the file's end)"
    return "the JPEG file is cut short (no end-of-image marker)"


def _after_scan(data: bytes, pos: int) -> int:
    """Where the marker after a scan's entropy-coded data starts; -1 if the file ends first."""
    while True:
        found = data.find(b"\xff", pos)
        if found < 0 or found + 1 >= len(data):
            return -1
        following = data[found + 1]
        if following == 0 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            pos = found + 1  # stuffed byte, restart marker, or fill
            continue
        return found


def _jpeg_header(data: bytes) -> PictureHeader | None:
    pos = 2
    while pos + 9 < len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        length = struct.unpack_from(">H", data, pos + 2)[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack_from(">HH", data, pos + 5)
            return PictureHeader("jpeg", width, height, progressive=marker in (0xC2, 0xC6, 0xCA))
        if marker == 0xDA:
            return None
        pos += 2 + length
    return None


def _wav_damage(handle: BinaryIO, size: int) -> str | None:
    pos = 12
    while pos + 8 <= size:
        handle.seek(pos)
        kind, length = struct.unpack("<4sI", handle.read(8))
        if kind == b"data":
            if length not in (0, 0xFFFFFFFF) and pos + 8 + length > size:
                return f"the WAV file is cut short ({size - pos - 8} of {length} audio bytes)"
            return None
        pos += 8 + length + (length & 1)
    return "the WAV file is cut short (no audio data chunk)"


def _ogg_damage(handle: BinaryIO, size: int) -> str | None:
    """The last page must be whole and carry the end-of-stream flag."""
    handle.seek(max(0, size - 65_536 - 282))
    tail = handle.read()
    last = tail.rfind(b"OggS")
    if last < 0 or last + 27 > len(tail):
        return "the Ogg file is cut short"
    segments = tail[last + 26]
    if last + 27 + segments > len(tail):
        return "the Ogg file is cut short"
    body = sum(tail[last + 27 : last + 27 + segments])
    if last + 27 + segments + body > len(tail) or not tail[last + 5] & 0x04:
        return "the Ogg file is cut short (its last page does not end the stream)"
    return None
