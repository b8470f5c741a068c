"""The renderer's typed inputs and result (the worker codes against these)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chalicelib.contracts import Effect, Language


@dataclass(frozen=True)
class SceneInput:
    name: str
    image: Path
    audio: Path
    subtitle: Path | None = None
    effect: Effect | None = None  # None → from enable_zoom (deterministic per scene name)
    # Frames an episode's transition windows reach into the scene's head and tail: the
    # renderer puts IDRs there so the assembler copies the rest (commands.forced_keyframes).
    keyframe_reach: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class RenderSettings:
    language: Language = "chinese"
    enable_zoom: bool = True
    is_portrait: bool = False
    watermark: Path | None = None
    background_box: bool = True
    background_opacity: float = 0.2  # seed meaning: transparency, 0 solid .. 1 invisible
    threads: int = 1  # encoder threads; the worker runs vCPU-many scenes in parallel
    timeout_seconds: float = 1800.0
    # a still scene's GOP is encoded once and repeated (stillgop.py); False encodes every frame
    repeat_still_gops: bool = True


@dataclass(frozen=True)
class RenderResult:
    ok: bool
    output: Path
    duration_seconds: float  # of the written MP4 (0 on failure)
    render_seconds: float  # wall time spent
    bytes: int  # size of the MP4 (0 on failure)
    error: str | None  # on failure: a specific reason an end user can act on
