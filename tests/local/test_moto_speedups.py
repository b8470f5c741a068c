"""The local stack's patches to moto's server change its speed, never its answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from botocore.utils import parse_to_aware_datetime
from moto import mock_aws

from chalicelib.clients import session_with_text_timestamps
from cloudburst.local.motoserver import aware_datetime

fast = aware_datetime(parse_to_aware_datetime)


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-25T12:34:56.000Z",  # what moto stores for S3 keys
        "2026-11-25T12:34:56Z",
        "2026-11-25T12:34:56.123456+00:00",
        "2026-11-25T12:34:56+02:00",
        "2026-11-25T12:34:56",  # naive: UTC, as botocore assumes
        "Wed, 25 Nov 2026 12:34:56 GMT",  # not ISO: botocore's parser
        "1795610096",
        1795610096,
        datetime(2026, 11, 25, 12, 34, 56, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_fast_timestamps_equal_botocores(value: object) -> None:
    ours, theirs = fast(value), parse_to_aware_datetime(value)
    # moto formats the result with strftime, so the wall-clock fields must match too
    assert ours.isoformat() == theirs.isoformat()


def test_naive_iso_text_is_read_as_utc() -> None:
    assert fast("2026-11-25T12:34:56").tzinfo is UTC


def test_text_timestamp_clients_keep_the_wire_text(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        s3 = session_with_text_timestamps().client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="cloudburst-test")
        s3.put_object(Bucket="cloudburst-test", Key="k", Body=b"x")
        listed = s3.list_objects_v2(Bucket="cloudburst-test")["Contents"][0]
    assert isinstance(listed["LastModified"], str)
    assert parse_to_aware_datetime(listed["LastModified"]).year >= 2026
