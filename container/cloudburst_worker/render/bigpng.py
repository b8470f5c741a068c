"""A PNG larger than any frame, decoded a strip of rows at a time and shrunk as it goes.

A 20000×20000 PNG is 1.2 GB of pixels: decoding it whole and then shrinking it would not
fit the 1 vCPU / 2 GB profile. Its zlib stream is inflated incrementally; each strip of
filtered rows becomes a small PNG of its own for libspng to unfilter — led by the previous
strip's last row, stored unfiltered, so "Up"/"Average"/"Paeth" rows see the right row
above — and is area-averaged by an integer factor at once. Peak memory is a few strips
plus the shrunk picture. Non-interlaced 8/16-bit grey, grey+alpha, RGB and RGBA only.
"""

from __future__ import annotations

import itertools
import math
import struct
import zlib
from collections.abc import Iterator

import cv2
import numpy as np
import pyspng
from numpy.typing import NDArray

from cloudburst_worker.render.damage import PNG_SIGNATURE

U8 = NDArray[np.uint8]
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # PNG colour type → samples per pixel
_STRIP_BYTES = 8 << 20
_INFLATE_CHUNK = 4 << 20


class UnsupportedPng(ValueError):
    """This PNG cannot be decoded strip by strip; the message says what to change."""


def decode_png_shrunk(data: bytes, max_side: int) -> U8:
    """The picture as HxWx3 RGB or HxWx4 RGBA, no side much over ``max_side``."""
    width, height, depth, colour, interlace = struct.unpack_from(">IIBBxxB", data, 16)
    if interlace or colour not in _CHANNELS or depth not in (8, 16):
        raise UnsupportedPng(
            f"a {width}×{height} PNG must be non-interlaced 8- or 16-bit grey or RGB(A) "
            "to be shrunk while decoding; save it smaller or without interlacing/palette"
        )
    factor = max(1, math.ceil(max(width, height) / max_side))
    channels = _CHANNELS[colour]
    stride = 1 + width * channels * depth // 8
    rows_per_strip = max(factor, (_STRIP_BYTES // stride) // factor * factor)
    strips: list[U8] = []
    previous: bytes | None = None  # the last decoded row, as raw big-endian samples
    pending = bytearray()
    rows_done = 0
    for piece in itertools.chain(_inflated(data), [None]):
        if piece is not None:
            pending += piece
        while rows_done < height and (
            len(pending) >= rows_per_strip * stride or (piece is None and len(pending) >= stride)
        ):
            rows = min(rows_per_strip, len(pending) // stride, height - rows_done)
            filtered = bytes(pending[: rows * stride])
            pixels, previous = _strip(data, filtered, rows, channels, previous)
            del pending[: rows * stride]
            rows_done += rows
            strips.append(_shrink(pixels, factor))
    if rows_done < height:
        raise ValueError(f"the PNG file is cut short ({rows_done} of {height} rows)")
    picture = np.ascontiguousarray(np.concatenate(strips, axis=0))
    if channels == 1:
        return np.ascontiguousarray(np.repeat(picture[:, :, None], 3, axis=2))
    if channels == 2:
        grey, alpha = picture[:, :, 0], picture[:, :, 1]
        return np.ascontiguousarray(np.dstack([grey, grey, grey, alpha]))
    return picture


def _inflated(data: bytes) -> Iterator[bytes]:
    """The IDAT stream inflated a few MiB at a time (never all of it at once)."""
    inflater = zlib.decompressobj()
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"IDAT":
            chunk = data[pos + 8 : pos + 8 + length]
            while chunk:
                yield inflater.decompress(chunk, _INFLATE_CHUNK)
                chunk = inflater.unconsumed_tail
        elif kind == b"IEND":
            break
        pos += 12 + length
    yield inflater.flush()


def _strip(
    data: bytes, filtered: bytes, rows: int, channels: int, previous: bytes | None
) -> tuple[NDArray[np.generic], bytes]:
    """Unfilter ``rows`` rows with libspng; returns (pixels, last row as raw samples)."""
    lead = b"" if previous is None else b"\x00" + previous
    header = bytearray(data[16:29])
    struct.pack_into(">I", header, 4, rows + (previous is not None))
    png = b"".join(
        (
            PNG_SIGNATURE,
            _chunk(b"IHDR", bytes(header)),
            _chunk(b"IDAT", zlib.compress(lead + filtered, 0)),  # stored: a copy, no search
            _chunk(b"IEND", b""),
        )
    )
    try:
        pixels = pyspng.load(png)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"the PNG file is damaged ({exc})") from None
    pixels = _png_channels(pixels, channels)
    if previous is not None:
        pixels = pixels[1:]
    last = pixels[-1]
    raw = last.astype(">u2").tobytes() if last.dtype == np.uint16 else last.tobytes()
    return pixels, raw


def _png_channels(pixels: NDArray[np.generic], channels: int) -> NDArray[np.generic]:
    """libspng's output in the PNG's own samples (it widens 16-bit RGB to RGBA, grey+alpha
    may come back as RGBA): the unfiltered row above must be raw samples again."""
    height, width = pixels.shape[:2]
    samples = pixels.reshape(height, width, -1)
    have = samples.shape[2]
    if have == channels:
        picked = samples
    elif channels == 2:  # grey + alpha from RGBA
        picked = samples[:, :, [0, have - 1]]
    else:  # RGB from RGBA, grey from GA/RGB(A)
        picked = samples[:, :, :channels]
    return picked[:, :, 0] if channels == 1 else picked


def _shrink(pixels: NDArray[np.generic], factor: int) -> U8:
    if pixels.dtype == np.uint16:
        eight = np.ascontiguousarray(np.right_shift(pixels.astype(np.uint16), 8), dtype=np.uint8)
    else:
        eight = np.ascontiguousarray(pixels, dtype=np.uint8)
    if factor == 1:
        return eight
    rows, cols = eight.shape[:2]
    size = (max(1, math.ceil(cols / factor)), max(1, math.ceil(rows / factor)))
    return np.asarray(cv2.resize(eight, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
