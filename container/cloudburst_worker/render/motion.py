"""Camera moves (Ken Burns zoom, pans) drawn with sub-pixel precision on yuv420p planes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from chalicelib.contracts import Effect
from cloudburst_worker.render.frames import Overlay, YuvFrame

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
    raise NotImplementedError
    yield memoryview(b"")
