"""S3 adapter: manifests, asset checks, batch specs, result records and the JSON documents
the pipeline writes for users (status, batch summaries, the report).

:class:`S3Documents` is the :class:`chalicelib.ports.Documents` the use cases see; the module
functions take the client, for the few callers outside the Lambdas."""

from __future__ import annotations

import json
import posixpath
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from chalicelib.contracts import SceneResult, is_s3_not_found, result_key
from chalicelib.ports import AssetCheck, UnreadableManifest
from chalicelib.report import report_link_seconds

# Above this many wanted keys under one folder, one LIST beats a HEAD per key.
_LIST_THRESHOLD = 8
_PARALLEL_REQUESTS = 16
_DENIED = ("AccessDenied", "403")


__all__ = ["S3Documents", "UnreadableManifest"]


class S3Documents:
    """The deployment bucket's documents, and reads of the user's manifest and assets."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._s3 = client
        self._bucket = bucket

    def read_manifest(self, bucket: str, key: str, limit: int, version_id: str | None) -> bytes:
        return read_manifest(self._s3, bucket, key, limit, version_id)

    def locate_assets(self, assets: Sequence[tuple[str, str, str]]) -> AssetCheck:
        return locate_assets(self._s3, assets)

    def read_head(self, key: str, size: int) -> bytes | None:
        try:
            response = self._s3.get_object(
                Bucket=self._bucket, Key=key, Range=f"bytes=0-{size - 1}"
            )
            body: bytes = response["Body"].read()
        except ClientError:
            return None
        return body

    def get_json(self, key: str) -> Any:
        return get_json(self._s3, self._bucket, key)

    def put_json(self, key: str, document: Any, *, indent: int | None = 2) -> None:
        put_json(self._s3, self._bucket, key, document, indent=indent)

    def put_all_json(self, documents: Sequence[tuple[str, Any]]) -> None:
        put_all_json(self._s3, self._bucket, documents)

    def link(self, key: str, seconds: int) -> str:
        # no longer than the signing credentials last: S3 refuses the link after them
        seconds = report_link_seconds(seconds, **signing_lifetime(self._s3))
        return presigned_get(self._s3, self._bucket, key, seconds)

    def read_results(
        self, job_id: str, scene_names: Iterable[str]
    ) -> dict[str, SceneResult | None]:
        return read_results(self._s3, self._bucket, job_id, scene_names)


def read_manifest(
    s3: Any, bucket: str, key: str, limit: int, version_id: str | None = None
) -> bytes:
    """The manifest's bytes (that exact version when given); at most ``limit`` bytes read."""
    extra = {"VersionId": version_id} if version_id and version_id != "null" else {}
    try:
        response = s3.get_object(Bucket=bucket, Key=key, **extra)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if is_s3_not_found(code) or code in _DENIED or code == "NoSuchVersion":
            problem = f"manifest s3://{bucket}/{key} could not be read ({code})"
            raise UnreadableManifest(problem) from None
        raise
    size = response.get("ContentLength", 0)
    if size > limit:
        response["Body"].close()
        raise UnreadableManifest(f"manifest is {size} bytes; the limit is {limit}")
    body: bytes = response["Body"].read()
    return body


def locate_assets(s3: Any, assets: Sequence[tuple[str, str, str]]) -> AssetCheck:
    """Each (where, bucket, key)'s current version id, or an error if absent or empty.

    Keys are grouped by folder: folders holding many wanted keys are LISTed by version (a page
    per 1,000 versions), the rest HEADed in parallel, so a 1,000-scene manifest costs a
    handful of requests rather than 3,000.
    """
    wanted: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for where, bucket, key in assets:
        wanted[(bucket, posixpath.dirname(key))].append((where, key))
    listed: list[tuple[str, str, list[tuple[str, str]]]] = []
    headed: list[tuple[str, str, str]] = []
    for (bucket, folder), entries in wanted.items():
        if len(entries) >= _LIST_THRESHOLD:
            listed.append((bucket, folder, entries))
        else:
            headed.extend((where, bucket, key) for where, key in entries)
    found: list[_Found] = []
    with ThreadPoolExecutor(max_workers=_PARALLEL_REQUESTS) as pool:
        listings = pool.map(lambda item: _latest_under(s3, item[0], item[1]), listed)
        for (bucket, _folder, entries), latest in zip(listed, listings, strict=True):
            for where, key in entries:
                if latest is None:  # listing denied: fall back to HEAD
                    headed.append((where, bucket, key))
                else:
                    found.append(_judged(where, bucket, key, latest.get(key)))
        found.extend(pool.map(lambda a: _head(s3, *a), headed))
    errors = sorted({f.error for f in found if f.error})
    versions = {f.uri: f.version for f in found if f.version and f.version != "null"}
    return AssetCheck(errors, versions)


@dataclass(frozen=True)
class _Found:
    uri: str
    version: str | None = None
    error: str | None = None


def _judged(where: str, bucket: str, key: str, latest: tuple[int, str] | None) -> _Found:
    """One asset, from its latest version's (size, version id) or None when it has none."""
    uri = f"s3://{bucket}/{key}"
    if latest is None:
        return _Found(uri, error=_missing(where, bucket, key))
    size, version = latest
    if size == 0:
        return _Found(uri, error=f"{where}: {uri} is empty")
    return _Found(uri, version)


def _latest_under(s3: Any, bucket: str, folder: str) -> dict[str, tuple[int, str]] | None:
    """{key: (size, version id)} of each object's latest version directly under one folder
    (a key whose latest version is a delete marker is absent); None when listing fails."""
    prefix = f"{folder}/" if folder else ""
    latest: dict[str, tuple[int, str]] = {}
    try:
        for page in s3.get_paginator("list_object_versions").paginate(
            Bucket=bucket, Prefix=prefix, Delimiter="/"
        ):
            for version in page.get("Versions", []):
                if version.get("IsLatest"):
                    latest[version["Key"]] = (version["Size"], version["VersionId"])
    except ClientError:
        return None
    return latest


def _head(s3: Any, where: str, bucket: str, key: str) -> _Found:
    uri = f"s3://{bucket}/{key}"
    try:
        response = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if is_s3_not_found(code) or code == "NoSuchBucket":
            return _Found(uri, error=_missing(where, bucket, key))
        if code in _DENIED:
            return _Found(
                uri, error=f"{where}: {uri} is not readable by CloudBurst (access denied)"
            )
        raise
    return _judged(
        where, bucket, key, (response.get("ContentLength", 0), response.get("VersionId"))
    )


def _missing(where: str, bucket: str, key: str) -> str:
    return f"{where}: s3://{bucket}/{key} does not exist"


def get_json(s3: Any, bucket: str, key: str) -> Any:
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def get_json_or_none(s3: Any, bucket: str, key: str) -> Any:
    """The document, or None when there is no such object."""
    try:
        return get_json(s3, bucket, key)
    except ClientError as exc:
        if is_s3_not_found(exc.response["Error"]["Code"]):
            return None
        raise


def put_json(s3: Any, bucket: str, key: str, document: Any, *, indent: int | None = 2) -> None:
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(document, ensure_ascii=False, indent=indent).encode(),
        ContentType="application/json",
    )


def put_all_json(s3: Any, bucket: str, documents: Sequence[tuple[str, Any]]) -> None:
    """Write many (key, document) pairs in parallel (batch specs of a large job)."""
    with ThreadPoolExecutor(max_workers=_PARALLEL_REQUESTS) as pool:
        list(pool.map(lambda item: put_json(s3, bucket, item[0], item[1]), documents))


def signing_lifetime(client: Any) -> dict[str, Any]:
    """Whether the client signs with temporary credentials, and how long they have left."""
    credentials = getattr(client, "_get_credentials", lambda: None)()
    expiry = getattr(credentials, "_expiry_time", None)
    left = (expiry - datetime.now(UTC)).total_seconds() if expiry is not None else None
    return {"temporary": bool(getattr(credentials, "token", None)), "credentials_left": left}


def presigned_get(s3: Any, bucket: str, key: str, seconds: int) -> str:
    url: str = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=seconds
    )
    return url


def read_results(
    s3: Any, bucket: str, job_id: str, scene_names: Iterable[str]
) -> dict[str, SceneResult | None]:
    """Each scene's result record, None where the worker wrote none (or an unreadable one)."""
    names = list(scene_names)

    def read(name: str) -> SceneResult | None:
        try:
            body = s3.get_object(Bucket=bucket, Key=result_key(job_id, name))["Body"].read()
        except ClientError as exc:
            if is_s3_not_found(exc.response["Error"]["Code"]):
                return None
            raise
        try:
            return SceneResult.model_validate_json(body)
        except ValidationError:
            return None

    with ThreadPoolExecutor(max_workers=_PARALLEL_REQUESTS) as pool:
        return dict(zip(names, pool.map(read, names), strict=True))
