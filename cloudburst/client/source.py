"""What ``submit PATH`` and ``estimate PATH`` read: a manifest with local paths, or a folder.

Paths are resolved the way the aws CLI and shell tools resolve them: a folder argument
relative to the working directory, a path inside a manifest relative to the manifest's own
folder. Each asset path is a local file (uploaded), an ``s3://`` URI (kept), or — only in
``keys`` mode (``submit --keys``) — a relative path taken as a key already in the bucket.
Anything else is an error before anything is uploaded: a typo must not become an S3 key.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from chalicelib.manifest_json import Unreadable, manifest_text
from cloudburst.client.folder import scan_folder

ASSET_FIELDS = ("image_path", "audio_path", "subtitle_path")
# Read by the client (where ``fetch`` puts files), never sent: the pipeline has no laptop.
CLIENT_ONLY_FIELDS = ("saving_dir",)


class SourceError(ValueError):
    """PATH cannot be read as a job; the message says why."""


@dataclass(frozen=True)
class JobSource:
    """A manifest document whose asset paths may still be local, and where they are relative to."""

    document: dict[str, Any]
    base: Path
    default_name: str
    saving_dir: str | None = None
    skipped: tuple[str, ...] = ()  # what a folder held that is not a scene, with the reason
    keys: bool = False  # relative paths are keys already in the bucket (``submit --keys``)

    def with_options(self, options: Mapping[str, Any]) -> JobSource:
        """The same job with manifest options (command-line flags) replacing its own."""
        document = {**self.document, **{k: v for k, v in options.items() if v is not None}}
        return replace(self, document=document)

    def local_path(self, path: str) -> Path | None:
        """The local file ``path`` names, or None for an ``s3://`` URI or (``keys``) a key.

        Raises SourceError for a path that is neither: uploading nothing and letting the
        pipeline reject ``s3://bucket/../media/nope.png`` later is what users must not meet.
        An absolute path is always local (``--watermark`` gives one in ``keys`` mode too).
        """
        if path.startswith("s3://"):
            return None
        written = Path(path).expanduser()
        if self.keys and not written.is_absolute():
            return None
        candidate = written if written.is_absolute() else self.base / written
        if candidate.is_file():
            if candidate.stat().st_size == 0:  # the pipeline refuses it: say so before uploading
                raise SourceError(f"{path!r} is empty ({candidate.resolve()})")
            return candidate.resolve()
        if candidate.exists():
            raise SourceError(f"{path!r} is not a file ({candidate})")
        hint = (
            ""
            if self.keys or written.is_absolute()
            else (
                "; an object already in the bucket is written s3://BUCKET/KEY, "
                "or pass --keys to read relative paths as keys"
            )
        )
        looked = "" if written.is_absolute() else f" (looked for {candidate.resolve()})"
        raise SourceError(f"{path!r}: no such local file{looked}{hint}")

    def asset_references(self) -> Iterator[tuple[dict[str, Any], str, str]]:
        """(dict holding it, field, path) for every asset path, the watermark included."""
        watermark = self.document.get("watermark_path")
        if isinstance(watermark, str) and watermark:
            yield self.document, "watermark_path", watermark
        episode = self.document.get("episode")
        music = episode.get("music") if isinstance(episode, dict) else None
        if isinstance(music, dict) and isinstance(music.get("path"), str) and music["path"]:
            yield music, "path", music["path"]
        for scene in self.document.get("scenes") or []:
            if not isinstance(scene, dict):
                continue
            for name in ASSET_FIELDS:
                value = scene.get(name)
                if isinstance(value, str) and value:
                    yield scene, name, value


def load_source(path: Path, *, language: str | None = None, keys: bool = False) -> JobSource:
    """A folder in the earlier layout, or a manifest JSON file (``keys``: see JobSource)."""
    if path.is_dir():
        scan = scan_folder(path, language)
        document: dict[str, Any] = {"version": 1, "scenes": [s.as_scene() for s in scan.scenes]}
        if scan.language:
            document["language"] = scan.language
        return JobSource(document, scan.folder, scan.folder.name, skipped=scan.skipped)
    if not path.is_file():
        raise SourceError(f"{path}: no such manifest file or folder")
    try:
        document = json.loads(manifest_text(path.read_bytes()))
    except Unreadable as exc:
        raise SourceError(f"{path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise SourceError(f"{path}: not a JSON manifest ({exc})") from None
    if not isinstance(document, dict):
        raise SourceError(f"{path}: a manifest is a JSON object with a 'scenes' list")
    saving_dir = document.pop("saving_dir", None)
    if language is not None:
        document["language"] = language
    return JobSource(
        document,
        path.resolve().parent,
        path.name.removesuffix(".json"),
        saving_dir if isinstance(saving_dir, str) else None,
        keys=keys,
    )


def source_from_scenes(
    scenes: list[dict[str, Any]],
    options: Mapping[str, Any],
    *,
    name: str,
    base: Path,
    keys: bool = False,
) -> JobSource:
    """The Python API's ``scenes`` list and options as a job source; paths may be given as
    ``pathlib.Path`` (any ``os.PathLike``) wherever a string path goes."""
    document: dict[str, Any] = {"version": 1, "scenes": [_plain(dict(scene)) for scene in scenes]}
    document.update({k: _plain(v) for k, v in options.items() if v is not None})
    for field in CLIENT_ONLY_FIELDS:
        document.pop(field, None)
    return JobSource(document, base, name, keys=keys)


def _plain(value: Any) -> Any:
    """``value`` with every path object a string, in the dicts and lists it holds too."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
