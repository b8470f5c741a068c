"""Still-image maths: decode, fit to the frame, RGB → yuv420p, watermark compositing.

Everything after decoding happens once per scene on one frame, in numpy/OpenCV, so the
encoder only ever sees ready yuv420p frames (BT.709, limited range).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyspng
from numpy.typing import NDArray

from cloudburst_worker.render import bigpng, damage, native_stderr
from cloudburst_worker.render.commands import MAX_DECODE_SIDE, decode_image_args
from cloudburst_worker.render.ffmpeg import FfmpegError, explain, run_ffmpeg

U8 = NDArray[np.uint8]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SPNG_MAX_PIXELS = 50_000_000  # larger PNGs go through the decoders that cap their size
# Decoded whole, 50 Mpx is 200 MB of RGBA plus a converted copy: fine on 2 GB; larger
# pictures are decoded at reduced size or refused (_decode_large).
MAX_FULL_DECODE_PIXELS = SPNG_MAX_PIXELS
F32 = NDArray[np.float32]

# Fit rule: the whole picture, centred and scaled to fit ("contain"), over a blurred,
# dimmed copy of itself scaled to cover the frame. Nothing of the image is cropped and
# no black bars appear; a picture of the frame's aspect simply fills it.
BACKDROP_BLUR_FRACTION = 0.03  # Gaussian sigma as a fraction of the frame's long side
BACKDROP_DIM = 0.6


@dataclass(frozen=True)
class YuvFrame:
    """Planar yuv420p; ``y`` is HxW, ``u``/``v`` are H/2xW/2 (chroma sited at centres)."""

    y: U8
    u: U8
    v: U8

    @property
    def width(self) -> int:
        return int(self.y.shape[1])

    @property
    def height(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True)
class Overlay:
    """A watermark already converted to yuv420p planes with per-plane alpha (0..1)."""

    frame: YuvFrame
    alpha_y: F32
    alpha_uv: F32
    x: int  # top-left corner in luma pixels (even)
    y: int


def decode_picture(image: Path, timeout: float) -> U8:
    """Decode the first frame of ``image`` to HxWx3 RGB or HxWx4 RGBA.

    The picture gates the first encoded frame, so the fastest in-process decoder goes
    first: libspng for PNG (1.8x OpenCV's libpng on a 1080p slide), then OpenCV for
    JPEG/WebP (and EXIF orientation). Anything neither reads goes to ffmpeg, which
    reads more formats and, on failure, says why.

    A file that is not whole (cut short, failing a checksum, or ffmpeg saying data was
    lost) raises ValueError: half a picture must not render as a normal scene. A picture
    over MAX_FULL_DECODE_PIXELS is decoded at reduced size (libjpeg's scaled IDCT, PNG
    strip by strip) or refused, so it cannot outgrow the smallest profile's memory.
    """
    data = Path(image).read_bytes()
    problem = damage.picture_damage(data)
    if problem:
        raise ValueError(problem)
    header = damage.picture_header(data)
    if header is not None and header.width * header.height > MAX_FULL_DECODE_PIXELS:
        return _cap_size(_decode_large(data, header))
    picture = _decode_png(data)
    if picture is None:
        picture = _decode_with_opencv(np.frombuffer(data, np.uint8))
    if picture is None:
        run = run_ffmpeg(decode_image_args(image), timeout=timeout, capture_stdout=True)
        lost = damage.lost_data(run.stderr_tail)
        if lost:
            raise ValueError(f"data is lost decoding it ({lost})")
        if not run.stdout:  # ffmpeg may exit 0 having decoded nothing
            lines = tuple(run.stderr_tail)
            raise FfmpegError(explain(list(lines)) or "no picture in the file", lines=lines)
        picture = parse_pam(run.stdout)
    return _cap_size(picture)


def _decode_large(data: bytes, header: damage.PictureHeader) -> U8:
    """A picture too large to decode whole: shrunk while decoding, or refused."""
    if header.kind == "png" and not header.progressive:
        return bigpng.decode_png_shrunk(data, MAX_DECODE_SIDE)
    if header.kind == "jpeg" and not header.progressive:
        reduction = max(header.width, header.height) / MAX_DECODE_SIDE
        flag = next((f for n, f in _JPEG_REDUCED if reduction >= n), cv2.IMREAD_REDUCED_COLOR_2)
        decoded = _imdecode(np.frombuffer(data, np.uint8), flag)
        if decoded is None or decoded.size == 0:
            raise ValueError("the JPEG file could not be decoded")
        return np.asarray(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), dtype=np.uint8)
    kind = {"png": "interlaced PNG", "jpeg": "progressive JPEG"}.get(header.kind, header.kind)
    raise ValueError(
        f"a {header.width}×{header.height} {kind} is too large to decode within the task's "
        f"memory (at most {MAX_FULL_DECODE_PIXELS // 1_000_000} megapixels, or a baseline "
        "JPEG / non-interlaced PNG of any size); shrink it"
    )


# libjpeg decodes at 1/8, 1/4 or 1/2 size directly; the largest that keeps MAX_DECODE_SIDE.
_JPEG_REDUCED = (
    (8, cv2.IMREAD_REDUCED_COLOR_8),
    (4, cv2.IMREAD_REDUCED_COLOR_4),
    (2, cv2.IMREAD_REDUCED_COLOR_2),
)


def _decode_png(data: bytes) -> U8 | None:
    """8-bit RGB, or RGBA when the PNG has an alpha channel; None leaves it to OpenCV/ffmpeg."""
    header = data[:33]
    if not header.startswith(PNG_SIGNATURE) or header[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", header[16:24])
    if width * height > SPNG_MAX_PIXELS:  # let the capped decoders handle posters
        return None
    if _has_trns(data):  # pyspng does not apply tRNS transparency: OpenCV does
        return None
    try:
        picture = pyspng.load(data, format="RGBA" if header[25] in (4, 6) else "RGB")
    except (RuntimeError, ValueError):
        return None
    return np.ascontiguousarray(picture, dtype=np.uint8)


def _has_trns(data: bytes) -> bool:
    """A tRNS chunk (palette or colour-key transparency) can only come before IDAT."""
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind in (b"tRNS", b"IDAT"):
            return kind == b"tRNS"
        pos += 12 + length
    return False


def _decode_with_opencv(data: U8) -> U8 | None:
    jpeg = data[:3].tobytes() == b"\xff\xd8\xff"
    # JPEG has no alpha, so decode it as colour (which honours EXIF orientation).
    flags = cv2.IMREAD_COLOR if jpeg else cv2.IMREAD_UNCHANGED
    try:
        decoded = _imdecode(data, flags)
    except cv2.error:
        return None
    if decoded is None or decoded.size == 0:
        return None
    if decoded.dtype == np.uint16:
        decoded = (decoded // 257).astype(np.uint8)
    elif decoded.dtype != np.uint8:
        return None
    if decoded.ndim == 2:
        return np.ascontiguousarray(np.repeat(decoded[:, :, None], 3, axis=2))
    code = cv2.COLOR_BGRA2RGBA if decoded.shape[2] == 4 else cv2.COLOR_BGR2RGB
    return np.asarray(cv2.cvtColor(decoded, code), dtype=np.uint8)


def _imdecode(data: U8, flags: int) -> NDArray[Any] | None:
    """cv2.imdecode, and for a JPEG a ValueError when libjpeg says it skipped lost data
    (it decodes on as if nothing happened and says so only on stderr)."""
    if data[:2].tobytes() != b"\xff\xd8":
        return cv2.imdecode(data, flags)
    with native_stderr.captured(damage.is_libjpeg_warning) as warnings:
        decoded = cv2.imdecode(data, flags)
    problem = damage.libjpeg_damage(warnings)
    if problem:
        raise ValueError(problem)
    return decoded


def _cap_size(picture: U8) -> U8:
    """Keep huge pictures to MAX_DECODE_SIDE per side (the frame never needs more)."""
    h, w = picture.shape[:2]
    if max(h, w) <= MAX_DECODE_SIDE:
        return picture
    scale = MAX_DECODE_SIDE / max(h, w)
    return _resize(picture, max(1, round(w * scale)), max(1, round(h * scale)))


def parse_pam(data: bytes) -> U8:
    end = data.find(b"ENDHDR\n")
    if not data.startswith(b"P7\n") or end < 0:
        raise ValueError("decoder produced no picture")
    fields = dict(line.split(b" ", 1) for line in data[3:end].splitlines() if b" " in line)
    width, height, depth = int(fields[b"WIDTH"]), int(fields[b"HEIGHT"]), int(fields[b"DEPTH"])
    pixels = np.frombuffer(data, np.uint8, count=width * height * depth, offset=end + 7)
    return pixels.reshape(height, width, depth)


def flatten_alpha(rgba: U8) -> U8:
    """Composite over black: transparent areas become the dark backdrop, not garbage RGB."""
    if rgba.shape[2] == 3:
        return rgba
    if int(rgba[:, :, 3].min()) == 255:  # opaque: nothing to composite
        return np.ascontiguousarray(rgba[:, :, :3])
    alpha = rgba[:, :, 3:4].astype(np.uint16)
    return ((rgba[:, :, :3].astype(np.uint16) * alpha + 127) // 255).astype(np.uint8)


def fit_to_frame(rgb: U8, width: int, height: int) -> U8:
    """The documented fit rule (contain over a blurred cover of itself) → HxWx3."""
    src_h, src_w = rgb.shape[:2]
    cover = max(width / src_w, height / src_h)
    contain = min(width / src_w, height / src_h)
    fg = _resize(rgb, max(1, round(src_w * contain)), max(1, round(src_h * contain)))
    if fg.shape[:2] == (height, width):
        return fg
    bg = _resize(rgb, max(width, round(src_w * cover)), max(height, round(src_h * cover)))
    top, left = (bg.shape[0] - height) // 2, (bg.shape[1] - width) // 2
    bg = bg[top : top + height, left : left + width]
    sigma = BACKDROP_BLUR_FRACTION * max(width, height)
    bg = np.asarray(cv2.GaussianBlur(bg, (0, 0), sigma), dtype=np.uint8)
    bg = (bg.astype(np.float32) * BACKDROP_DIM).astype(np.uint8)
    y0, x0 = (height - fg.shape[0]) // 2, (width - fg.shape[1]) // 2
    bg[y0 : y0 + fg.shape[0], x0 : x0 + fg.shape[1]] = fg
    return bg


def rgb_to_yuv420(rgb: U8) -> YuvFrame:
    """BT.709 limited range; chroma is the 2x2 mean (centre-sited). Sizes must be even.

    OpenCV's fixed-point ``transform`` keeps this at a few ms per 1080p frame; chroma is
    taken from the 2x2-averaged RGB (the conversion is linear, so that equals averaging
    full-resolution chroma).
    """
    h, w = rgb.shape[:2]
    rgb = np.ascontiguousarray(rgb)
    y = cv2.transform(rgb, _LUMA)
    half = cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    uv = cv2.transform(half, _CHROMA)
    return YuvFrame(
        y=np.ascontiguousarray(y.reshape(h, w)),
        u=np.ascontiguousarray(uv[:, :, 0]),
        v=np.ascontiguousarray(uv[:, :, 1]),
    )


_KR, _KB = 0.2126, 0.0722
_KG = 1 - _KR - _KB
_Y_SCALE, _C_SCALE = 219 / 255, 224 / 255
_LUMA = np.array([[_KR * _Y_SCALE, _KG * _Y_SCALE, _KB * _Y_SCALE, 16.0]], np.float32)
_CB = _C_SCALE / (2 * (1 - _KB))
_CR = _C_SCALE / (2 * (1 - _KR))
_CHROMA = np.array(
    [
        [-_KR * _CB, -_KG * _CB, (1 - _KB) * _CB, 128.0],
        [(1 - _KR) * _CR, -_KG * _CR, -_KB * _CR, 128.0],
    ],
    np.float32,
)


def make_overlay(picture: U8, frame_width: int) -> Overlay:
    """Seed watermark: 1/8 of the frame width, 10 px from the top-left, own alpha kept.

    ``picture`` is whatever :func:`decode_picture` gives (RGB or RGBA), so any picture
    accepted as a scene image is accepted as a watermark; one without alpha is opaque.
    """
    rgba = with_alpha(picture)
    target_w = max(2, (frame_width // 8) // 2 * 2)
    src_h, src_w = rgba.shape[:2]
    target_h = max(2, round(src_h * target_w / src_w / 2) * 2)
    # Premultiplied resize avoids dark fringes from transparent pixels' colour.
    premult = flatten_alpha(rgba)
    alpha = _resize(np.ascontiguousarray(rgba[:, :, 3]), target_w, target_h)
    rgb = _resize(premult, target_w, target_h).astype(np.float32)
    a = alpha.astype(np.float32) / 255.0
    unpremult = np.where(a[..., None] > 0, rgb / np.maximum(a[..., None], 1e-6), 0.0)
    frame = rgb_to_yuv420(np.clip(unpremult, 0, 255).astype(np.uint8))
    alpha_uv = a.reshape(target_h // 2, 2, target_w // 2, 2).mean(axis=(1, 3))
    return Overlay(frame=frame, alpha_y=a, alpha_uv=alpha_uv.astype(np.float32), x=10, y=10)


def with_alpha(picture: U8) -> U8:
    """HxWx4 RGBA: an RGB picture gets an opaque alpha channel."""
    if picture.shape[2] == 4:
        return picture
    opaque = np.full((*picture.shape[:2], 1), 255, np.uint8)
    return np.ascontiguousarray(np.concatenate([picture, opaque], axis=2))


def composite(frame: YuvFrame, overlay: Overlay) -> None:
    """Blend ``overlay`` into ``frame`` in place (only the small corner region is touched)."""
    x, y = overlay.x, overlay.y
    for dst, src, a, (ox, oy) in (
        (frame.y, overlay.frame.y, overlay.alpha_y, (x, y)),
        (frame.u, overlay.frame.u, overlay.alpha_uv, (x // 2, y // 2)),
        (frame.v, overlay.frame.v, overlay.alpha_uv, (x // 2, y // 2)),
    ):
        h = min(src.shape[0], dst.shape[0] - oy)
        w = min(src.shape[1], dst.shape[1] - ox)
        region = dst[oy : oy + h, ox : ox + w]
        blended = src[:h, :w] * a[:h, :w] + region * (1.0 - a[:h, :w])
        region[...] = _to_u8(blended)


def _to_u8(values: NDArray[np.floating]) -> U8:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _resize(img: U8, width: int, height: int) -> U8:
    shrinking = width * height < img.shape[0] * img.shape[1]
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4
    return np.asarray(cv2.resize(img, (width, height), interpolation=interp), dtype=np.uint8)
