"""``submit``: upload what is missing, write the manifest, and name the job at once.

The bucket is versioned, so the manifest upload's version id names its job
(:func:`chalicelib.events.job_id_for_upload`, the same function the pipeline uses): the
job id is known the moment ``put_object`` returns, before any Lambda has run.
"""

from __future__ import annotations

import copy
import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudburst.client import keys
from cloudburst.client.connection import Connection
from cloudburst.client.source import JobSource, SourceError
from cloudburst.client.uploads import ByteProgress, LocalAsset, UploadSummary, sync_assets

MAX_NAME = 200


class SubmitError(ValueError):
    """The job was not submitted; ``errors`` say what to fix (every one at once)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Submission:
    job_id: str
    name: str
    manifest_key: str
    version_id: str
    scenes: int
    uploads: UploadSummary

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "name": self.name,
            "manifest_key": self.manifest_key,
            "version_id": self.version_id,
            "scenes": self.scenes,
            "uploaded": len(self.uploads.sent),
            "unchanged": len(self.uploads.skipped),
            "bytes_sent": self.uploads.bytes_sent,
        }


def submit(
    connection: Connection,
    source: JobSource,
    *,
    name: str | None = None,
    progress: ByteProgress | None = None,
) -> Submission:
    """Upload ``source``'s local files and its manifest; the job id comes back at once."""
    name = name or source.default_name
    problem = name_problem(name)
    if problem:
        raise SubmitError([problem])
    document, assets = localize(source, name)
    body = manifest_body(document)
    uploads = sync_assets(connection.s3, connection.bucket, assets, progress)
    key = keys.manifest_key(name)
    response = connection.s3.put_object(
        Bucket=connection.bucket, Key=key, Body=body, ContentType="application/json"
    )
    version = response.get("VersionId")
    if not version or version == "null":
        raise SubmitError(
            [
                f"bucket {connection.bucket} is not versioned, so this upload names no job; "
                "turn versioning on (the deployment's stack does)"
            ]
        )
    from chalicelib.events import job_id_for_upload

    job_id = job_id_for_upload(connection.bucket, key, f"v:{version}")
    return Submission(job_id, name, key, version, len(document["scenes"]), uploads)


def localize(source: JobSource, name: str) -> tuple[dict[str, Any], list[LocalAsset]]:
    """The manifest with every local path replaced by its key under ``inputs/<name>/``."""
    working = JobSource(copy.deepcopy(source.document), source.base, source.default_name)
    prefix = keys.inputs_prefix(name)
    by_path: dict[Path, LocalAsset] = {}
    used: set[str] = set()
    errors: list[str] = []
    for holder, field, value in working.asset_references():
        try:
            local = working.local_path(value)
        except SourceError as exc:
            errors.append(str(exc))
            continue
        if local is None:
            continue
        asset = by_path.get(local)
        if asset is None:
            asset = LocalAsset(local, _unique(prefix + _relative_key(local, source.base), used))
            by_path[local] = asset
        holder[field] = asset.key
    if errors:
        raise SubmitError(errors)
    if not isinstance(working.document.get("scenes"), list):
        raise SubmitError(["a manifest needs a 'scenes' list"])
    return working.document, list(by_path.values())


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a manifest (``manifests/<name>.json``), or None."""
    if not name.strip():
        return "the job name must not be empty"
    if len(name) > MAX_NAME:
        return f"the job name must be at most {MAX_NAME} characters"
    if "/" in name or "\\" in name or name.startswith("."):
        return "the job name must not contain '/' or '\\' or start with '.'"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        return "the job name must not contain control characters"
    return None


def _relative_key(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base.resolve()).as_posix()
    except ValueError:
        return f"files/{path.name}"


def _unique(key: str, used: set[str]) -> str:
    candidate, number = key, 2
    while candidate in used:
        stem, dot, suffix = key.rpartition(".")
        candidate = f"{stem}-{number}.{suffix}" if dot else f"{key}-{number}"
        number += 1
    used.add(candidate)
    return candidate


def manifest_body(document: dict[str, Any]) -> bytes:
    """The manifest as uploaded, checked by the pipeline's own rules first (SubmitError)."""
    from chalicelib.manifest import ManifestError, parse_manifest

    body = json.dumps(document, indent=2, ensure_ascii=False).encode()
    try:
        parse_manifest(body)
    except ManifestError as exc:
        raise SubmitError(exc.errors) from None
    return body
