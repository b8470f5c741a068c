"""The outside services' contract: each adapter (against moto) and its in-memory twin agree on
what the use cases rely on, so the use-case tests on the twins hold on AWS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.ecs import EcsTasks
from chalicelib.adapters.memory import MemoryDeadLetters, MemoryDocuments, MemoryTasks
from chalicelib.adapters.s3 import S3Documents
from chalicelib.adapters.sqs import SqsDeadLetters
from chalicelib.contracts import SceneResult, SceneStatus, result_key
from chalicelib.events import started_by
from chalicelib.ports import DeadLetters, Documents, TaskRequest, Tasks, UnreadableManifest
from chalicelib.pricing import PROFILES
from chalicelib.settings import Settings
from cloudburst.local.bootstrap import bootstrap

BUCKET, REGION, CLUSTER = "cloudburst-test", "us-east-1", "cloudburst"


@dataclass
class World:
    """One port set, and how the test puts objects and messages beside it."""

    documents: Documents
    tasks: Tasks
    dead_letters: DeadLetters
    queue_url: str
    put_object: Any  # (key, body) -> version id
    send: Any  # (body) -> None


@pytest.fixture(params=["twin", "aws"])
def world(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    if request.param == "twin":
        documents = MemoryDocuments(BUCKET)
        letters = MemoryDeadLetters()
        url = "https://sqs.us-east-1.amazonaws.com/123456789012/dlq"
        yield World(
            documents,
            MemoryTasks(CLUSTER, REGION),
            letters,
            url,
            documents.put,
            lambda body: letters.send(url, body),
        )
        return
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        resources = bootstrap(
            lambda name: boto3.client(name, region_name=REGION),
            region=REGION,
            bucket=BUCKET,
            table="cloudburst",
            cluster=CLUSTER,
        )
        s3 = boto3.client("s3", region_name=REGION)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        settings = Settings(
            bucket=BUCKET,
            table_name="t",
            cluster=CLUSTER,
            task_definition=resources.task_definition_arn,
            subnets=[resources.subnet_id],
            security_groups=[resources.security_group_id],
            region=REGION,
        )

        def put(key: str, body: bytes | str) -> str:
            return str(s3.put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"])

        yield World(
            S3Documents(s3, BUCKET),
            EcsTasks(boto3.client("ecs", region_name=REGION), settings),
            SqsDeadLetters(sqs),
            url,
            put,
            lambda body: sqs.send_message(QueueUrl=url, MessageBody=body),
        )


def test_a_manifest_is_read_by_its_version_and_refused_when_absent_or_too_large(world: World):
    first = world.put_object("manifests/a.json", b'{"v": 1}')
    world.put_object("manifests/a.json", b'{"v": 2}')

    assert world.documents.read_manifest(BUCKET, "manifests/a.json", 100, first) == b'{"v": 1}'
    assert world.documents.read_manifest(BUCKET, "manifests/a.json", 100, None) == b'{"v": 2}'
    with pytest.raises(UnreadableManifest, match="could not be read"):
        world.documents.read_manifest(BUCKET, "manifests/gone.json", 100, None)
    with pytest.raises(UnreadableManifest, match="the limit is 3"):
        world.documents.read_manifest(BUCKET, "manifests/a.json", 3, None)


@pytest.mark.parametrize("listed", [False, True], ids=["headed", "listed"])
def test_assets_are_located_at_their_current_version_and_absent_or_empty_ones_named(
    world: World, listed: bool
):
    # given assets uploaded twice, an empty one, a deleted one, and enough in one folder to
    # be LISTed by version rather than HEADed one by one
    first = world.put_object("inputs/a.png", b"png 1")
    latest = world.put_object("inputs/a.png", b"png 2")
    world.put_object("inputs/empty.mp3", b"")
    fillers = [f"inputs/f{i}.png" for i in range(8 if listed else 0)]
    for key in fillers:
        world.put_object(key, b"x")
    wanted = [("a", "inputs/a.png"), ("b", "inputs/empty.mp3"), ("c", "x/y")]
    wanted += [(key, key) for key in fillers]

    # when intake locates them
    check = world.documents.locate_assets([(where, BUCKET, key) for where, key in wanted])

    # then each present one is pinned to the version it has now, and the others are named
    assert check.errors == [
        f"b: s3://{BUCKET}/inputs/empty.mp3 is empty",
        f"c: s3://{BUCKET}/x/y does not exist",
    ]
    assert check.versions[f"s3://{BUCKET}/inputs/a.png"] == latest != first
    assert sorted(check.versions) == sorted(
        f"s3://{BUCKET}/{k}" for k in ["inputs/a.png", *fillers]
    )


def test_documents_read_back_and_result_records_are_none_when_absent_or_unreadable(world: World):
    world.documents.put_all_json([("jobs/j/a.json", {"n": 1}), ("jobs/j/b.json", ["é"])])
    record = SceneResult(
        job_id="j", batch_number=1, attempt=1, scene_name="s1", status=SceneStatus.SUCCEEDED
    )
    world.put_object(result_key("j", "s1"), record.model_dump_json())
    world.put_object(result_key("j", "bad"), "{not json")

    assert world.documents.get_json("jobs/j/a.json") == {"n": 1}
    assert world.documents.get_json("jobs/j/b.json") == ["é"]
    assert world.documents.read_head("jobs/j/a.json", 1) == b"{"
    assert world.documents.read_head("jobs/j/none.json", 4) is None
    results = world.documents.read_results("j", ["s1", "bad", "gone"])
    assert results == {"s1": record, "bad": None, "gone": None}
    assert world.documents.link("jobs/j/a.json", 60).startswith("https://")


def request(batch: int = 1, attempt: int = 1) -> TaskRequest:
    return TaskRequest(
        job_id="job-1",
        batch_number=batch,
        attempt=attempt,
        spec_uri=f"s3://{BUCKET}/jobs/job-1/batches/{batch:04d}.json",
        profile=PROFILES[1],
        spot=False,
        language="english",
    )


def test_a_launched_task_runs_as_ours_until_stopped_and_is_then_described_stopped(world: World):
    launch = world.tasks.launch(request())
    assert launch.task_arn is not None
    arn = launch.task_arn

    assert world.tasks.ours_running() == {arn: started_by("job-1", 1)}
    assert world.tasks.describe([arn], datetime.now(UTC))[arn].stopped is None

    world.tasks.stop(arn, "no batch is waiting for this task")

    assert world.tasks.ours_running() == {}
    state = world.tasks.describe([arn, f"{arn[:-4]}0000"], datetime.now(UTC))
    assert list(state) == [arn]
    stopped = state[arn].stopped
    assert stopped is not None
    assert stopped.batch_ref() == ("job-1", 1)
    assert stopped.detail.last_status == "STOPPED"


def test_a_dead_letter_is_received_once_until_deleted(world: World):
    world.send(json.dumps({"source": "aws.s3"}))

    [message] = world.dead_letters.receive(world.queue_url, 10)
    assert json.loads(message.body) == {"source": "aws.s3"}
    assert world.dead_letters.receive(world.queue_url, 10) == []  # hidden while handled
    world.dead_letters.delete(message)
    assert world.dead_letters.receive(world.queue_url, 10) == []


def test_a_user_with_plain_boto3_finds_the_job_of_an_upload_from_its_version_id(aws_dynamo):
    # given assets and a manifest put with plain boto3, as the aws CLI would put them
    aws = aws_dynamo
    aws.put_assets(["one"])
    body = json.dumps(
        {
            "version": 1,
            "scenes": [
                {"scene_name": "one", "image_path": "inputs/ep1/one.png",
                 "audio_path": "inputs/ep1/one.mp3"}
            ],
        }
    ).encode()  # fmt: skip
    version = aws.s3.put_object(Bucket=aws.bucket, Key="manifests/dupA.json", Body=body)[
        "VersionId"
    ]

    # when S3 announces the upload to the pipeline (the real S3 and DynamoDB adapters)
    job_id = aws.deliver(
        aws.load_event(
            "s3_object_created",
            detail={
                "bucket": {"name": aws.bucket},
                "object": {"key": "manifests/dupA.json", "size": len(body), "version-id": version},
            },
        )
    )

    # then README's documented key, built from the key and the VersionId alone, names the job
    pointer_key = f"uploads/manifests/dupA.json/{version}.json"
    pointer = json.loads(aws.s3.get_object(Bucket=aws.bucket, Key=pointer_key)["Body"].read())
    assert pointer["job_id"] == job_id
    assert job_id.startswith("dupA-")
    status = aws.s3.get_object(Bucket=aws.bucket, Key=pointer["status_key"])["Body"].read()
    assert json.loads(status)["job_id"] == job_id
