"""Send local files to S3 once: a file whose content is already at its key is not sent again.

Each object carries the SHA-256 of its content in its metadata (``x-amz-meta-sha256``); a
HEAD compares it with the local file's. ETags cannot serve: multipart uploads' ETags are not
content hashes.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from chalicelib.contracts import is_s3_not_found

SHA256_METADATA = "sha256"
_CHUNK = 1024 * 1024


class ByteProgress(Protocol):
    """Where upload and download progress goes (a rich bar in the CLI, nothing in the API)."""

    def start(self, total_bytes: int, files: int) -> None: ...

    def advance(self, sent_bytes: int) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    def start(self, total_bytes: int, files: int) -> None:
        pass

    def advance(self, sent_bytes: int) -> None:
        pass

    def finish(self) -> None:
        pass


@dataclass(frozen=True)
class LocalAsset:
    path: Path
    key: str


@dataclass
class UploadSummary:
    sent: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bytes_sent: int = 0


def sync_assets(
    s3: Any,
    bucket: str,
    assets: Sequence[LocalAsset],
    progress: ByteProgress | None = None,
    *,
    workers: int = 4,
) -> UploadSummary:
    """Upload every asset whose key does not already hold the same content."""
    progress = progress or NoProgress()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        hashes = list(pool.map(lambda a: file_sha256(a.path), assets))
        stored = list(pool.map(lambda a: stored_sha256(s3, bucket, a.key), assets))
        summary = UploadSummary()
        to_send: list[tuple[LocalAsset, str]] = []
        for asset, digest, remote in zip(assets, hashes, stored, strict=True):
            if remote == digest:
                summary.skipped.append(asset.key)
            else:
                to_send.append((asset, digest))
        total = sum(asset.path.stat().st_size for asset, _ in to_send)
        progress.start(total, len(to_send))
        lock = threading.Lock()

        def advance(sent: int) -> None:
            with lock:
                progress.advance(sent)

        def send(item: tuple[LocalAsset, str]) -> None:
            asset, digest = item
            s3.upload_file(
                str(asset.path),
                bucket,
                asset.key,
                ExtraArgs={"Metadata": {SHA256_METADATA: digest}},
                Callback=advance,
            )

        try:
            list(pool.map(send, to_send))
        finally:
            progress.finish()
    summary.sent = [asset.key for asset, _ in to_send]
    summary.bytes_sent = total
    return summary


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def stored_sha256(s3: Any, bucket: str, key: str) -> str | None:
    """The content hash recorded on the object at ``key``; None if absent or unrecorded."""
    from botocore.exceptions import ClientError

    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if is_s3_not_found(exc.response["Error"]["Code"]):
            return None
        raise
    value = head.get("Metadata", {}).get(SHA256_METADATA)
    return str(value) if value else None
