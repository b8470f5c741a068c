"""AssetCache: one download per distinct URI, files gone after their last user."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cloudburst_worker.assets import AssetCache, AssetError


class SlowS3:
    """Stands in for boto3's download_file: slow enough for threads to collide."""

    def __init__(self, missing: set[str] | None = None) -> None:
        self.calls: Counter[str] = Counter()
        self.missing = missing or set()
        self._lock = threading.Lock()

    def download_file(self, bucket: str, key: str, filename: str, **_: Any) -> None:
        with self._lock:
            self.calls[f"s3://{bucket}/{key}"] += 1
        time.sleep(0.05)
        if key in self.missing:
            raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "HeadObject")
        Path(filename).write_bytes(key.encode())

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected S3 call {name}")


def test_concurrent_users_of_one_uri_share_a_single_download(tmp_path: Path) -> None:
    # given eight scenes that all use the same watermark
    s3 = SlowS3()
    uri = "s3://brand/logo.png"
    cache = AssetCache(s3, tmp_path, [uri] * 8)

    # when they acquire it at the same time
    with ThreadPoolExecutor(8) as pool:
        paths = list(pool.map(lambda _: cache.acquire(uri), range(8)))

    # then it was downloaded once and every scene got the same file
    assert s3.calls[uri] == 1
    assert len(set(paths)) == 1
    assert paths[0].read_bytes() == b"logo.png"


def test_file_is_deleted_only_after_its_last_user_releases_it(tmp_path: Path) -> None:
    # given an image used by two scenes
    uri = "s3://inputs/shared/image.png"
    cache = AssetCache(SlowS3(), tmp_path, [uri, uri])
    first, second = cache.acquire(uri), cache.acquire(uri)

    # when the first scene is done, the file stays; when the second is, it goes
    cache.release(uri)
    assert first.is_file()
    cache.release(uri)
    assert not second.exists()


def test_missing_object_fails_every_user_with_the_same_clear_reason(tmp_path: Path) -> None:
    # given an object that is not in S3, wanted by three scenes at once
    s3 = SlowS3(missing={"gone.mp3"})
    uri = "s3://inputs/gone.mp3"
    cache = AssetCache(s3, tmp_path, [uri] * 3)

    # when they all try to acquire it
    def attempt(_: int) -> str:
        with pytest.raises(AssetError) as caught:
            cache.acquire(uri)
        return str(caught.value)

    with ThreadPoolExecutor(3) as pool:
        errors = set(pool.map(attempt, range(3)))

    # then S3 was asked once and each got "not found" naming the URI
    assert s3.calls[uri] == 1
    assert errors == {f"{uri} could not be downloaded: object not found"}
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_local_file_names_keep_the_extension_and_cannot_escape_the_directory(
    tmp_path: Path,
) -> None:
    uri = "s3://inputs/a/../../weird name;rm -rf.srt"
    path = AssetCache(SlowS3(), tmp_path, [uri]).acquire(uri)
    assert path.suffix == ".srt"
    assert path.resolve().is_relative_to(tmp_path.resolve())


def test_a_pinned_asset_is_read_at_its_version_though_its_key_was_uploaded_again(
    tmp_path: Path,
) -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        # given a versioned bucket whose picture was uploaded again after intake pinned it
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="jobs")
        s3.put_bucket_versioning(Bucket="jobs", VersioningConfiguration={"Status": "Enabled"})
        pinned = s3.put_object(Bucket="jobs", Key="inputs/ep/a.png", Body=b"first")["VersionId"]
        s3.put_object(Bucket="jobs", Key="inputs/ep/a.png", Body=b"second")
        uri, other = "s3://jobs/inputs/ep/a.png", "s3://jobs/inputs/ep/b.png"
        s3.put_object(Bucket="jobs", Key="inputs/ep/b.png", Body=b"unpinned")

        # when the worker's cache reads both, one pinned
        cache = AssetCache(s3, tmp_path, [uri, other], versions={uri: pinned})

        # then the pinned one is the version intake saw, the other the key's latest
        assert cache.acquire(uri).read_bytes() == b"first"
        assert cache.acquire(other).read_bytes() == b"unpinned"
