"""Downloads a batch's input assets once each and deletes them after their last user.

Scenes of one batch may share objects (the watermark always, sometimes an image), so each
distinct ``s3://`` URI is fetched exactly once, by whichever scene needs it first, and its
local file is removed when the last scene that uses it releases it. That keeps Fargate's
20 GiB of ephemeral storage bounded by the scenes in flight, not by the batch size.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.contracts import is_s3_not_found, split_s3_uri

# Assets are images, narration and subtitles (KiB to a few MiB), outputs a few MiB:
# multipart only pays off above this, and a few parallel parts per object are plenty.
TRANSFER_CONFIG = TransferConfig(
    multipart_threshold=16 * 1024 * 1024,
    multipart_chunksize=16 * 1024 * 1024,
    max_concurrency=4,
    use_threads=True,
)

_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


class S3Client(Protocol):
    """The few S3 client calls the worker makes (a boto3 ``s3`` client satisfies it)."""

    def head_object(self, **kwargs: Any) -> dict[str, Any]: ...
    def get_object(self, **kwargs: Any) -> dict[str, Any]: ...
    def put_object(self, **kwargs: Any) -> dict[str, Any]: ...
    def download_file(self, *args: Any, **kwargs: Any) -> None: ...
    def upload_file(self, *args: Any, **kwargs: Any) -> None: ...


class AssetError(Exception):
    """An asset could not be fetched; the message says which object and why."""


@dataclass
class _Entry:
    remaining_users: int
    future: Future[Path] | None = None


@dataclass
class AssetCache:
    """Reference-counted local copies of S3 objects, safe to use from many threads.

    ``uses`` lists every URI once per scene that will ``acquire`` it, so the cache knows
    when a file's last user is done without ever downloading an object twice.
    """

    s3: S3Client
    directory: Path
    uses: Iterable[str]
    # the version of each URI to read (the batch spec's ``asset_versions``); the rest: latest
    versions: Mapping[str, str] = field(default_factory=dict)
    transfer_config: TransferConfig = TRANSFER_CONFIG
    _entries: dict[str, _Entry] = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._entries = {uri: _Entry(count) for uri, count in Counter(self.uses).items()}

    def acquire(self, uri: str) -> Path:
        """Local path of ``uri``, downloading it if no one has; raises AssetError."""
        with self._lock:
            entry = self._entries.setdefault(uri, _Entry(remaining_users=1))
            owner = entry.future is None
            if owner:
                entry.future = Future()
            future = entry.future
        assert future is not None
        if owner:
            try:
                future.set_result(self._download(uri))
            except Exception as error:  # waiters must never hang on an unset future
                future.set_exception(error)
        return future.result()

    def release(self, uri: str) -> None:
        """One user is done with ``uri``; the last one deletes the local file."""
        with self._lock:
            entry = self._entries.get(uri)
            if entry is None:
                return
            entry.remaining_users -= 1
            if entry.remaining_users > 0:
                return
            del self._entries[uri]
        if entry.future is not None and entry.future.done() and not entry.future.exception():
            entry.future.result().unlink(missing_ok=True)

    def _download(self, uri: str) -> Path:
        try:
            bucket, key = split_s3_uri(uri)
        except ValueError as error:
            raise AssetError(str(error)) from None
        digest = hashlib.sha256(uri.encode()).hexdigest()[:16]
        name = local_name(key)
        target = self.directory / digest / name
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            version = self.versions.get(uri)
            self.s3.download_file(
                bucket,
                key,
                str(target),
                ExtraArgs={"VersionId": version} if version else None,
                Config=self.transfer_config,
            )
        except ClientError as error:
            target.unlink(missing_ok=True)
            raise AssetError(f"{uri} could not be downloaded: {_describe(error)}") from None
        except (BotoCoreError, OSError) as error:
            target.unlink(missing_ok=True)
            raise AssetError(f"{uri} could not be downloaded: {error}") from None
        return target


def local_name(key: str) -> str:
    """A file name for the object's local copy: its key's last segment, made safe.

    Keys are free text: ``inputs/..`` or ``a/.`` would name the folder itself, and a
    leading dot a hidden file. The extension is kept (ffmpeg and OpenCV look at it).
    """
    return _UNSAFE_FILENAME.sub("_", key.rsplit("/", 1)[-1]).lstrip(".") or "asset"


def _describe(error: ClientError) -> str:
    """Turn S3's error code (HEAD errors carry only the HTTP status) into words."""
    code = str(error.response.get("Error", {}).get("Code", ""))
    if is_s3_not_found(code):
        return "object not found"
    if code == "NoSuchBucket":
        return "bucket does not exist"
    if code in {"403", "AccessDenied", "Forbidden"}:
        return "access denied"
    return f"S3 error {code or 'unknown'}"
