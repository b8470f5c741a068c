"""Manifest v1: the seed's ``execute_parallel_batches`` arguments as a JSON document.

Validation is strict (unknown fields and wrong types are errors, never coerced) and every
problem is reported at once, each naming the field or scene, so a user fixes a manifest in
one round trip. Asset existence is checked separately (:mod:`chalicelib.assets`) because
it needs S3.
"""

from __future__ import annotations

import json
import unicodedata
from contextlib import suppress
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationError,
    field_validator,
    model_validator,
)

from chalicelib.contracts import Effect, Language, split_s3_uri

MAX_MANIFEST_BYTES = 5 * 1024 * 1024
MAX_SCENES = 10_000
MAX_SCENE_NAME = 120


class ManifestError(Exception):
    """A manifest the user must fix; ``errors`` are complete sentences meant for them.

    ``asset_paths`` holds the well-formed asset paths of a manifest that failed schema
    validation, so their existence can still be checked and reported in the same round.
    """

    def __init__(self, errors: list[str], asset_paths: list[tuple[str, str]] | None = None) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors
        self.asset_paths = asset_paths or []


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _check_asset_path(path: str) -> str:
    if "://" in path:
        split_s3_uri(path)  # raises ValueError naming the bad URI
    elif path.startswith("/"):
        raise ValueError("asset paths are S3 keys in the manifest's bucket: drop the leading '/'")
    return path


AssetPath = Annotated[str, Field(min_length=1, max_length=1024), AfterValidator(_check_asset_path)]


class Scene(_Strict):
    scene_name: str
    image_path: AssetPath
    audio_path: AssetPath
    subtitle_path: AssetPath | None = None
    effect: Effect | None = None

    @field_validator("scene_name")
    @classmethod
    def _safe_name(cls, name: str) -> str:
        problem = scene_name_problem(name)
        if problem:
            raise ValueError(problem)
        return name


class Manifest(_Strict):
    version: Literal[1] = 1
    scenes: list[Scene] = Field(min_length=1, max_length=MAX_SCENES)
    language: Language = "chinese"
    enable_zoom: bool = True
    is_portrait: bool = False
    watermark_path: AssetPath | None = None
    background_box: bool = True
    background_opacity: float = Field(default=0.2, ge=0.0, le=1.0)
    scenes_per_batch: int = Field(default=10, ge=1, le=1000)
    max_parallel_tasks: int = Field(default=10, ge=1, le=100)
    min_scenes_per_batch: int = Field(default=5, ge=1, le=1000)
    config_priority: Literal[1, 2, 3, 4, 5] = 1
    spot: bool = False
    webhook_url: HttpUrl | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> Manifest:
        problem = _duplicate_names_problem([scene.scene_name for scene in self.scenes])
        if problem:
            raise ValueError(problem)
        return self

    def asset_paths(self) -> list[tuple[str, str]]:
        """(where, path) for every asset, ``where`` naming it for an error message."""
        return asset_paths(self.model_dump())


def asset_paths(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, path) for every well-formed asset path in a (possibly invalid) manifest."""
    paths: list[tuple[str, str]] = []

    def add(where: str, path: Any) -> None:
        if isinstance(path, str) and path:
            with suppress(ValueError):  # a malformed path is already reported by validation
                paths.append((where, _check_asset_path(path)))

    add("watermark_path", document.get("watermark_path"))
    scenes = document.get("scenes")
    for index, scene in enumerate(scenes if isinstance(scenes, list) else []):
        if not isinstance(scene, dict):
            continue
        name = scene.get("scene_name")
        where = f"scene {name!r}" if isinstance(name, str) else f"scenes[{index}]"
        for field in ("image_path", "audio_path", "subtitle_path"):
            add(f"{where} {field}", scene.get(field))
    return paths


def scene_name_problem(name: str) -> str | None:
    """Why a scene name cannot become a file name, or None when it can."""
    if not name or not name.strip():
        return "scene_name must not be empty"
    if len(name) > MAX_SCENE_NAME:
        return f"scene_name must be at most {MAX_SCENE_NAME} characters"
    if "/" in name or "\\" in name:
        return "scene_name must not contain '/' or '\\'"
    if ".." in name or name.startswith("."):
        return "scene_name must not contain '..' or start with '.'"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        return "scene_name must not contain control characters"
    if name != name.strip():
        return "scene_name must not start or end with spaces"
    return None


def parse_manifest(body: bytes) -> Manifest:
    """The manifest in ``body``, or ManifestError listing every problem found."""
    if len(body) > MAX_MANIFEST_BYTES:
        raise ManifestError([f"manifest is {len(body)} bytes; the limit is {MAX_MANIFEST_BYTES}"])
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ManifestError(["manifest is not UTF-8 text"]) from None
    except json.JSONDecodeError as exc:
        raise ManifestError(
            [f"manifest is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
        ) from None
    if not isinstance(document, dict):
        raise ManifestError(["manifest must be a JSON object with a 'scenes' list"])
    try:
        return Manifest.model_validate(document)
    except ValidationError as exc:
        errors = _describe(exc, document)
        scenes = document.get("scenes")
        if isinstance(scenes, list):
            names = [s.get("scene_name") for s in scenes if isinstance(s, dict)]
            problem = _duplicate_names_problem([n for n in names if isinstance(n, str)])
            if problem and not any(problem in error for error in errors):
                errors.append(problem)
        raise ManifestError(errors, asset_paths(document)) from None


def _duplicate_names_problem(names: list[str]) -> str | None:
    seen: set[str] = set()
    repeated: list[str] = []
    for name in names:
        if name in seen and name not in repeated:
            repeated.append(name)
        seen.add(name)
    if not repeated:
        return None
    return "scene names must be unique; repeated: " + ", ".join(repr(n) for n in repeated)


def _describe(exc: ValidationError, document: dict[str, Any]) -> list[str]:
    messages: list[str] = []
    scenes = document.get("scenes")
    for error in exc.errors(include_url=False):
        location = list(error["loc"])
        where = _where(location, scenes)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field (not part of manifest v1)"
        elif error["type"] == "literal_error" and location == ["version"]:
            message = "unsupported manifest version; this service reads version 1"
        messages.append(f"{where}: {message}" if where else message)
    return messages


def _where(location: list[Any], scenes: Any) -> str:
    """'scenes[3] (scene 'intro').audio_path' for the location of a validation error."""
    if len(location) >= 2 and location[0] == "scenes" and isinstance(location[1], int):
        index = location[1]
        label = f"scenes[{index}]"
        if isinstance(scenes, list) and index < len(scenes) and isinstance(scenes[index], dict):
            name = scenes[index].get("scene_name")
            if isinstance(name, str) and name:
                label += f" (scene {name!r})"
        rest = ".".join(str(part) for part in location[2:])
        return f"{label}.{rest}" if rest else label
    return ".".join(str(part) for part in location)
