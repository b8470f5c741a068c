"""Manifest v1: the seed's ``execute_parallel_batches`` arguments as a JSON document.

Validation is strict (unknown fields and wrong types are errors, never coerced) and every
problem is reported at once, each naming the field or scene, so a user fixes a manifest in
one round trip. Asset existence is checked separately (:mod:`chalicelib.adapters.s3`) because
it needs S3.

Any bytes at all end in a verdict: :func:`parse_manifest` returns a manifest or raises
:class:`ManifestError`, never anything else. Limits that make a document unsafe or costly to
look at (size, nesting, number length, unpaired surrogates, scene count, total path bytes)
are checked before the schema, each named in its reason; the reasons are capped so a
rejection stays small enough to store and send.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from array import array
from contextlib import suppress
from itertools import accumulate
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

from chalicelib.contracts import Effect, Look, split_s3_uri

MAX_MANIFEST_BYTES = 5 * 1024 * 1024
# JSON nesting a manifest may use (it needs 3, plus whatever ``metadata`` holds). Checked
# before parsing: the parser recurses once per level and 20,000 levels overflow the stack.
MAX_NESTING = 32
# Digits in one integer: every 64-bit integer fits. Python refuses to parse more than 4,300
# (a denial-of-service guard), and DynamoDB numbers hold at most 38 digits.
MAX_INTEGER_DIGITS = 20
MAX_SCENES = 10_000
MAX_SCENE_NAME = 120
# A scene name becomes the file ``.<name>.mp4.<8 hex>.partial`` in the worker (Linux allows
# 255 bytes per file name) and part of S3 keys and DynamoDB attributes, all counted in bytes.
MAX_SCENE_NAME_BYTES = 200
MAX_ASSET_KEY_BYTES = 1024  # an S3 key's limit
# All asset paths together: they are copied into every batch spec the planner writes.
MAX_TOTAL_ASSET_PATH_BYTES = 4 * 1024 * 1024
MAX_WEBHOOK_URL = 2048
MAX_METADATA_BYTES = 2048  # serialized as compact JSON in UTF-8
MAX_SAVING_DIR = 4096
MAX_REPORTED_ERRORS = 50
_MAX_NAMES_LISTED = 20
# How deep the lenient reader (rejection reports) may go: far below Python's recursion
# limit, far above anything a manifest needs.
_READABLE_NESTING = 256


class ManifestError(Exception):
    """A manifest the user must fix; ``errors`` are complete sentences meant for them.

    ``asset_paths`` holds the well-formed asset paths of a manifest that failed schema
    validation, so their existence can still be checked and reported in the same round.
    Every error is valid UTF-8 text (an unpaired surrogate becomes a ``\\udXXX`` escape),
    because each one is stored, logged and sent.
    """

    def __init__(self, errors: list[str], asset_paths: list[tuple[str, str]] | None = None) -> None:
        errors = [_printable(error) for error in errors]
        super().__init__("; ".join(errors))
        self.errors = errors
        self.asset_paths = asset_paths or []


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _check_asset_path(path: str) -> str:
    if "://" in path:
        _, key = split_s3_uri(path)  # raises ValueError naming the bad URI
    elif path.startswith("/"):
        raise ValueError("asset paths are S3 keys in the manifest's bucket: drop the leading '/'")
    else:
        key = path
    size = _utf8_size(key)
    if size > MAX_ASSET_KEY_BYTES:
        raise ValueError(
            f"the S3 key is {size} bytes in UTF-8; S3 keys hold at most {MAX_ASSET_KEY_BYTES}"
        )
    return path


def _check_webhook_url(url: HttpUrl) -> HttpUrl:
    if url.username is not None or url.password is not None:
        raise ValueError(
            "webhook_url must not carry credentials (user:password@); "
            "receivers authenticate us by the webhook signature"
        )
    return url


def _check_metadata(metadata: dict[str, JsonValue]) -> dict[str, JsonValue]:
    size = _utf8_size(_compact_json(metadata))
    if size > MAX_METADATA_BYTES:
        raise ValueError(
            f"metadata is {size} bytes as compact JSON; the limit is {MAX_METADATA_BYTES}"
        )
    return metadata


AssetPath = Annotated[str, Field(min_length=1, max_length=1024), AfterValidator(_check_asset_path)]
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


def parse_manifest(body: bytes) -> Manifest:
    """The manifest in ``body``, or ManifestError listing every problem found (for any bytes)."""
    document, text = _read_strictly(body)
    if not isinstance(document, dict):
        raise ManifestError(["manifest must be a JSON object with a 'scenes' list"])
    problems = _limit_problems(document, text)
    if problems:
        raise ManifestError(_capped(problems))
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
        raise ManifestError(_capped(errors), asset_paths(document)) from None


def rejection_webhook_url(body: bytes) -> str | None:
    """The manifest's own ``webhook_url`` when it can be read and is acceptable, else None.

    For a rejected manifest: its author should hear why, even when other fields are wrong.
    Acceptable means what :class:`Manifest` accepts (http(s), no credentials, length);
    whether the host may be called is the webhook sender's decision. Never raises.
    """
    document = _read_leniently(body)
    url = document.get("webhook_url") if isinstance(document, dict) else None
    if not isinstance(url, str) or _SURROGATE.search(url):
        return None
    try:
        return str(_WEBHOOK_URL.validate_python(url, strict=True))
    except ValidationError:
        return None


def listed_scene_count(body: bytes) -> int:
    """How many scenes the manifest listed (0 when it cannot be read); never raises."""
    document = _read_leniently(body)
    scenes = document.get("scenes") if isinstance(document, dict) else None
    return len(scenes) if isinstance(scenes, list) else 0


def asset_paths(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, path) for every well-formed asset path in a (possibly invalid) manifest."""
    paths: list[tuple[str, str]] = []

    def add(where: str, path: Any) -> None:
        if isinstance(path, str) and path and not _SURROGATE.search(path):
            with suppress(ValueError):  # a malformed path is already reported by validation
                paths.append((where, _check_asset_path(path)))

    add("watermark_path", document.get("watermark_path"))
    scenes = document.get("scenes")
    for index, scene in enumerate(scenes if isinstance(scenes, list) else []):
        if not isinstance(scene, dict):
            continue
        name = scene.get("scene_name")
        where = f"scene {_quoted(name)}" if isinstance(name, str) else f"scenes[{index}]"
        for field in ("image_path", "audio_path", "subtitle_path"):
            add(f"{where} {field}", scene.get(field))
    return paths


def scene_name_problem(name: str) -> str | None:
    """Why a scene name cannot become a file name, or None when it can."""
    if not name or not name.strip():
        return "scene_name must not be empty"
    if _SURROGATE.search(name):
        return "scene_name must not contain unpaired surrogates (\\ud800-\\udfff escapes)"
    if len(name) > MAX_SCENE_NAME:
        return f"scene_name must be at most {MAX_SCENE_NAME} characters"
    if _utf8_size(name) > MAX_SCENE_NAME_BYTES:
        return (
            f"scene_name must be at most {MAX_SCENE_NAME_BYTES} bytes in UTF-8 "
            f"(this one is {_utf8_size(name)})"
        )
    if "/" in name or "\\" in name:
        return "scene_name must not contain '/' or '\\'"
    if ".." in name or name.startswith("."):
        return "scene_name must not contain '..' or start with '.'"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        return "scene_name must not contain control characters"
    if name != name.strip():
        return "scene_name must not start or end with spaces"
    return None


# -- reading JSON within limits ------------------------------------------------------------


class _Unreadable(Exception):
    """Raised by the JSON hooks and checks below; its message is the user's reason."""


def _read_strictly(body: bytes) -> tuple[Any, str]:
    """(JSON value, text) of ``body`` within every reading limit, else ManifestError."""
    if len(body) > MAX_MANIFEST_BYTES:
        raise ManifestError([f"manifest is {len(body)} bytes; the limit is {MAX_MANIFEST_BYTES}"])
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(
            [f"manifest is not UTF-8 text (bad byte at offset {exc.start})"]
        ) from None
    if _deeper_than(text, MAX_NESTING):
        raise ManifestError([f"manifest nests JSON deeper than the limit of {MAX_NESTING} levels"])
    repeated: list[str] = []
    try:
        document = json.loads(
            text,
            parse_int=_bounded_int,
            parse_float=_finite_float,
            parse_constant=_no_constant,
            object_pairs_hook=lambda pairs: _object(pairs, repeated),
        )
    except _Unreadable as exc:
        raise ManifestError([str(exc)]) from None
    except json.JSONDecodeError as exc:
        raise ManifestError(
            [f"manifest is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
        ) from None
    if repeated:
        listed = _listing(sorted(set(repeated)))
        raise ManifestError([f"a key appears twice in one JSON object (ambiguous): {listed}"])
    return document, text


def _read_leniently(body: bytes) -> Any:
    """As much of ``body`` as can be read safely, for reporting on a rejected manifest.

    Bad UTF-8 is replaced, huge integers read as 0 and deeper nesting tolerated (up to a
    bound still far from Python's recursion limit); None when even that is not JSON.
    """
    if len(body) > MAX_MANIFEST_BYTES:
        return None
    text = body.decode("utf-8-sig", errors="replace")
    if _deeper_than(text, _READABLE_NESTING):
        return None
    try:
        return json.loads(text, parse_int=_lenient_int)
    except ValueError:  # JSONDecodeError, or a float literal Python cannot hold
        return None


# A JSON string from its opening quote. It never fails once started (an unterminated string
# runs to the end of the text, as the parser would read it), so removing all strings is one
# linear pass — a pattern that could fail would be retried from every later quote.
_STRING = re.compile(r'"(?:[^"\\]++|\\.?)*+(?:"|\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_BRACKET_STEPS = str.maketrans({"[": "\x01", "{": "\x01", "]": "\xff", "}": "\xff"})


def _deeper_than(text: str, limit: int) -> bool:
    """Whether JSON ``text`` nests arrays/objects deeper than ``limit``, without parsing it.

    Linear and in C throughout (regex passes, then a running sum of +1/-1 steps), so even
    5 MiB of brackets is measured in well under a second, without recursion.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    steps = array("b")
    steps.frombytes(brackets.translate(_BRACKET_STEPS).encode("latin-1"))
    return max(accumulate(steps), default=0) > limit


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _Unreadable(
            f"manifest has an integer of {len(digits.lstrip('-'))} digits; "
            f"numbers may have at most {MAX_INTEGER_DIGITS}"
        )
    return int(digits)


def _lenient_int(digits: str) -> int:
    return int(digits) if len(digits) <= MAX_INTEGER_DIGITS + 1 else 0


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Unreadable(f"manifest has a number too large to represent: {_clip(text)}")
    return value


def _no_constant(name: str) -> Any:
    raise _Unreadable(f"manifest uses {name}, which is not a JSON number")


def _object(pairs: list[tuple[str, Any]], repeated: list[str]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                repeated.append(key)
            seen.add(key)
    return document


# -- limits on the parsed document ---------------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _limit_problems(document: dict[str, Any], text: str) -> list[str]:
    """What makes ``document`` (read from ``text``) unsafe or too big to validate, named."""
    scenes = document.get("scenes")
    if isinstance(scenes, list) and len(scenes) > MAX_SCENES:
        return [f"manifest lists {len(scenes)} scenes; the limit is {MAX_SCENES}"]
    problems = []
    if _SURROGATE_ESCAPE.search(text):  # the only way a lone surrogate gets in
        problems += _surrogate_problems(document, "")
    total = sum(_utf8_size(path) for _, path in _raw_asset_paths(document))
    if total > MAX_TOTAL_ASSET_PATH_BYTES:
        problems.append(
            f"asset paths total {total} bytes in UTF-8; the limit is {MAX_TOTAL_ASSET_PATH_BYTES}"
        )
    return problems


def _surrogate_problems(value: Any, where: str) -> list[str]:
    """A reason per string (key or value) holding an unpaired surrogate, named by place.

    JSON's ``\\ud800`` escapes decode to lone surrogates, which are not characters: S3, DynamoDB
    and every UTF-8 encoder refuse them later, so they are refused here, where they are named.
    """
    problems: list[str] = []
    if isinstance(value, str):
        if _SURROGATE.search(value):
            problems.append(
                f"{where or 'manifest'}: text contains an unpaired surrogate "
                "(a \\ud800-\\udfff escape that is not half of a pair), which is not a character"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            if _SURROGATE.search(key):
                problems.append(
                    f"{where or 'manifest'}: a key contains an unpaired surrogate "
                    "(a \\ud800-\\udfff escape that is not half of a pair)"
                )
            problems += _surrogate_problems(item, f"{where}.{_clip(key, 40)}" if where else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems += _surrogate_problems(item, f"{where}[{index}]")
    return problems


def _raw_asset_paths(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, text) for every string where an asset path belongs, valid or not."""
    found = [("watermark_path", document.get("watermark_path"))]
    scenes = document.get("scenes")
    for scene in scenes if isinstance(scenes, list) else []:
        if isinstance(scene, dict):
            found += [(f, scene.get(f)) for f in ("image_path", "audio_path", "subtitle_path")]
    return [(field, path) for field, path in found if isinstance(path, str)]


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
    return "scene names must be unique; repeated: " + _listing(repeated)


def _listing(names: list[str]) -> str:
    shown = ", ".join(_quoted(name) for name in names[:_MAX_NAMES_LISTED])
    rest = len(names) - _MAX_NAMES_LISTED
    return f"{shown} … and {rest} more" if rest > 0 else shown


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
                label += f" (scene {_quoted(name)})"
        rest = ".".join(_part(part) for part in location[2:])
        return f"{label}.{rest}" if rest else label
    return ".".join(_part(part) for part in location)


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _part(part: Any) -> str:
    """A location step as a reason shows it: field names bare, any other key quoted."""
    text = str(part)
    if isinstance(part, int) or _NAME.fullmatch(text):
        return _clip(text, 60)
    return _quoted(text)


def _quoted(text: str) -> str:
    """``repr`` of user text, clipped: a reason quotes it, never carries megabytes of it."""
    return repr(_clip(text, 60))


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
