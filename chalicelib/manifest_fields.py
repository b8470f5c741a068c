"""The manifest's field rules that the episode spec shares: asset paths and scene names.

Their own module so that :mod:`chalicelib.manifest` (the whole schema) and
:mod:`chalicelib.episode` (the timeline the worker follows, shipped in its image) both take
them from below, and neither imports the other.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field

from chalicelib.contracts import split_s3_uri
from chalicelib.manifest_json import SURROGATE, utf8_size

MAX_SCENE_NAME = 120
# A scene name becomes the file ``.<name>.mp4.<8 hex>.partial`` in the worker (Linux allows
# 255 bytes per file name) and part of S3 keys and DynamoDB attributes, all counted in bytes.
MAX_SCENE_NAME_BYTES = 200
MAX_ASSET_KEY_BYTES = 1024  # an S3 key's limit


def check_asset_path(path: str) -> str:
    """A key or ``s3://`` URI S3 can hold; a ValueError says why not (shown on the field)."""
    if "://" in path:
        _, key = split_s3_uri(path)  # raises ValueError naming the bad URI
    elif path.startswith("/"):
        raise ValueError("asset paths are S3 keys in the manifest's bucket: drop the leading '/'")
    else:
        key = path
    size = utf8_size(key)
    if size > MAX_ASSET_KEY_BYTES:
        raise ValueError(
            f"the S3 key is {size} bytes in UTF-8; S3 keys hold at most {MAX_ASSET_KEY_BYTES}"
        )
    return path


AssetPath = Annotated[str, Field(min_length=1, max_length=1024), AfterValidator(check_asset_path)]


def scene_name_problem(name: str) -> str | None:
    """Why a scene name cannot become a file name, or None when it can."""
    if not name or not name.strip():
        return "scene_name must not be empty"
    if SURROGATE.search(name):
        return "scene_name must not contain unpaired surrogates (\\ud800-\\udfff escapes)"
    if len(name) > MAX_SCENE_NAME:
        return f"scene_name must be at most {MAX_SCENE_NAME} characters"
    if utf8_size(name) > MAX_SCENE_NAME_BYTES:
        return (
            f"scene_name must be at most {MAX_SCENE_NAME_BYTES} bytes in UTF-8 "
            f"(this one is {utf8_size(name)})"
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
