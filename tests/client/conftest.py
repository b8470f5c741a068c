"""Client tests: a moto bucket (versioned, as deployments have it) and the environment the
commands resolve their deployment from — what ``cloudburst local up`` prints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cloudburst.client.connection import Connection
from cloudburst.stage import Deployment

BUCKET = "cloudburst-test"
CLUSTER = "cloudburst"
REGION = "us-east-1"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "CLOUDBURST_BUCKET": BUCKET,
        "CLOUDBURST_CLUSTER": CLUSTER,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_REGION", "CLOUDBURST_STAGE", "RESULTS_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def s3(aws_env: None) -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


@pytest.fixture
def connection(s3: Any) -> Connection:
    return Connection(Deployment(stage=None, region=REGION, bucket=BUCKET, cluster=CLUSTER))
