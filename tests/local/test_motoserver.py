"""moto's own process: its speed patches change no answer; it never outlives the stack."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from botocore.utils import parse_to_aware_datetime
from moto import mock_aws

from chalicelib.clients import session_with_text_timestamps
from cloudburst.local.fargate import MotoControl
from cloudburst.local.moto_patches import aware_datetime
from cloudburst.local.motoserver import CONTROL_PATH

fast = aware_datetime(parse_to_aware_datetime)
WORKER_SLEEPS = (sys.executable, "-c", "import time; time.sleep(60)")


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


def _serve() -> tuple[subprocess.Popen[bytes], int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "cloudburst.local.motoserver", "--port", "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    word, port = process.stdout.readline().decode().split()
    assert word == "port"
    return process, int(port)


def test_the_moto_process_exits_when_its_stack_is_gone() -> None:
    process, _ = _serve()
    assert process.stdin is not None
    process.stdin.close()  # what the kernel does when the stack's process dies, even killed
    assert process.wait(timeout=10) == 0


def test_the_control_endpoint_lists_and_updates_tasks_and_refuses_nonsense() -> None:
    process, port = _serve()
    try:
        control = MotoControl(port, account_id="123456789012", region="us-east-1")
        assert control.tasks("cloudburst") == {}
        control.update("cloudburst", [])  # nothing to write: no error
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("POST", CONTROL_PATH, json.dumps({"op": "tasks"}))
        response = connection.getresponse()
        assert response.status == 400
        assert "account_id" in json.loads(response.read())["error"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_every_s3_event_on_the_bus_has_an_id_of_its_own() -> None:
    from cloudburst.local.motoserver import unique_event_ids

    unique_event_ids()
    with mock_aws():
        clients = {n: boto3.client(n, region_name="us-east-1") for n in ("s3", "events", "sqs")}
        clients["s3"].create_bucket(Bucket="ids-bucket")
        clients["s3"].put_bucket_notification_configuration(
            Bucket="ids-bucket", NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
        queue = clients["sqs"].create_queue(QueueName="q")["QueueUrl"]
        arn = clients["sqs"].get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        clients["events"].put_rule(
            Name="r", EventPattern=json.dumps({"detail-type": ["Object Created"]})
        )
        clients["events"].put_targets(
            Rule="r", Targets=[{"Id": "q", "Arn": arn["Attributes"]["QueueArn"]}]
        )

        for _ in range(3):
            clients["s3"].put_object(Bucket="ids-bucket", Key="manifests/same.json", Body=b"{}")

        messages = clients["sqs"].receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
        ids = {json.loads(m["Body"])["id"] for m in messages["Messages"]}
        assert len(ids) == 3


def test_run_task_with_one_client_token_starts_one_task(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from cloudburst.local import LocalStack

    with LocalStack(port=0, state_dir=tmp_path / "stack", worker_command=WORKER_SLEEPS) as stack:
        assert stack.resources is not None
        ecs = stack.client("ecs")
        request = {
            "cluster": stack.resources.cluster,
            "taskDefinition": stack.resources.task_definition_arn,
            "launchType": "FARGATE",
            "networkConfiguration": {
                "awsvpcConfiguration": {
                    "subnets": [stack.resources.subnet_id],
                    "securityGroups": [stack.resources.security_group_id],
                }
            },
            "clientToken": "job-1/batch-1/attempt-1",
        }

        with ThreadPoolExecutor(8) as pool:  # racing launchers of one batch
            answers = list(pool.map(lambda _: ecs.run_task(**request), range(8)))
        other = ecs.run_task(**{**request, "clientToken": "job-1/batch-1/attempt-2"})
        with pytest.raises(ecs.exceptions.ClientError, match="ConflictException"):
            ecs.run_task(**{**request, "startedBy": "someone-else"})

        arns = {a["tasks"][0]["taskArn"] for a in answers}
        assert len(arns) == 1
        listed = ecs.list_tasks(cluster=stack.resources.cluster)["taskArns"]
        assert sorted(listed) == sorted([*arns, other["tasks"][0]["taskArn"]])


@pytest.mark.parametrize(
    ("sent", "delayed", "received"), [(0, 0, 0), (7, 2, 3), (12, 12, 0), (9, 0, 9)]
)
def test_queue_counts_read_the_clock_once_and_answer_as_moto_did(
    monkeypatch: pytest.MonkeyPatch, sent: int, delayed: int, received: int
) -> None:
    from moto.sqs.models import sqs_backends

    from cloudburst.local.moto_patches import count_queues_with_one_clock_read

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    count_queues_with_one_clock_read()
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        for n in range(sent):
            sqs.send_message(QueueUrl=url, MessageBody=str(n), DelaySeconds=0)
        for n in range(delayed):
            sqs.send_message(QueueUrl=url, MessageBody=f"d{n}", DelaySeconds=900)
        if received:
            sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=received, VisibilityTimeout=600)

        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                 "ApproximateNumberOfMessagesDelayed"]  # fmt: skip
        answered = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        messages = sqs_backends["123456789012"]["us-east-1"].queues["q"]._messages
        # moto's own definitions, one clock read per message
        expected = [
            sum(1 for m in messages if m.visible and not m.delayed),
            sum(1 for m in messages if not m.visible),
            sum(1 for m in messages if m.delayed),
        ]

    assert [int(answered[name]) for name in names] == expected
    assert expected == [sent - received, received, delayed]  # in flight; delayed apart


def test_backend_lookups_skip_the_global_lock_once_the_account_exists() -> None:
    from moto.core import base_backend
    from moto.sqs.models import sqs_backends

    from cloudburst.local.moto_patches import backends_without_the_global_lock_once_made

    backends_without_the_global_lock_once_made()
    made = sqs_backends["210987654321"]  # first lookup: moto's own code creates it
    assert sqs_backends in base_backend.BackendDict._instances

    # another thread holds moto's lock: a lookup of the existing account does not wait for it
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with base_backend.backend_lock:
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    found: list[object] = []
    reader = threading.Thread(target=lambda: found.append(sqs_backends["210987654321"]))
    reader.start()
    reader.join(2)
    release.set()
    holder.join()
    assert found == [made]
