"""decode_picture: every PNG flavour decodes in-process to what ffmpeg itself reads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from cloudburst_worker.render import frames
from cloudburst_worker.render.commands import decode_image_args
from cloudburst_worker.render.ffmpeg import run_ffmpeg
from PIL import Image

RNG = np.random.default_rng(7)
PIXELS = RNG.integers(0, 256, (37, 53, 4), dtype=np.uint8)  # odd sizes on purpose


def _palette(path: Path) -> None:
    Image.fromarray(PIXELS[..., :3]).convert("P", palette=Image.Palette.ADAPTIVE).save(path)


def _palette_transparent(path: Path) -> None:
    image = Image.fromarray(PIXELS[..., :3]).convert("P", palette=Image.Palette.ADAPTIVE)
    image.save(path, transparency=0)


def _grey(path: Path) -> None:
    Image.fromarray(PIXELS[..., 0]).save(path)


def _grey_alpha(path: Path) -> None:
    Image.fromarray(PIXELS[..., :2].copy(), "LA").save(path)


def _rgb_interlaced(path: Path) -> None:
    Image.fromarray(PIXELS[..., :3]).save(path, interlace=1)


def _rgba(path: Path) -> None:
    Image.fromarray(PIXELS).save(path)


def _rgb16(path: Path) -> None:
    cv2.imwrite(str(path), PIXELS[..., :3].astype(np.uint16) * 257)


def _rgba16(path: Path) -> None:
    cv2.imwrite(str(path), PIXELS.astype(np.uint16) * 257)


@pytest.mark.parametrize(
    ("write", "transparent"),
    [
        (_palette, False),
        (_palette_transparent, True),
        (_grey, False),
        (_grey_alpha, True),
        (_rgb_interlaced, False),
        (_rgba, True),
        (_rgb16, False),
        (_rgba16, True),
    ],
)
def test_png_flavours_decode_like_ffmpeg(
    write: Callable[[Path], None], transparent: bool, tmp_path: Path
) -> None:
    png = tmp_path / "in.png"
    write(png)
    ours = frames.decode_picture(png, timeout=30)
    run = run_ffmpeg(decode_image_args(png), timeout=30, capture_stdout=True)
    theirs = frames.parse_pam(run.stdout)

    assert ours.dtype == np.uint8
    assert ours.shape == (37, 53, 4 if transparent else 3)
    # 16-bit samples may round differently by one step when narrowed to 8 bits.
    difference = np.abs(ours.astype(int) - theirs[..., : ours.shape[2]].astype(int))
    assert int(difference.max()) <= 1


def test_a_truncated_png_is_refused_before_any_decoder_guesses(tmp_path: Path) -> None:
    png = tmp_path / "cut.png"
    _rgba(png)
    png.write_bytes(png.read_bytes()[:200])
    with pytest.raises(ValueError, match="the PNG file is cut short"):
        frames.decode_picture(png, timeout=30)
