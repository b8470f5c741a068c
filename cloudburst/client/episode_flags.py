"""``--episode``, ``--transition``, ``--pause``, ``--music``, ``--loudness`` (declared in
:mod:`cloudburst.client.arguments`): the manifest's ``episode`` object from the command line.
Flags override its fields; any of them asks for an episode. A local ``--music`` file is
uploaded like every other asset."""

from __future__ import annotations

import argparse
from typing import Any

from cloudburst.client.source import JobSource


def episode_overrides(args: argparse.Namespace) -> dict[str, Any] | None:
    """The episode fields the flags set, or None when no episode flag was given."""
    overrides: dict[str, Any] = {}
    if getattr(args, "transition", None):
        kind, _, seconds = args.transition.partition(":")
        transition: dict[str, Any] = {"type": kind.strip()}
        if seconds:
            try:
                transition["duration"] = float(seconds)
            except ValueError:
                raise ValueError(
                    f"--transition {args.transition!r}: the duration after ':' must be seconds"
                ) from None
        overrides["transition"] = transition
    if getattr(args, "pause", None) is not None:
        overrides["pause"] = args.pause
    if getattr(args, "music", None) is not None:
        overrides["music"] = {"path": str(args.music.expanduser().resolve())}
    if getattr(args, "loudness", None) is not None:
        overrides["loudness"] = {"target_lufs": args.loudness}
    if not overrides and not getattr(args, "episode", False):
        return None
    return overrides


def with_episode(source: JobSource, overrides: dict[str, Any] | None) -> JobSource:
    """``source`` with its ``episode`` object made or updated (nested objects merged)."""
    if overrides is None:
        return source
    current = source.document.get("episode")
    episode: dict[str, Any] = dict(current) if isinstance(current, dict) else {}
    for field, value in overrides.items():
        if isinstance(value, dict) and isinstance(episode.get(field), dict):
            value = {**episode[field], **value}
        episode[field] = value
    return source.with_options({"episode": episode})
