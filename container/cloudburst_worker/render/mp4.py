"""The one fact the worker reads back from its own MP4s: how long the movie is.

Read from the ``mvhd`` box rather than by probing: faststart puts ``moov`` first, so this is
a read of a few hundred bytes. Any other file gets a ValueError, never a hang: a box size of
0 (to the end of the file) or below its own header would otherwise make the walk stand still.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO


def mp4_duration_seconds(path: Path) -> float:
    """Movie duration from the ``mvhd`` box; ValueError if the file has none that is whole."""
    with open(path, "rb") as f:
        return _duration(f, path.name, os.fstat(f.fileno()).st_size)


def _duration(f: BinaryIO, name: str, file_size: int) -> float:
    while (start := f.tell()) + 8 <= file_size:
        size, kind = struct.unpack(">I4s", f.read(8))
        header = 8
        if size == 1:
            if start + 16 > file_size:
                break
            size, header = struct.unpack(">Q", f.read(8))[0], 16
        elif size == 0:
            size = file_size - start  # the box runs to the end of the file
        if size < header or start + size > file_size:
            break
        if kind == b"moov":
            continue  # descend: mvhd is one of moov's children
        if kind == b"mvhd":
            return _mvhd_duration(f.read(size - header), name)
        f.seek(start + size)
    raise ValueError(f"{name}: no whole mvhd box")


def _mvhd_duration(body: bytes, name: str) -> float:
    version_1 = bool(body) and body[0] == 1
    fields = (">IQ", 20, 32) if version_1 else (">II", 12, 20)
    if len(body) < fields[2]:
        raise ValueError(f"{name}: the mvhd box is cut short")
    timescale, duration = struct.unpack(fields[0], body[fields[1] : fields[2]])
    if timescale == 0:
        raise ValueError(f"{name}: the mvhd box has a time scale of 0")
    return float(duration / timescale)
