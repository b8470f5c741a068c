"""Moto-backed AWS for the Lambda use cases, with the same resources the local stack makes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.moto_api import state_manager

from chalicelib import clients, service
from chalicelib.contracts import SceneResult, result_key
from chalicelib.events import ObjectCreatedEvent
from chalicelib.settings import get_settings
from cloudburst.local.bootstrap import bootstrap
from cloudburst.local.receiver import WebhookReceiver, generate_secret

BUCKET = "cloudburst-local"
TABLE = "cloudburst"
CLUSTER = "cloudburst"
REGION = "us-east-1"


@dataclass
class Aws:
    s3: Any
    ecs: Any
    cluster_arn: str
    receiver: WebhookReceiver

    def svc(self) -> service.Services:
        return service.services()

    def put_assets(self, names: list[str], folder: str = "inputs/ep1") -> None:
        for name in names:
            self.s3.put_object(Bucket=BUCKET, Key=f"{folder}/{name}.png", Body=b"png")
            self.s3.put_object(Bucket=BUCKET, Key=f"{folder}/{name}.mp3", Body=b"mp3")

    def upload_manifest(
        self, names: list[str], key: str = "manifests/ep1.json", **options: Any
    ) -> dict:
        """Put a manifest and return the EventBridge event S3 would send for it."""
        document = {
            "version": 1,
            "scenes": [
                {
                    "scene_name": name,
                    "image_path": f"inputs/ep1/{name}.png",
                    "audio_path": f"inputs/ep1/{name}.mp3",
                }
                for name in names
            ],
            "webhook_url": self.receiver.url,
            **options,
        }
        body = json.dumps(document).encode()
        return self.upload_raw(body, key)

    def upload_raw(self, body: bytes, key: str = "manifests/ep1.json") -> dict:
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        return object_created_event(key, len(body), sequencer=uuid.uuid4().hex[:18].upper())

    def tasks(self) -> list[dict]:
        arns = [
            arn
            for page in self.ecs.get_paginator("list_tasks").paginate(cluster=CLUSTER)
            for arn in page["taskArns"]
        ]
        if not arns:
            return []
        return self.ecs.describe_tasks(cluster=CLUSTER, tasks=arns, include=["TAGS"])["tasks"]

    def write_results(self, job_id: str, outcomes: dict[str, str | None]) -> None:
        """Result records as the worker writes them: status per scene, None = no record."""
        for name, status in outcomes.items():
            if status is None:
                continue
            record = SceneResult(
                job_id=job_id,
                batch_number=1,
                attempt=1,
                scene_name=name,
                status=status,  # type: ignore[arg-type]
                output_key=f"outputs/{job_id}/{name}.mp4" if status == "succeeded" else None,
                bytes=1000 if status == "succeeded" else 0,
                duration_seconds=3.0 if status == "succeeded" else 0.0,
                render_seconds=2.0,
                error=None
                if status == "succeeded"
                else f"audio for scene {name!r} could not be decoded",
            )
            self.s3.put_object(
                Bucket=BUCKET, Key=result_key(job_id, name), Body=record.model_dump_json()
            )


def object_created_event(key: str, size: int, sequencer: str, bucket: str = BUCKET) -> dict:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": datetime.now(UTC).isoformat(),
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {
                "key": key,
                "size": size,
                "etag": "e",
                "version-id": "null",
                "sequencer": sequencer,
            },
            "request-id": "R",
            "requester": "123456789012",
            "reason": "PutObject",
        },
    }


def task_stopped_event(
    task: dict,
    *,
    version: int = 3,
    exit_code: int | None = 0,
    seconds: float = 95.5,
    stop_code: str = "EssentialContainerExited",
    last_status: str = "STOPPED",
    cpu: str = "1024",
    memory: str = "2048",
) -> dict:
    """An "ECS Task State Change" event in the documented shape for a task moto started."""
    pulled = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
    stopped = pulled + timedelta(seconds=seconds)
    container: dict[str, Any] = {
        "name": "worker",
        "lastStatus": last_status,
        "taskArn": task["taskArn"],
    }
    if exit_code is not None:
        container["exitCode"] = exit_code
    detail = {
        "clusterArn": task["clusterArn"],
        "taskArn": task["taskArn"],
        "taskDefinitionArn": task["taskDefinitionArn"],
        "lastStatus": last_status,
        "desiredStatus": "STOPPED",
        "version": version,
        "cpu": cpu,
        "memory": memory,
        "startedBy": task["startedBy"],
        "group": task["group"],
        "launchType": "FARGATE",
        "containers": [container],
        "createdAt": (pulled - timedelta(seconds=3)).isoformat(),
        "pullStartedAt": pulled.isoformat(),
        "startedAt": (pulled + timedelta(seconds=10)).isoformat(),
        "stoppingAt": stopped.isoformat(),
        "stoppedAt": stopped.isoformat(),
        "stopCode": stop_code,
        "stoppedReason": "Essential container in task exited",
        "attributes": [{"name": "ecs.cpu-architecture", "value": "x86_64"}],
    }
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": "123456789012",
        "time": stopped.isoformat(),
        "region": REGION,
        "resources": [task["taskArn"]],
        "detail": detail,
    }


def submit_while_fargate_has_no_capacity(aws: Aws) -> str:
    """A one-batch job whose RunTask was told "no capacity": the batch waits, PENDING."""
    from botocore.stub import ANY, Stubber

    aws.put_assets(["one"])
    svc = aws.svc()
    with Stubber(svc.ecs) as ecs:
        ecs.add_response(
            "run_task",
            {"tasks": [], "failures": [{"reason": "RESOURCE:FARGATE", "detail": "no capacity"}]},
            dict.fromkeys(_RUN_TASK_KEYS, ANY),
        )
        event = ObjectCreatedEvent.model_validate(aws.upload_manifest(["one"]))
        job_id = service.submit_manifest(event, svc)
    assert [b.status for b in svc.store.list_batches(job_id)] == ["PENDING"]
    return job_id


_RUN_TASK_KEYS = [
    "cluster", "taskDefinition", "count", "networkConfiguration", "overrides", "startedBy",
    "group", "enableECSManagedTags", "tags", "clientToken", "launchType",
]  # fmt: skip


def _reset_caches() -> None:
    get_settings.cache_clear()
    service.services.cache_clear()
    clients.reset_clients()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Aws]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    secret = generate_secret()
    with mock_aws(), WebhookReceiver(secret, tmp_path / "webhooks") as receiver:
        state_manager.set_transition(
            model_name="ecs::task", transition={"progression": "manual", "times": 1_000_000_000}
        )
        resources = bootstrap(
            lambda name: boto3.client(name, region_name=REGION),
            region=REGION,
            bucket=BUCKET,
            table=TABLE,
            cluster=CLUSTER,
        )
        for name, value in {
            "CLOUDBURST_BUCKET": BUCKET,
            "CLOUDBURST_TABLE": TABLE,
            "CLOUDBURST_CLUSTER": CLUSTER,
            "CLOUDBURST_TASK_DEFINITION": resources.task_definition_arn,
            "CLOUDBURST_SUBNETS": resources.subnet_id,
            "CLOUDBURST_SECURITY_GROUPS": resources.security_group_id,
            "CLOUDBURST_WEBHOOK_SECRET": secret,
            "CLOUDBURST_ALLOW_LOOPBACK_WEBHOOKS": "true",
            "CLOUDBURST_MAX_RUNNING_TASKS": "10",
        }.items():
            monkeypatch.setenv(name, value)
        _reset_caches()
        yield Aws(
            s3=boto3.client("s3", region_name=REGION),
            ecs=boto3.client("ecs", region_name=REGION),
            cluster_arn=resources.cluster_arn,
            receiver=receiver,
        )
    _reset_caches()
