"""Reading untrusted JSON within limits: the bounded reader behind the manifest.

Any bytes end in a document or one reason meant for the user (:class:`Unreadable`): size,
encoding (UTF-8, or UTF-16/32 told apart as the json module does), nesting (measured before
parsing: the parser recurses once per level), integer length, ``NaN``/``Infinity`` and
repeated keys are each refused with their limit named. The lenient reader reads what it
safely can of a document already refused, to report on it.
"""

from __future__ import annotations

import json
import math
import re
from array import array
from itertools import accumulate
from typing import Any

MAX_MANIFEST_BYTES = 5 * 1024 * 1024
# JSON nesting a manifest may use (it needs 3, plus whatever ``metadata`` holds). Checked
# before parsing: the parser recurses once per level and 20,000 levels overflow the stack.
MAX_NESTING = 32
# Digits in one integer: every 64-bit integer fits. Python refuses to parse more than 4,300
# (a denial-of-service guard), and DynamoDB numbers hold at most 38 digits.
MAX_INTEGER_DIGITS = 20
MAX_SCENES = 10_000
# All asset paths together: they are copied into every batch spec the planner writes.
MAX_TOTAL_ASSET_PATH_BYTES = 4 * 1024 * 1024
_MAX_NAMES_LISTED = 20
# How deep the lenient reader (rejection reports) may go: far below Python's recursion
# limit, far above anything a manifest needs.
_READABLE_NESTING = 256


class Unreadable(Exception):
    """The bytes are not a JSON document within the limits; the message is the user's reason."""


def read_strictly(body: bytes) -> tuple[Any, str]:
    """(JSON value, text) of ``body`` within every reading limit; raises Unreadable."""
    if len(body) > MAX_MANIFEST_BYTES:
        raise Unreadable(f"manifest is {len(body)} bytes; the limit is {MAX_MANIFEST_BYTES}")
    text = manifest_text(body)
    if _deeper_than(text, MAX_NESTING):
        raise Unreadable(f"manifest nests JSON deeper than the limit of {MAX_NESTING} levels")
    repeated: list[str] = []
    try:
        document = json.loads(
            text,
            parse_int=_bounded_int,
            parse_float=_finite_float,
            parse_constant=_no_constant,
            object_pairs_hook=lambda pairs: _object(pairs, repeated),
        )
    except json.JSONDecodeError as exc:
        raise Unreadable(
            f"manifest is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if repeated:
        listed = listing(sorted(set(repeated)))
        raise Unreadable(f"a key appears twice in one JSON object (ambiguous): {listed}")
    return document, text


def manifest_text(body: bytes) -> str:
    """The manifest's text. JSON asks for UTF-8 (a BOM is allowed); UTF-16 and UTF-32, which
    Windows editors write ("Unicode" in Notepad), are told apart as the json module tells
    them, by a BOM or the zero bytes around the first two characters (ASCII in any JSON
    text), and read too. Anything else (GBK, Latin-1 …) is refused, saying where it broke."""
    encoding = _encoding(body)
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as exc:
        name = "UTF-8" if encoding == "utf-8-sig" else encoding.upper()
        line = body[: exc.start].count(b"\n") + 1 if name == "UTF-8" else None
        where = f"line {line}, byte offset {exc.start}" if line else f"byte offset {exc.start}"
        raise Unreadable(
            f"manifest is not {name} text (undecodable at {where}); save it as UTF-8"
        ) from None


def _encoding(body: bytes) -> str:
    found = json.detect_encoding(body)
    return "utf-8-sig" if found == "utf-8" else found


def read_leniently(body: bytes) -> Any:
    """As much of ``body`` as can be read safely, for reporting on a rejected manifest.

    Bad UTF-8 is replaced, huge integers read as 0 and deeper nesting tolerated (up to a
    bound still far from Python's recursion limit); None when even that is not JSON.
    """
    if len(body) > MAX_MANIFEST_BYTES:
        return None
    text = body.decode(_encoding(body), errors="replace")
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
        raise Unreadable(
            f"manifest has an integer of {len(digits.lstrip('-'))} digits; "
            f"numbers may have at most {MAX_INTEGER_DIGITS}"
        )
    return int(digits)


def _lenient_int(digits: str) -> int:
    return int(digits) if len(digits) <= MAX_INTEGER_DIGITS + 1 else 0


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise Unreadable(f"manifest has a number too large to represent: {clip(text)}")
    return value


def _no_constant(name: str) -> Any:
    raise Unreadable(f"manifest uses {name}, which is not a JSON number")


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


def limit_problems(document: dict[str, Any], text: str) -> list[str]:
    """What makes ``document`` (read from ``text``) unsafe or too big to validate, named."""
    scenes = document.get("scenes")
    if isinstance(scenes, list) and len(scenes) > MAX_SCENES:
        return [f"manifest lists {len(scenes)} scenes; the limit is {MAX_SCENES}"]
    problems = []
    if SURROGATE_ESCAPE.search(text):  # the only way a lone surrogate gets in
        problems += surrogate_problems(document, "")
    total = sum(utf8_size(path) for _, path in raw_asset_paths(document))
    if total > MAX_TOTAL_ASSET_PATH_BYTES:
        problems.append(
            f"asset paths total {total} bytes in UTF-8; the limit is {MAX_TOTAL_ASSET_PATH_BYTES}"
        )
    return problems


def raw_asset_paths(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, text) for every string where an asset path belongs, valid or not."""
    found = [("watermark_path", document.get("watermark_path"))]
    scenes = document.get("scenes")
    for scene in scenes if isinstance(scenes, list) else []:
        if isinstance(scene, dict):
            found += [(f, scene.get(f)) for f in ("image_path", "audio_path", "subtitle_path")]
    return [(field, path) for field, path in found if isinstance(path, str)]


# -- text the reader and the schema share ------------------------------------------------

SURROGATE = re.compile("[\ud800-\udfff]")
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def surrogate_problems(value: Any, where: str) -> list[str]:
    """A reason per string (key or value) holding an unpaired surrogate, named by place.

    JSON's ``\\ud800`` escapes decode to lone surrogates, which are not characters: S3, DynamoDB
    and every UTF-8 encoder refuse them later, so they are refused here, where they are named.
    """
    problems: list[str] = []
    if isinstance(value, str):
        if SURROGATE.search(value):
            problems.append(
                f"{where or 'manifest'}: text contains an unpaired surrogate "
                "(a \\ud800-\\udfff escape that is not half of a pair), which is not a character"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            if SURROGATE.search(key):
                problems.append(
                    f"{where or 'manifest'}: a key contains an unpaired surrogate "
                    "(a \\ud800-\\udfff escape that is not half of a pair)"
                )
            problems += surrogate_problems(item, f"{where}.{clip(key, 40)}" if where else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems += surrogate_problems(item, f"{where}[{index}]")
    return problems


def listing(names: list[str]) -> str:
    shown = ", ".join(quoted(name) for name in names[:_MAX_NAMES_LISTED])
    rest = len(names) - _MAX_NAMES_LISTED
    return f"{shown} … and {rest} more" if rest > 0 else shown


def quoted(text: str) -> str:
    """``repr`` of user text, clipped: a reason quotes it, never carries megabytes of it."""
    return repr(clip(text, 60))


def clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))
