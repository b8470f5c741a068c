"""``submit``: upload what is missing, write the manifest, and name the job at once.

The bucket is versioned, so the manifest upload's version id names its job
(:func:`chalicelib.events.job_id_for_upload`, the same function the pipeline uses): the
job id is known the moment ``put_object`` returns, before any Lambda has run.
"""

from __future__ import annotations

import copy
import json
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cloudburst.client import keys
from cloudburst.client.connection import Connection
from cloudburst.client.output import Interrupted
from cloudburst.client.source import ASSET_FIELDS, JobSource, SourceError
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
    refused = webhook_refusal(source.document.get("webhook_url"), connection.is_local_stack)
    document, assets = _checked(source, name, refused)
    body = _encoded(document)
    try:
        uploads = sync_assets(connection.s3, connection.bucket, assets, progress)
    except KeyboardInterrupt:
        raise Interrupted.while_uploading() from None
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
    """The manifest with every local path replaced by its key under ``inputs/<name>/``.

    Raises SubmitError before anything is uploaded when a path is neither a local file nor
    clearly in S3, with the pipeline's own reasons about the rest of the manifest beside it.
    """
    working = replace(source, document=copy.deepcopy(source.document))
    prefix = keys.inputs_prefix(name)
    by_path: dict[Path, LocalAsset] = {}
    used: set[str] = set()
    errors: list[str] = []
    for holder, field, value in working.asset_references():
        try:
            local = working.local_path(value)
        except SourceError as exc:
            errors.append(f"{_where(holder, field)} {exc}")
            holder[field] = f"{prefix}unresolved"  # the pipeline's rules judge the rest
            continue
        if local is None:
            continue
        asset = by_path.get(local)
        if asset is None:
            asset = LocalAsset(local, _unique(prefix + _relative_key(local, source.base), used))
            by_path[local] = asset
        holder[field] = asset.key
    if not isinstance(working.document.get("scenes"), list):
        raise SubmitError([*errors, "a manifest needs a 'scenes' list"])
    if errors:
        raise SubmitError(errors + manifest_problems(working.document))
    return working.document, list(by_path.values())


def _where(holder: dict[str, Any], field: str) -> str:
    scene = holder.get("scene_name")
    if field == "path":  # the only asset path outside a scene that is not the watermark
        return "episode.music.path"
    return f"scene {scene!r}: {field}" if field in ASSET_FIELDS and scene else field


def webhook_refusal(url: object, allow_loopback: bool) -> list[str]:
    """Why the pipeline would refuse to deliver to ``url`` — at once, not after the job.

    The pipeline's own rule (:func:`chalicelib.webhooks.vet_destination`): private, CGNAT,
    link-local, loopback outside the local stack … A host that does not resolve from here
    is left to the pipeline, which resolves it again at delivery and retries.
    """
    from chalicelib.webhooks import Refused, url_problem, vet_destination

    if not isinstance(url, str) or url_problem(url):
        return []  # absent, or malformed: the manifest rules name that
    try:
        vet_destination(url, allow_loopback)
    except Refused as refusal:
        if not refusal.retryable:
            return [f"webhook_url: {refusal.reason}"]
    return []


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


def problems_before_upload(source: JobSource, name: str | None = None) -> list[str]:
    """Every reason ``submit`` would refuse ``source`` that needs no deployment to know (the
    name, local paths, the pipeline's manifest rules), so a user without a deployment yet
    learns them in the same round."""
    try:
        _checked(source, name or source.default_name, refused=[])
    except SubmitError as exc:
        return exc.errors
    return []


def _checked(
    source: JobSource, name: str, refused: list[str]
) -> tuple[dict[str, Any], list[LocalAsset]]:
    """The manifest to upload and its local files; SubmitError with every reason it cannot
    go (a bad name alone, else the paths, ``refused`` and the pipeline's rules together)."""
    problem = name_problem(name)
    if problem:
        raise SubmitError([problem])
    try:
        document, assets = localize(source, name)
    except SubmitError as exc:
        raise SubmitError([*exc.errors, *refused]) from None
    problems = manifest_problems(document)
    if refused or problems:
        raise SubmitError([*refused, *problems])
    return document, assets


def manifest_body(document: dict[str, Any]) -> bytes:
    """The manifest as uploaded, checked by the pipeline's own rules first (SubmitError)."""
    body = _encoded(document)
    problems = manifest_problems(document)
    if problems:
        raise SubmitError(problems)
    return body


def manifest_problems(document: dict[str, Any]) -> list[str]:
    """Every reason the pipeline would reject ``document`` (empty: it would accept it)."""
    from chalicelib.manifest import ManifestError, parse_manifest

    try:
        parse_manifest(_encoded(document))
    except ManifestError as exc:
        return list(exc.errors)
    return []


def _encoded(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=2, ensure_ascii=False).encode()
