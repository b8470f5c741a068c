"""Pictures people look at instead of reading: a poster per scene and a contact sheet."""

from __future__ import annotations

import math
import tempfile
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from cloudburst_worker.episode import commands
from cloudburst_worker.render.ffmpeg import run_ffmpeg
from cloudburst_worker.render.fonts import subtitle_fonts
from cloudburst_worker.render.mp4 import mp4_duration_seconds

TILE_WIDTH = 320
MAX_COLUMNS = 8
POSTER_AT = 0.4  # of the scene: past the opening transition, before the closing one


def poster(scene_mp4: Path, output: Path, *, timeout: float = 120.0) -> Path:
    """A representative frame of a scene (40 % in: clear of both transitions) → JPEG."""
    seconds = mp4_duration_seconds(scene_mp4) * POSTER_AT
    run_ffmpeg(commands.poster_args(scene_mp4, seconds, output), timeout=timeout)
    return output


def contact_sheet(
    posters: Sequence[Path],
    names: Sequence[str],
    durations: Sequence[float],
    output: Path,
    *,
    timeout: float = 300.0,
) -> Path:
    """Every poster in a grid, labelled with its scene name and duration → JPEG."""
    if not posters:
        raise ValueError("a contact sheet needs at least one poster")
    font = subtitle_fonts("chinese")[0].path  # CJK face: draws Latin names too
    tiles: list[np.ndarray] = []
    with tempfile.TemporaryDirectory(prefix="cloudburst-sheet-") as work:
        root = Path(work)
        (root / f"font{font.suffix.lower()}").symlink_to(font)
        for index, (picture, name, seconds) in enumerate(
            zip(posters, names, durations, strict=True)
        ):
            label = tile_label(name, seconds, TILE_WIDTH / commands.label_font_size(TILE_WIDTH))
            (root / f"{index}.txt").write_text(label, "utf-8")
            tile_file = root / f"{index}.png"
            args = commands.label_args(
                Path(picture).absolute(), f"{index}.txt", f"font{font.suffix.lower()}", tile_file,
                TILE_WIDTH,
            )  # fmt: skip
            run_ffmpeg(args, timeout=timeout, cwd=work)
            image = cv2.imread(str(tile_file))
            if image is None:
                raise ValueError(f"poster of scene '{name}' could not be read")
            tiles.append(image)
    columns = min(MAX_COLUMNS, math.ceil(math.sqrt(len(tiles) * 16 / 9)), len(tiles))
    rows = math.ceil(len(tiles) / columns)
    height, width = tiles[0].shape[:2]
    sheet = np.full((rows * height, columns * width, 3), 0x10, np.uint8)
    for index, tile in enumerate(tiles):
        row, column = divmod(index, columns)
        sheet[row * height : (row + 1) * height, column * width : (column + 1) * width] = tile
    if not cv2.imwrite(str(output), sheet, [cv2.IMWRITE_JPEG_QUALITY, 88]):
        raise OSError(f"could not write {output}")
    return output


def tile_label(name: str, seconds: float, ems: float) -> str:
    """``name  0:07.5``, the name cut with an ellipsis so the label fits ``ems`` font sizes.

    Widths are conservative (CJK 1 em, anything else 0.6 em) so a label never overflows.
    """
    tail = "  " + duration_label(seconds)
    budget = ems - 0.6 * len(tail) - 0.5

    def width(text: str) -> float:
        return sum(1.0 if unicodedata.east_asian_width(c) in "WF" else 0.6 for c in text)

    if width(name) <= budget:
        return name + tail
    while name and width(name) + 1.0 > budget:
        name = name[:-1]
    return name + "…" + tail


def duration_label(seconds: float) -> str:
    """``0:07.5`` / ``12:03.0``: minutes and seconds to a tenth."""
    tenths = round(seconds * 10)
    minutes, tenths = divmod(tenths, 600)
    return f"{minutes}:{tenths // 10:02d}.{tenths % 10}"
