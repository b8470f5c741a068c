"""Camera moves (Ken Burns zoom, pans) drawn with sub-pixel precision on yuv420p planes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import cv2
import numpy as np
from numpy.typing import NDArray

from chalicelib.contracts import Effect
from cloudburst_worker.render.frames import Overlay, YuvFrame, composite

ZOOM_MAX = 1.1


def choose_effect(scene_name: str, effect: Effect | None, enable_zoom: bool) -> Effect:
    """The scene's own effect, else zoom in/out picked by a hash of its name (re-renders match)."""
    if effect is not None:
        return effect
    if not enable_zoom:
        return "none"
    digest = hashlib.sha256(scene_name.encode("utf-8")).digest()
    return "zoom_in" if digest[0] % 2 == 0 else "zoom_out"


def base_scale(effect: Effect) -> float:
    """How much larger than the frame the source is prepared (moves sample inside it)."""
    return 1.0 if effect == "none" else ZOOM_MAX


def moving_frames(
    base: YuvFrame,
    width: int,
    height: int,
    effect: Effect,
    frame_count: int,
    overlay: Overlay | None,
) -> Iterator[memoryview]:
    """Yield ``frame_count`` yuv420p frames (one reused buffer) of the move over ``base``.

    Each plane is warped straight from the once-prepared base with a bilinear affine map
    (OpenCV's 1/32-pixel interpolation tables), so the path is sub-pixel smooth, no
    intermediate RGB frame exists, and chroma costs a quarter of luma each.
    """
    buffer = np.empty(width * height * 3 // 2, np.uint8)
    y = buffer[: width * height].reshape(height, width)
    u = buffer[width * height : width * height * 5 // 4].reshape(height // 2, width // 2)
    v = buffer[width * height * 5 // 4 :].reshape(height // 2, width // 2)
    out = YuvFrame(y=y, u=u, v=v)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    for index in range(frame_count):
        scale, dx, dy = camera(effect, index, frame_count, base.width, base.height, width, height)
        luma = np.array([[scale, 0.0, dx], [0.0, scale, dy]])
        chroma = chroma_map(luma)
        cv2.warpAffine(base.y, luma, (width, height), dst=y, flags=flags)
        cv2.warpAffine(base.u, chroma, (width // 2, height // 2), dst=u, flags=flags)
        cv2.warpAffine(base.v, chroma, (width // 2, height // 2), dst=v, flags=flags)
        if overlay is not None:
            composite(out, overlay)
        yield memoryview(buffer.data)


def camera(
    effect: Effect,
    index: int,
    frame_count: int,
    base_width: int,
    base_height: int,
    width: int,
    height: int,
) -> tuple[float, float, float]:
    """Inverse map for frame ``index``: output pixel (x, y) samples base at
    (scale*x + dx, scale*y + dy). Zooms are centred and linear in zoom factor from
    1.0 to 1.1 (or back) like the seed; pans cross the base's spare width at zoom 1.1.
    """
    t = index / (frame_count - 1) if frame_count > 1 else 0.0
    # base is prepared at ZOOM_MAX x the frame, so zoom z shows base at scale ZOOM_MAX / z
    fit = base_width / width
    zoom, shift = ZOOM_MAX, 0.0
    if effect == "zoom_in":
        zoom = 1.0 + (ZOOM_MAX - 1.0) * t
    elif effect == "zoom_out":
        zoom = ZOOM_MAX - (ZOOM_MAX - 1.0) * t
    elif effect in ("pan_left", "pan_right"):
        spare = (base_width - width) / 2  # base pixels either side of a centred 1:1 view
        direction = 1.0 if effect == "pan_right" else -1.0
        shift = direction * spare * (2.0 * t - 1.0)
    scale = fit / zoom
    cx, cy = (width - 1) / 2, (height - 1) / 2
    bx, by = (base_width - 1) / 2 + shift, (base_height - 1) / 2
    return scale, bx - scale * cx, by - scale * cy


def chroma_map(luma: NDArray[np.float64]) -> NDArray[np.float64]:
    """The same move for half-size centre-sited chroma: luma x = 2*xc + 0.5."""
    chroma = luma.copy()
    for row in range(2):
        a = luma[row, row]
        chroma[row, 2] = (a * 0.5 + luma[row, 2] - 0.5) / 2
    return chroma
