"""Any picture the renderer accepts as a scene image, it accepts as a watermark (issue 11).

Property: for every kind of picture users make — grey, grey+alpha, palette, palette+tRNS,
RGB, RGBA, 16-bit, CMYK and progressive JPEG, WebP, EXIF-rotated JPEG — one scene that uses
the same file as its picture AND as its watermark renders, and the frame shows what a
reference decoder (Pillow, EXIF orientation applied) shows: the picture's left and right
halves where they belong, and the watermark's halves, blended by its alpha, in the corner.

Each picture is 64x36 (16:9, so it fills the frame) in two colours, left and right, so a
wrong orientation, swapped channels or a lost alpha moves a measured colour far off.
Budget: a fixed seed, two examples per kind, 0.2-s scenes, no shrinking (~2 s per kind).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from cloudburst_worker.render import RenderSettings, SceneInput, render_scene
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps
from render_media import make_tone

WIDTH, HEIGHT = 64, 36  # displayed size (after EXIF orientation)
TOLERANCE = 10  # levels of Y/U/V: JPEG/WebP/x264 round trips of flat colours stay within it
Colour = tuple[int, int, int]

# Pillow's exif_transpose applies these for orientations 2..8; storing the displayed
# picture through the inverse makes a file that displays upright only if EXIF is honoured.
_INVERSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def two_halves(left: Colour, right: Colour, alpha: int) -> np.ndarray:
    rgba = np.empty((HEIGHT, WIDTH, 4), np.uint8)
    rgba[:, : WIDTH // 2, :3] = left
    rgba[:, WIDTH // 2 :, :3] = right
    rgba[..., 3] = alpha
    return rgba


def _pil(rgba: np.ndarray, mode: str) -> Image.Image:
    return Image.fromarray(rgba, "RGBA").convert(mode)


def _grey(rgba: np.ndarray) -> Image.Image:
    return _pil(rgba, "L")


def _png16(rgba: np.ndarray, channels: int) -> bytes:
    wide = rgba.astype(np.uint16) * 257
    bgr = cv2.cvtColor(wide, cv2.COLOR_RGBA2BGRA if channels == 4 else cv2.COLOR_RGBA2BGR)
    ok, data = cv2.imencode(".png", bgr)
    assert ok
    return bytes(data)


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _palette(rgba: np.ndarray, *, transparent: bool) -> bytes:
    image = _pil(rgba, "RGB").quantize(colors=2)
    if not transparent:
        return _save(image, "PNG")
    return _save(image, "PNG", transparency=bytes([int(rgba[0, 0, 3])] * 2))


def _exif_rotated(rgba: np.ndarray, orientation: int) -> bytes:
    stored = _pil(rgba, "RGB").transpose(_INVERSE[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _save(stored, "JPEG", quality=95, exif=exif.tobytes())


# kind → (makes the file's bytes from RGBA and an EXIF orientation, has alpha, is grey)
KINDS: dict[str, tuple[Callable[[np.ndarray, int], bytes], bool, bool]] = {
    "grey PNG": (lambda p, _: _save(_grey(p), "PNG"), False, True),
    "grey+alpha PNG": (lambda p, _: _save(_pil(p, "LA"), "PNG"), True, True),
    "palette PNG": (lambda p, _: _palette(p, transparent=False), False, False),
    "palette+tRNS PNG": (lambda p, _: _palette(p, transparent=True), True, False),
    "RGB PNG": (lambda p, _: _save(_pil(p, "RGB"), "PNG"), False, False),
    "RGBA PNG": (lambda p, _: _save(_pil(p, "RGBA"), "PNG"), True, False),
    "16-bit grey PNG": (lambda p, _: _save(_grey(p).convert("I;16"), "PNG"), False, True),
    "16-bit RGB PNG": (lambda p, _: _png16(p, 3), False, False),
    "16-bit RGBA PNG": (lambda p, _: _png16(p, 4), True, False),
    "RGB JPEG": (lambda p, _: _save(_pil(p, "RGB"), "JPEG", quality=95), False, False),
    "grey JPEG": (lambda p, _: _save(_grey(p), "JPEG", quality=95), False, True),
    "CMYK JPEG": (lambda p, _: _save(_pil(p, "CMYK"), "JPEG", quality=95), False, False),
    "progressive JPEG": (
        lambda p, _: _save(_pil(p, "RGB"), "JPEG", quality=95, progressive=True),
        False,
        False,
    ),
    "RGB WebP": (lambda p, _: _save(_pil(p, "RGB"), "WEBP", lossless=True), False, False),
    "RGBA WebP": (lambda p, _: _save(_pil(p, "RGBA"), "WEBP", lossless=True), True, False),
    "lossy WebP": (lambda p, _: _save(_pil(p, "RGB"), "WEBP", quality=95), False, False),
    "EXIF-rotated JPEG": (_exif_rotated, False, False),
}

channel = st.integers(0, 255)
colours = st.tuples(channel, channel, channel)


@pytest.fixture(scope="module")
def narration(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tone(tmp_path_factory.mktemp("roles") / "short.wav", 0.2)


@pytest.mark.parametrize("kind", list(KINDS))
def test_any_picture_accepted_as_a_scene_image_is_accepted_as_a_watermark(
    kind: str, narration: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    make, has_alpha, grey = KINDS[kind]

    @settings(
        max_examples=2,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],  # no shrinking: a failing kind costs two renders, not hundreds
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        left=colours,
        right=colours,
        alpha=st.integers(0, 255) if has_alpha else st.just(255),
        orientation=st.integers(2, 8),
    )
    def check(left: Colour, right: Colour, alpha: int, orientation: int) -> None:
        if grey:
            left, right = (left[0],) * 3, (right[0],) * 3
        # given one picture file of this kind (halves far enough apart to tell them apart)
        if abs(_luma(left) - _luma(right)) < 40:
            right = tuple(255 - c for c in left)  # type: ignore[assignment]
        folder = tmp_path_factory.mktemp("picture")
        picture = folder / "picture"
        picture.write_bytes(make(two_halves(left, right, alpha), orientation))
        shown = reference_decode(picture)

        # when a scene uses it as its image and as its watermark
        result = render_scene(
            SceneInput("roles", picture, narration),
            RenderSettings(enable_zoom=False, watermark=picture),
            folder / "roles.mp4",
        )

        # then it renders, the picture fills the frame, and the mark sits in the corner
        assert result.ok, f"{kind}: {result.error}"
        frame = first_frame_yuv(result.output)
        scene_left, scene_right = over_black(shown[18, 16]), over_black(shown[18, 48])
        assert_near(frame, 480, 540, scene_left, f"{kind}: picture's left half")
        assert_near(frame, 1440, 540, scene_right, f"{kind}: picture's right half")
        mark_left = blend(shown[18, 16], scene_left)  # the mark's top-left is over that half
        mark_right = blend(shown[18, 48], scene_left)
        assert_near(frame, 70, 77, mark_left, f"{kind}: watermark's left half")
        assert_near(frame, 190, 77, mark_right, f"{kind}: watermark's right half")

    check()


def reference_decode(path: Path) -> np.ndarray:
    """What a viewer shows: Pillow's decode, EXIF orientation applied, as RGBA floats."""
    with Image.open(path) as image:
        upright = ImageOps.exif_transpose(image)
        if upright.mode == "I;16":  # Pillow's RGBA conversion clips 16-bit grey
            grey = np.asarray(upright, np.float64) / 257
            return np.dstack([grey, grey, grey, np.full_like(grey, 255)])
        shown = np.asarray(upright.convert("RGBA"), np.float64)
    assert shown.shape[:2] == (HEIGHT, WIDTH)
    return shown


def over_black(rgba: np.ndarray) -> np.ndarray:
    return rgba[:3] * rgba[3] / 255


def blend(mark: np.ndarray, under: np.ndarray) -> np.ndarray:
    a = mark[3] / 255
    return mark[:3] * a + under * (1 - a)


def first_frame_yuv(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first frame's Y, U and V planes as decoded (no RGB matrix in between)."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    h, w = frame.height, frame.width
    planes = frame.to_ndarray(format="yuv420p").astype(np.float64)
    quarter = h // 4  # each chroma plane is (h/2 x w/2), stored as h/4 rows of w
    u = planes[h : h + quarter].reshape(h // 2, w // 2)
    v = planes[h + quarter :].reshape(h // 2, w // 2)
    return planes[:h], u, v


def assert_near(
    frame: tuple[np.ndarray, np.ndarray, np.ndarray], x: int, y: int, rgb: np.ndarray, what: str
) -> None:
    """Mean Y, U, V of a 16x16 patch centred at (x, y) against BT.709 limited-range maths."""
    y_plane, u_plane, v_plane = frame
    cx, cy = x // 2, y // 2
    measured = np.array(
        [
            y_plane[y - 8 : y + 8, x - 8 : x + 8].mean(),
            u_plane[cy - 4 : cy + 4, cx - 4 : cx + 4].mean(),
            v_plane[cy - 4 : cy + 4, cx - 4 : cx + 4].mean(),
        ]
    )
    expected = _yuv709(rgb)
    assert np.abs(measured - expected).max() <= TOLERANCE, (
        f"{what}: YUV {measured.round(1)} != {expected.round(1)} (RGB {rgb.round(1)})"
    )


def _luma(rgb: Colour) -> float:
    return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]


def _yuv709(rgb: np.ndarray) -> np.ndarray:
    r, g, b = rgb / 255
    luma = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return np.array(
        [16 + 219 * luma, 128 + 224 * (b - luma) / 1.8556, 128 + 224 * (r - luma) / 1.5748]
    )
