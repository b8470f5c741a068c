"""The local stack is built from the template's own properties, and loses no early upload."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from chalicelib.adapters.table import table_definition
from chalicelib.events import job_id_for_upload
from cloudburst.deploy.template import EPHEMERAL_STORAGE_GIB
from cloudburst.local import LocalStack
from cloudburst.local.bootstrap import bootstrap

REGION = "us-east-1"


@pytest.fixture
def moto(moto_in) -> Iterator[None]:
    with moto_in(REGION):
        yield


def test_bootstrap_makes_the_templates_bucket_table_cluster_and_task_definition(moto):
    client = lambda name: boto3.client(name, region_name=REGION)  # noqa: E731

    made = bootstrap(client, region=REGION, bucket="b-local", table="t-local", cluster="c-local")

    s3, dynamodb, ecs = client("s3"), client("dynamodb"), client("ecs")
    assert s3.get_bucket_versioning(Bucket="b-local")["Status"] == "Enabled"
    # (moto does not echo the EventBridge switch back; the e2e test below sees its events)
    rules = s3.get_bucket_lifecycle_configuration(Bucket="b-local")["Rules"]
    assert {r["ID"] for r in rules} == {
        "ExpireWorkingFiles",
        "ExpireReplacedVersionsAndAbortUploads",
    }
    table = dynamodb.describe_table(TableName="t-local")["Table"]
    expected = table_definition("t-local")
    assert table["KeySchema"] == expected["KeySchema"]
    assert sorted(i["IndexName"] for i in table["GlobalSecondaryIndexes"]) == [
        i["IndexName"] for i in expected["GlobalSecondaryIndexes"]
    ]
    ttl = dynamodb.describe_time_to_live(TableName="t-local")["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED"
    [cluster] = ecs.describe_clusters(clusters=["c-local"])["clusters"]
    assert sorted(cluster["capacityProviders"]) == ["FARGATE", "FARGATE_SPOT"]
    task = ecs.describe_task_definition(taskDefinition=made.task_definition_arn)["taskDefinition"]
    assert task["networkMode"] == "awsvpc"
    assert task["ephemeralStorage"] == {"sizeInGiB": EPHEMERAL_STORAGE_GIB}
    assert "memory" not in task["containerDefinitions"][0]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _rejected_report(s3: Any, bucket: str, job_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            body = s3.get_object(Bucket=bucket, Key=f"outputs/{job_id}/job.json")["Body"]
            return dict(json.loads(body.read()))
        except ClientError:
            time.sleep(0.2)
    raise AssertionError(f"no job.json for {job_id} within {timeout}s")


@pytest.mark.e2e
def test_a_client_uploading_the_moment_the_bucket_answers_gets_its_job_and_reuploads_are_new_jobs(
    tmp_path: Path,
):
    # given a local stack starting on a known port, and a plain boto3 client polling it
    port = _free_port()
    stack = LocalStack(port, state_dir=tmp_path / "stack", webhook_secret="whsec_" + "A" * 43 + "=")
    starting = threading.Thread(target=stack.start, daemon=True)
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )
    manifest = json.dumps(
        {"version": 1, "scenes": [{"scene_name": "s1", "image_path": "no.png", "audio_path": "no"}]}
    ).encode()
    starting.start()
    try:
        # when it uploads a manifest as soon as the bucket answers, then again to the same key
        deadline = time.monotonic() + 60
        while True:
            try:
                s3.head_bucket(Bucket=stack.bucket)
                break
            except (ClientError, EndpointConnectionError):
                assert time.monotonic() < deadline, "the bucket never answered"
                time.sleep(0.005)
        first = s3.put_object(Bucket=stack.bucket, Key="manifests/early.json", Body=manifest)
        starting.join(60)
        second = s3.put_object(Bucket=stack.bucket, Key="manifests/early.json", Body=manifest)

        # then each upload became its own job (rejected here: its assets do not exist)
        jobs = [
            job_id_for_upload(stack.bucket, "manifests/early.json", f"v:{put['VersionId']}")
            for put in (first, second)
        ]
        assert jobs[0] != jobs[1]
        for job_id in jobs:
            assert _rejected_report(s3, stack.bucket, job_id)["job_id"] == job_id
    finally:
        starting.join(60)
        stack.stop()
