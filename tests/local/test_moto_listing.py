"""moto's ListObjectVersions in the local stack: the same answer, at the cost of the prefix.

moto deep-copies every version of every key in the bucket on every page, whatever the
prefix; intake lists a folder of assets by version to pin them, in a bucket that also holds
every job's outputs. The patch makes the copy cover the prefix only.
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from local_helpers import use_test_credentials
from moto import mock_aws

from cloudburst.local.moto_patches import list_versions_under_the_prefix_only

BUCKET = "listing"
KEYS = ["a/1.png", "a/2.png", "a/b/3.png", "b/4.png", "top.png", "ab.png"]
PREFIXES = ["", "a/", "a/b/", "b/", "a", "zzz/"]


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    use_test_credentials(monkeypatch)
    list_versions_under_the_prefix_only()
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def listing(
    s3: Any, prefix: str, delimiter: str | None, bucket: str = BUCKET
) -> tuple[list[Any], list[str]]:
    """(versions as (key, version id, latest), common prefixes) over every page."""
    extra = {"Delimiter": delimiter} if delimiter else {}
    versions, prefixes = [], []
    for page in s3.get_paginator("list_object_versions").paginate(
        Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": 2}, **extra
    ):
        versions += [(v["Key"], v["VersionId"], v["IsLatest"]) for v in page.get("Versions", [])]
        versions += [
            (m["Key"], m["VersionId"], m["IsLatest"]) for m in page.get("DeleteMarkers", [])
        ]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    return sorted(versions), sorted(set(prefixes))


_BUCKETS = itertools.count()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.sampled_from(KEYS), st.booleans()), min_size=1, max_size=12))
def test_every_prefix_lists_exactly_the_versions_written_under_it(s3: Any, writes) -> None:
    # given puts and deletes (delete markers) of keys in several folders, in a fresh bucket,
    # and a model of them
    bucket = f"listing-{next(_BUCKETS)}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    history: dict[str, list[str]] = {}
    present: set[str] = set()
    for key, delete in writes:
        if delete and key not in present:
            continue  # moto makes no delete marker for a key that has no current version
        if delete:
            response = s3.delete_object(Bucket=bucket, Key=key)
            present.discard(key)
        else:
            response = s3.put_object(Bucket=bucket, Key=key, Body=b"x")
            present.add(key)
        history.setdefault(key, []).append(response["VersionId"])

    for prefix in PREFIXES:
        for delimiter in (None, "/"):
            # when a prefix is listed by version
            versions, prefixes = listing(s3, prefix, delimiter, bucket)

            # then it holds every version of every key under it (directly, with a
            # delimiter), the newest one marked latest, and nothing else
            under = [k for k in history if k.startswith(prefix)]
            direct = [k for k in under if not (delimiter and "/" in k[len(prefix) :])]
            expected = sorted(
                (k, v, i == len(history[k]) - 1) for k in direct for i, v in enumerate(history[k])
            )
            folders = {
                prefix + k[len(prefix) :].split("/")[0] + "/" for k in under if k not in direct
            }
            assert (versions, prefixes) == (expected, sorted(folders))


def test_a_listing_copies_no_bytes_and_visits_only_the_keys_under_its_prefix(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a folder of 3 assets in a bucket that holds 50 videos too
    for index in range(50):
        s3.put_object(Bucket=BUCKET, Key=f"outputs/job/{index}.mp4", Body=b"v" * 1000)
    for index in range(3):
        s3.put_object(Bucket=BUCKET, Key=f"inputs/ep/{index}.png", Body=b"p")
    from moto.s3 import models

    pickled: list[str] = []
    copied: list[Any] = []
    real_state, real_deepcopy = models.FakeKey.__getstate__, models.copy.deepcopy
    monkeypatch.setattr(
        models.FakeKey, "__getstate__", lambda key: pickled.append(key.name) or real_state(key)
    )
    monkeypatch.setattr(
        models.copy, "deepcopy", lambda value, *a: copied.append(value) or real_deepcopy(value, *a)
    )

    # when the folder is listed by version, a page per key
    versions, _ = listing(s3, "inputs/ep/", "/")

    # then the listing is whole, no key's bytes were copied, and only the folder's 3 keys
    # were visited (once per page)
    assert [key for key, _, latest in versions if latest] == [
        f"inputs/ep/{i}.png" for i in range(3)
    ]
    assert pickled == []
    assert len(copied) == 3 * 2


def test_every_version_is_still_readable_after_listings_are_collected(s3: Any) -> None:
    # given keys with two versions each, listed by version many times
    first = {}
    for index in range(5):
        key = f"inputs/ep/{index}.png"
        first[key] = s3.put_object(Bucket=BUCKET, Key=key, Body=b"old")["VersionId"]
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"new")
    for _ in range(3):
        listing(s3, "inputs/ep/", "/")

    # when the listings' copies are garbage-collected (a FakeKey's __del__ closes its buffer)
    gc.collect()

    # then every version still reads back whole
    for key, version in first.items():
        assert s3.get_object(Bucket=BUCKET, Key=key, VersionId=version)["Body"].read() == b"old"
        assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"new"
