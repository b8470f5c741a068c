"""Manifest v1: the seed's ``execute_parallel_batches`` arguments as a JSON document (the
schema; reading the bytes within limits is :mod:`chalicelib.manifest_json`).

Validation is strict (unknown fields and wrong types are errors, never coerced) and every
problem is reported at once, each naming the field or scene, so a user fixes a manifest in
one round trip (the ``episode`` fields: :mod:`chalicelib.manifest_episode`). Asset existence
is checked separately (:mod:`chalicelib.adapters.s3`) because it needs S3.

Any bytes at all end in a verdict: :func:`parse_manifest` returns a manifest or raises
:class:`ManifestError`, never anything else. Limits that make a document unsafe or costly
(size, nesting, number length, unpaired surrogates, scene count, total path bytes) are
checked before the schema, each named; the reasons are capped so a rejection stays small.
"""

from __future__ import annotations

import json
import re
from contextlib import suppress
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    JsonValue,
    TypeAdapter,
    UrlConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from chalicelib.contracts import Effect, Look
from chalicelib.manifest_episode import episode_problems
from chalicelib.manifest_fields import (
    AssetPath,
    check_asset_path,
    scene_name_problem,
)
from chalicelib.manifest_json import (
    MAX_MANIFEST_BYTES,
    MAX_SCENES,
    MAX_TOTAL_ASSET_PATH_BYTES,
    SURROGATE,
    Unreadable,
    clip,
    limit_problems,
    listing,
    quoted,
    read_leniently,
    read_strictly,
    utf8_size,
)

__all__ = ["MAX_MANIFEST_BYTES", "MAX_TOTAL_ASSET_PATH_BYTES", "Manifest", "ManifestError"]

MAX_WEBHOOK_URL = 2048
MAX_METADATA_BYTES = 2048  # serialized as compact JSON in UTF-8
MAX_SAVING_DIR = 4096
MAX_REPORTED_ERRORS = 50


class ManifestError(Exception):
    """A manifest the user must fix; ``errors`` are complete sentences meant for them.

    ``asset_paths``: the well-formed asset paths of a manifest that failed validation, so
    their existence is reported in the same round. Every error is valid UTF-8 text (an
    unpaired surrogate becomes a ``\\udXXX`` escape): each one is stored, logged and sent.
    """

    def __init__(self, errors: list[str], asset_paths: list[tuple[str, str]] | None = None) -> None:
        errors = [_printable(error) for error in errors]
        super().__init__("; ".join(errors))
        self.errors = errors
        self.asset_paths = asset_paths or []


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _check_webhook_url(url: HttpUrl) -> HttpUrl:
    if url.username is not None or url.password is not None:
        raise ValueError(
            "webhook_url must not carry credentials (user:password@); "
            "receivers authenticate us by the webhook signature"
        )
    return url


def _check_metadata(metadata: dict[str, JsonValue]) -> dict[str, JsonValue]:
    size = utf8_size(_compact_json(metadata))
    if size > MAX_METADATA_BYTES:
        raise ValueError(
            f"metadata is {size} bytes as compact JSON; the limit is {MAX_METADATA_BYTES}"
        )
    return metadata


WebhookUrl = Annotated[
    HttpUrl, UrlConstraints(max_length=MAX_WEBHOOK_URL), AfterValidator(_check_webhook_url)
]
Metadata = Annotated[dict[str, JsonValue], AfterValidator(_check_metadata)]


class Scene(_Strict):
    scene_name: str
    image_path: AssetPath
    audio_path: AssetPath
    subtitle_path: AssetPath | None = None
    effect: Effect | None = None
    transition: dict[str, Any] | None = None  # into the next scene (manifest_episode checks)

    @field_validator("scene_name")
    @classmethod
    def _safe_name(cls, name: str) -> str:
        problem = scene_name_problem(name)
        if problem:
            raise ValueError(problem)
        return name


class Manifest(Look):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    version: Literal[1] = 1
    scenes: list[Scene] = Field(min_length=1, max_length=MAX_SCENES)
    watermark_path: AssetPath | None = None
    scenes_per_batch: int = Field(default=10, ge=1, le=1000)
    max_parallel_tasks: int = Field(default=10, ge=1, le=100)
    min_scenes_per_batch: int = Field(default=5, ge=1, le=1000)
    config_priority: Literal[1, 2, 3, 4, 5] = 1
    spot: bool = False
    webhook_url: WebhookUrl | None = None
    # The seed's download folder. Accepted so a seed call's arguments are a valid manifest;
    # the pipeline ignores it (outputs go to outputs/<job>/, `cloudburst fetch` picks the
    # local folder).
    saving_dir: str | None = Field(default=None, max_length=MAX_SAVING_DIR)
    # The caller's own correlation data, echoed back in the report and every webhook.
    metadata: Metadata | None = None
    episode: dict[str, Any] | None = None  # checked by chalicelib.manifest_episode

    @model_validator(mode="after")
    def _unique_names(self) -> Manifest:
        problem = _duplicate_names_problem([scene.scene_name for scene in self.scenes])
        if problem:
            raise ValueError(problem)
        return self

    def asset_paths(self) -> list[tuple[str, str]]:
        """(where, path) for every asset, ``where`` naming it for an error message."""
        return asset_paths(self.model_dump())


_WEBHOOK_URL = TypeAdapter(WebhookUrl)


def manifest_defaults() -> dict[str, Any]:
    """Each optional field's default: what the pipeline uses when a manifest omits it."""
    return {name: f.default for name, f in Manifest.model_fields.items() if not f.is_required()}


def parse_manifest(body: bytes) -> Manifest:
    """The manifest in ``body``, or ManifestError listing every problem found (for any bytes)."""
    try:
        document, text = read_strictly(body)
    except Unreadable as exc:
        raise ManifestError([str(exc)]) from None
    if not isinstance(document, dict):
        raise ManifestError(["manifest must be a JSON object with a 'scenes' list"])
    problems = limit_problems(document, text)
    if problems:
        raise ManifestError(_capped(problems))
    episode_errors = episode_problems(document)
    try:
        manifest = Manifest.model_validate(document)
    except ValidationError as exc:
        errors = _describe(exc, document) + episode_errors
        scenes = document.get("scenes")
        if isinstance(scenes, list):
            names = [s.get("scene_name") for s in scenes if isinstance(s, dict)]
            problem = _duplicate_names_problem([n for n in names if isinstance(n, str)])
            if problem and not any(problem in error for error in errors):
                errors.append(problem)
        raise ManifestError(_capped(errors), asset_paths(document)) from None
    if episode_errors:
        raise ManifestError(_capped(episode_errors), asset_paths(document))
    return manifest


def rejection_webhook_url(body: bytes) -> str | None:
    """The manifest's own ``webhook_url`` when it can be read and is acceptable, else None.

    For a rejected manifest: its author should hear why, even when other fields are wrong.
    Acceptable means what :class:`Manifest` accepts (http(s), no credentials, length);
    whether the host may be called is the webhook sender's decision. Never raises.
    """
    document = read_leniently(body)
    url = document.get("webhook_url") if isinstance(document, dict) else None
    if not isinstance(url, str) or SURROGATE.search(url):
        return None
    try:
        return str(_WEBHOOK_URL.validate_python(url, strict=True))
    except ValidationError:
        return None


def listed_scene_count(body: bytes) -> int:
    """How many scenes the manifest listed (0 when it cannot be read); never raises."""
    document = read_leniently(body)
    scenes = document.get("scenes") if isinstance(document, dict) else None
    return len(scenes) if isinstance(scenes, list) else 0


def asset_paths(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, path) for every well-formed asset path in a (possibly invalid) manifest."""
    paths: list[tuple[str, str]] = []

    def add(where: str, path: Any) -> None:
        if isinstance(path, str) and path and not SURROGATE.search(path):
            with suppress(ValueError):  # a malformed path is already reported by validation
                paths.append((where, check_asset_path(path)))

    add("watermark_path", document.get("watermark_path"))
    episode = document.get("episode")
    music = episode.get("music") if isinstance(episode, dict) else None
    add("episode.music.path", music.get("path") if isinstance(music, dict) else None)
    scenes = document.get("scenes")
    for index, scene in enumerate(scenes if isinstance(scenes, list) else []):
        if not isinstance(scene, dict):
            continue
        name = scene.get("scene_name")
        where = f"scene {quoted(name)}" if isinstance(name, str) else f"scenes[{index}]"
        for field in ("image_path", "audio_path", "subtitle_path"):
            add(f"{where} {field}", scene.get(field))
    return paths


# -- reasons -------------------------------------------------------------------------------


def _capped(errors: list[str]) -> list[str]:
    """At most MAX_REPORTED_ERRORS reasons, then one line saying how many more there are."""
    if len(errors) <= MAX_REPORTED_ERRORS:
        return errors
    more = len(errors) - MAX_REPORTED_ERRORS
    return [*errors[:MAX_REPORTED_ERRORS], f"… and {more} more problems not listed"]


def _duplicate_names_problem(names: list[str]) -> str | None:
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    repeated = [name for name, count in counts.items() if count > 1]
    if not repeated:
        return None
    return "scene names must be unique; repeated: " + listing(repeated)


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
                label += f" (scene {quoted(name)})"
        rest = ".".join(_part(part) for part in location[2:])
        return f"{label}.{rest}" if rest else label
    return ".".join(_part(part) for part in location)


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _part(part: Any) -> str:
    """A location step as a reason shows it: field names bare, any other key quoted."""
    text = str(part)
    if isinstance(part, int) or _NAME.fullmatch(text):
        return clip(text, 60)
    return quoted(text)


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
