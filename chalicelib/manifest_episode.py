"""The manifest's episode fields checked against :mod:`chalicelib.episode`'s spec.

Kept apart from :mod:`chalicelib.manifest` so the schema module stays one reader's worth;
both take the shared path and name rules from :mod:`chalicelib.manifest_fields`. Every
problem is returned at once, each naming its field.
"""

from __future__ import annotations

from typing import Any

from chalicelib.episode import EpisodeError, parse_episode, parse_transition
from chalicelib.manifest_json import quoted

# outputs/<job>/<name>.jpg must not be the contact sheet.
RESERVED_EPISODE_NAMES = frozenset({"contact_sheet"})


def episode_problems(document: dict[str, Any]) -> list[str]:
    """Why the ``episode`` object or a scene's ``transition`` is unusable (empty: usable).

    Type errors of the fields themselves (not an object) are the schema's to report.
    """
    problems: list[str] = []
    episode = document.get("episode")
    scenes = document.get("scenes")
    scenes = scenes if isinstance(scenes, list) else []
    if isinstance(episode, dict):
        try:
            spec = parse_episode(episode)
        except EpisodeError as exc:
            problems += exc.errors
        else:
            names = {s.get("scene_name") for s in scenes if isinstance(s, dict)}
            if spec.name in names or spec.name in RESERVED_EPISODE_NAMES:
                problems.append(
                    f"episode.name: {quoted(spec.name)} is taken (a scene's name or the "
                    "contact sheet's); the episode would overwrite its file"
                )
    for index, scene in enumerate(scenes):
        transition = scene.get("transition") if isinstance(scene, dict) else None
        if transition is None:
            continue
        name = scene.get("scene_name")
        where = f"scenes[{index}]" + (f" (scene {quoted(name)})" if isinstance(name, str) else "")
        where += ".transition"
        if episode is None:
            problems.append(f"{where}: a scene's transition needs a top-level 'episode' object")
        elif isinstance(transition, dict):
            try:
                parse_transition(transition, where)
            except EpisodeError as exc:
                problems += exc.errors
    return problems
