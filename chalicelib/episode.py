"""The episode: the manifest's optional ``episode`` object and its timeline, as pure values.

One rule makes everything else offsets: **narration is never cut, overlapped or shifted.**
Narrations are laid end to end, sample for sample at 48 kHz, with ``pause`` seconds of
silence between them, so the episode lasts exactly the sum of its narrations plus the pauses.
A scene's picture starts where its narration starts; its last frame is held until the next
scene starts (the video is variable frame rate at the joins, constant inside a scene). A
transition blends pictures inside a window centred on the gap between two narrations; the
outgoing picture holds its last frame and the incoming its first where the window needs them.

The renderer places keyframes at the edges of those windows (:func:`scene_keyframes`), so the
assembler copies every scene's H.264 and re-encodes only the windows. This module imports
nothing from AWS or the worker: the Lambda validates with it, the worker plans with it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chalicelib.manifest_fields import AssetPath, scene_name_problem

SAMPLE_RATE = 48_000
FPS = 30
FRAME_SAMPLES = SAMPLE_RATE // FPS  # 1600: a video frame in audio samples

TransitionType = Literal[
    "none",
    "fade",
    "fadeblack",
    "fadewhite",
    "dissolve",
    "wipeleft",
    "wiperight",
    "slideleft",
    "slideright",
]
TRANSITION_TYPES: tuple[str, ...] = TransitionType.__args__  # type: ignore[attr-defined]


class EpisodeError(Exception):
    """An ``episode`` the user must fix; ``errors`` name the field, every one at once."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Transition(_Strict):
    """An xfade transition; a scene's own ``transition`` is the one into the next scene."""

    type: TransitionType = "fade"
    duration: float = Field(default=0.5, ge=0.1, le=2.0, allow_inf_nan=False)

    @property
    def frames(self) -> int:
        """Window length in frames (``none``: 0)."""
        return 0 if self.type == "none" else max(1, round(self.duration * FPS))


NO_TRANSITION = Transition(type="none", duration=0.1)


class Music(_Strict):
    path: AssetPath
    volume: float = Field(default=0.3, ge=0.0, le=1.0, allow_inf_nan=False)
    ducking_db: float = Field(default=-12.0, ge=-60.0, le=0.0, allow_inf_nan=False)
    fade_in: float = Field(default=1.0, ge=0.0, le=30.0, allow_inf_nan=False)
    fade_out: float = Field(default=2.0, ge=0.0, le=30.0, allow_inf_nan=False)


class Loudness(_Strict):
    target_lufs: float = Field(default=-16.0, ge=-40.0, le=-5.0, allow_inf_nan=False)
    true_peak_db: float = Field(default=-1.5, ge=-9.0, le=0.0, allow_inf_nan=False)


class Episode(_Strict):
    """The manifest's ``episode`` object (see issue 20); defaults make ``{}`` a valid one."""

    name: str = "episode"
    transition: Transition = NO_TRANSITION
    pause: float = Field(default=0.0, ge=0.0, le=5.0, allow_inf_nan=False)
    music: Music | None = None
    loudness: Loudness | None = Loudness()
    subtitles: bool = True
    chapters: bool = True

    @field_validator("name")
    @classmethod
    def _safe_name(cls, name: str) -> str:
        problem = scene_name_problem(name)
        if problem:
            raise ValueError(problem.replace("scene_name", "name"))
        return name


def parse_episode(document: Any) -> Episode:
    """The ``episode`` object, or :class:`EpisodeError` naming every bad field at once."""
    if not isinstance(document, dict):
        raise EpisodeError(["episode must be a JSON object"])
    # JSON has one number type: accept 1 where a float is expected, as the manifest does.
    try:
        return Episode.model_validate(_floats(document))
    except ValidationError as exc:
        raise EpisodeError(_describe(exc)) from None


def parse_transition(document: Any, where: str) -> Transition:
    """A scene's own ``transition`` override, errors prefixed with ``where``."""
    if not isinstance(document, dict):
        raise EpisodeError([f"{where}: must be an object like {{'type': 'fade', 'duration': 0.5}}"])
    try:
        return Transition.model_validate(_floats(document))
    except ValidationError as exc:
        raise EpisodeError(_describe(exc, where)) from None


def seam_transitions(episode: Episode, overrides: Sequence[Transition | None]) -> list[Transition]:
    """Each seam's transition: the outgoing scene's own, else the episode's."""
    return [t if t is not None else episode.transition for t in overrides[:-1]]


# -- the timeline ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SceneSlot:
    """One scene on the episode timeline; times in samples at 48 kHz, frames scene-local."""

    start: int  # where its narration and picture start
    samples: int  # narration length
    frames: int  # video frames the renderer wrote (max(1, round(samples / 1600)))
    copy_from: int  # first frame copied (a keyframe), 0 unless a window reaches in
    copy_to: int  # frames from here on belong to the next seam's window (== frames: none)

    @property
    def end(self) -> int:
        return self.start + self.samples


@dataclass(frozen=True)
class Seam:
    """The join between scene ``index`` and ``index + 1``.

    ``window`` is where pictures blend (empty for ``none``); ``span`` is what gets
    re-encoded: from the outgoing scene's keyframe to the incoming scene's keyframe.
    """

    index: int
    transition: Transition
    gap: tuple[int, int]  # (outgoing narration end, incoming narration start)
    window: tuple[int, int]
    span: tuple[int, int]

    @property
    def reencoded(self) -> bool:
        return self.span[1] > self.span[0]


@dataclass(frozen=True)
class Chapter:
    title: str
    start: int
    end: int


@dataclass(frozen=True)
class Timeline:
    scenes: tuple[SceneSlot, ...]
    seams: tuple[Seam, ...]
    samples: int  # the episode's length: its narrations and pauses, to the last whole frame

    @property
    def duration(self) -> float:
        return self.samples / SAMPLE_RATE

    def chapters(self, names: Sequence[str]) -> list[Chapter]:
        """One chapter per scene, from its start to the next scene's start."""
        starts = [s.start for s in self.scenes] + [self.samples]
        return [Chapter(n, starts[i], starts[i + 1]) for i, n in enumerate(names)]

    @property
    def reencoded_samples(self) -> int:
        return sum(s.span[1] - s.span[0] for s in self.seams)


def rendered_frames(samples: int) -> int:
    """The renderer's frame count for a narration (pipeline: ``round(seconds * FPS)``)."""
    return max(1, round(samples * FPS / SAMPLE_RATE))


def pause_samples(pause: float) -> int:
    return round(pause * SAMPLE_RATE)


def plan_timeline(
    samples: Sequence[int],
    transitions: Sequence[Transition],
    pause: float = 0.0,
    frames: Sequence[int] | None = None,
) -> Timeline:
    """Place narrations end to end with pauses; window each seam; find what to copy.

    ``samples``: each narration's length; ``frames``: each scene's video frames (default:
    what the renderer writes for that narration); ``transitions``: one per seam.
    """
    if not samples:
        raise ValueError("an episode needs at least one scene")
    if len(transitions) != len(samples) - 1:
        raise ValueError(f"{len(samples)} scenes need {len(samples) - 1} transitions")
    counts = list(frames) if frames is not None else [rendered_frames(n) for n in samples]
    gap, starts = pause_samples(pause), [0]
    for n in samples[:-1]:
        starts.append(starts[-1] + n + gap)
    # the last frame may end up to half a frame after the narration: the episode ends then
    total = max(starts[-1] + samples[-1], starts[-1] + counts[-1] * FRAME_SAMPLES)
    heads, tails = [0] * len(samples), list(counts)
    seams: list[Seam] = []
    for i, transition in enumerate(transitions):
        a_end, b_start = starts[i] + samples[i], starts[i + 1]
        reach_a, reach_b = _reach(transition.frames, gap)
        into_a, into_b = min(reach_a, counts[i] // 2), min(reach_b, counts[i + 1] // 2)
        span = (starts[i] + (counts[i] - into_a) * FRAME_SAMPLES, b_start + into_b * FRAME_SAMPLES)
        if transition.frames == 0 or span[1] <= span[0]:  # none, or scenes too short: a cut
            seams.append(Seam(i, transition, (a_end, b_start), (a_end, a_end), (a_end, a_end)))
            continue
        tails[i], heads[i + 1] = counts[i] - into_a, into_b
        length = transition.frames * FRAME_SAMPLES
        start = max(starts[i], (a_end + b_start) // 2 - length // 2)  # centred on the gap
        window = (max(start, span[0]), min(max(start + length, span[0]), span[1]))
        seams.append(Seam(i, transition, (a_end, b_start), window, span))
    scenes = tuple(
        SceneSlot(starts[i], samples[i], counts[i], heads[i], tails[i]) for i in range(len(samples))
    )
    return Timeline(scenes, tuple(seams), total)


def keyframe_reach(
    head: Transition | None, tail: Transition | None, pause: float
) -> tuple[int, int]:
    """(frames from the start, frames from the end) a scene's transition windows may reach.

    What a batch spec carries per scene for the renderer (``SceneInput.keyframe_reach``):
    ``head`` is the transition into the scene, ``tail`` the one out of it (None: first or
    last scene). No neighbour's length is needed: the renderer caps each at half the scene.
    """
    gap = pause_samples(pause)
    head_reach = _reach(head.frames, gap)[1] if head is not None else 0
    tail_reach = _reach(tail.frames, gap)[0] if tail is not None else 0
    return head_reach, tail_reach


def scene_keyframes(frame_count: int, reach: tuple[int, int]) -> tuple[int, ...]:
    """Scene-local IDR frames (``render.commands.forced_keyframes`` applies this rule)."""
    head, tail = reach
    keys = {min(head, frame_count // 2), frame_count - min(tail, frame_count // 2)}
    return tuple(sorted(k for k in keys if 0 < k < frame_count))


def _reach(window_frames: int, gap: int) -> tuple[int, int]:
    """Frames a window centred on a gap of ``gap`` samples reaches into each scene."""
    over = window_frames * FRAME_SAMPLES - gap
    if over <= 0:
        return 0, 0
    frames = math.ceil(over / FRAME_SAMPLES)
    return math.ceil(frames / 2), frames // 2


# -- subtitles on the episode timeline ------------------------------------------------------


@dataclass(frozen=True)
class Cue:
    start: float  # seconds
    end: float
    text: str


def merge_cues(scene_cues: Sequence[Sequence[Cue]], timeline: Timeline) -> list[Cue]:
    """Every scene's cues, clipped to its narration and shifted to its start."""
    merged: list[Cue] = []
    for cues, slot in zip(scene_cues, timeline.scenes, strict=True):
        offset, length = slot.start / SAMPLE_RATE, slot.samples / SAMPLE_RATE
        for cue in cues:
            if cue.start >= length or cue.end <= cue.start:
                continue
            merged.append(Cue(offset + cue.start, offset + min(cue.end, length), cue.text))
    return merged


def srt_text(cues: Sequence[Cue]) -> str:
    blocks = [
        f"{i}\n{_stamp(c.start, ',')} --> {_stamp(c.end, ',')}\n{c.text}\n"
        for i, c in enumerate(cues, 1)
    ]
    return "\n".join(blocks)


def vtt_text(cues: Sequence[Cue]) -> str:
    blocks = [
        f"{_stamp(c.start, '.')} --> {_stamp(c.end, '.')}\n{c.text.replace('-->', '->')}\n"
        for c in cues
    ]
    return "\n".join(["WEBVTT\n", *blocks])


def _stamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


# -- validation details ---------------------------------------------------------------------

_FLOATS = {"duration", "pause", "volume", "ducking_db", "fade_in", "fade_out", "target_lufs"}


def _floats(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    floats = _FLOATS | {"true_peak_db"}
    whole = {k for k, v in value.items() if type(v) is int and k in floats}
    return {k: float(v) if k in whole else _floats(v) for k, v in value.items()}


def _describe(exc: ValidationError, prefix: str = "episode") -> list[str]:
    reasons = []
    for error in exc.errors(include_url=False):
        where = ".".join([prefix, *(str(p) for p in error["loc"])])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        elif error["type"] == "literal_error" and error["loc"][-1:] == ("type",):
            message = "must be one of " + ", ".join(TRANSITION_TYPES)
        reasons.append(f"{where}: {message}")
    return reasons
