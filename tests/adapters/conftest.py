"""The adapters against moto in-process: S3, ECS, SQS, DynamoDB, and a real webhook receiver.

``aws_dynamo`` runs the use cases on every real adapter (what a Lambda container builds);
``either`` runs a contract test on the DynamoDB storage and on its in-memory twin. The use-case
tests themselves (tests/lambdas) run on the in-memory twins alone, with none of this.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.moto_api import state_manager

from chalicelib.bootstrap import in_memory_services, services_from_env
from chalicelib.contracts import SceneResult, report_key, result_key, status_key
from chalicelib.events import ObjectCreatedEvent, TaskStateChangeEvent
from chalicelib.model import Batch, Job
from chalicelib.ports import Services
from chalicelib.usecases import reactions
from cloudburst.local.bootstrap import bootstrap
from cloudburst.local.receiver import WebhookReceiver, generate_secret

BUCKET = "cloudburst-local"
REGION = "us-east-1"


@dataclass
class Aws:
    """moto's S3 and ECS, the webhook receiver, and the services the use cases run on."""

    s3: Any
    ecs: Any
    sqs: Any
    cluster_arn: str
    receiver: WebhookReceiver
    svc: Services
    load_event: Callable[..., dict[str, Any]]
    bucket: str = BUCKET

    # -- users' side ------------------------------------------------------------------

    def put_assets(self, names: list[str], folder: str = "inputs/ep1") -> None:
        for name in names:
            self.s3.put_object(Bucket=BUCKET, Key=f"{folder}/{name}.png", Body=b"png")
            self.s3.put_object(Bucket=BUCKET, Key=f"{folder}/{name}.mp3", Body=b"mp3")

    def upload_manifest(
        self, names: list[str], key: str = "manifests/ep1.json", **options: Any
    ) -> dict[str, Any]:
        """Put a manifest and return the EventBridge event S3 sends for it."""
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
        return self.upload_raw(json.dumps(document).encode(), key)

    def upload_raw(self, body: bytes, key: str = "manifests/ep1.json") -> dict[str, Any]:
        response = self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        return self.load_event(
            "s3_object_created",
            id=str(uuid.uuid4()),
            time=datetime.now(UTC).isoformat(),
            resources=[f"arn:aws:s3:::{BUCKET}"],
            detail={
                "bucket": {"name": BUCKET},
                "object": {
                    "key": key,
                    "size": len(body),
                    "version-id": response.get("VersionId") or "null",
                    "sequencer": uuid.uuid4().hex[:18].upper(),
                },
            },
        )

    def request_cancel(self, job_id: str, reason: str | None = None) -> None:
        body = json.dumps({"reason": reason} if reason else {}).encode()
        event = self.upload_raw(body, key=f"cancel/{job_id}.json")
        reactions.cancel_requested(ObjectCreatedEvent.model_validate(event), self.svc)

    # -- the pipeline's side ----------------------------------------------------------

    def submit(self, names: list[str], **options: Any) -> str:
        return self.deliver(self.upload_manifest(names, **options))

    def deliver(self, event: dict[str, Any]) -> str:
        return reactions.manifest_uploaded(ObjectCreatedEvent.model_validate(event), self.svc)

    def stopped_event(
        self,
        task: dict[str, Any],
        *,
        version: int = 3,
        exit_code: int | None = 0,
        seconds: float = 95.5,
        stop_code: str = "EssentialContainerExited",
        cpu: str | None = "1024",
        memory: str | None = "2048",
        spot: bool = False,
        reason: str = "Essential container in task exited",
    ) -> TaskStateChangeEvent:
        """The documented STOPPED Fargate event, for a task moto started."""
        pulled = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
        stopped = pulled + timedelta(seconds=seconds)
        container: dict[str, Any] = {"name": "worker", "taskArn": task["taskArn"]}
        container["exitCode"] = exit_code
        event = self.load_event(
            "ecs_task_stopped_fargate",
            time=stopped.isoformat(),
            resources=[task["taskArn"]],
            detail={
                "clusterArn": task["clusterArn"],
                "taskArn": task["taskArn"],
                "taskDefinitionArn": task["taskDefinitionArn"],
                "startedBy": task["startedBy"],
                "group": task["group"],
                "version": version,
                "cpu": cpu,
                "memory": memory,
                "capacityProviderName": "FARGATE_SPOT" if spot else "FARGATE",
                "pullStartedAt": pulled.isoformat(),
                "stoppedAt": stopped.isoformat(),
                "stopCode": stop_code,
                "stoppedReason": reason,
            },
        )
        [described] = event["detail"]["containers"]
        event["detail"]["containers"] = [{**described, **container}]
        if exit_code is None:
            event["detail"]["containers"][0].pop("exitCode")
        return TaskStateChangeEvent.model_validate(event)

    def stop(self, task: dict[str, Any], **kwargs: Any) -> None:
        reactions.task_stopped(self.stopped_event(task, **kwargs), self.svc)

    def sweep(self, now: datetime | None = None) -> dict[str, int]:
        return reactions.sweep(self.svc, now)

    def tasks(self) -> list[dict[str, Any]]:
        arns = [
            arn
            for page in self.ecs.get_paginator("list_tasks").paginate(cluster="cloudburst")
            for arn in page["taskArns"]
        ]
        if not arns:
            return []
        return self.ecs.describe_tasks(cluster="cloudburst", tasks=arns, include=["TAGS"])["tasks"]

    def tasks_by_batch(self) -> dict[int, dict[str, Any]]:
        return {int(t["startedBy"].rsplit("/", 1)[1]): t for t in self.tasks()}

    def write_results(
        self, job_id: str, outcomes: dict[str, str | None], batch_number: int = 1
    ) -> None:
        """Result records as the worker writes them: status per scene, None = no record."""
        for name, status in outcomes.items():
            if status is None:
                continue
            ok = status == "succeeded"
            record = SceneResult(
                job_id=job_id,
                batch_number=batch_number,
                attempt=1,
                scene_name=name,
                status=status,  # type: ignore[arg-type]
                output_key=f"outputs/{job_id}/{name}.mp4" if ok else None,
                bytes=1000 if ok else 0,
                duration_seconds=3.0 if ok else 0.0,
                render_seconds=2.0,
                error=None if ok else f"audio for scene {name!r} could not be decoded",
            )
            self.s3.put_object(
                Bucket=BUCKET, Key=result_key(job_id, name), Body=record.model_dump_json()
            )

    # -- reading what happened --------------------------------------------------------

    def job(self, job_id: str) -> Job:
        job = self.svc.jobs.get_job(job_id)
        assert job is not None
        return job

    def batches(self, job_id: str) -> list[Batch]:
        return self.svc.jobs.list_batches(job_id)

    def report(self, job_id: str) -> dict[str, Any]:
        return self._json(report_key(job_id))

    def status(self, job_id: str) -> dict[str, Any]:
        return self._json(status_key(job_id))

    def _json(self, key: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(
            self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        )
        return document


def _environment(resources: Any, secret: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "CLOUDBURST_STAGE": "local",
        "CLOUDBURST_BUCKET": BUCKET,
        "CLOUDBURST_TABLE": "cloudburst",
        "CLOUDBURST_CLUSTER": "cloudburst",
        "CLOUDBURST_TASK_DEFINITION": resources.task_definition_arn,
        "CLOUDBURST_SUBNETS": resources.subnet_id,
        "CLOUDBURST_SECURITY_GROUPS": resources.security_group_id,
        "CLOUDBURST_WEBHOOK_SECRET": secret,
        "CLOUDBURST_ALLOW_LOOPBACK_WEBHOOKS": "true",
        "CLOUDBURST_MAX_RUNNING_TASKS": "10",
    }


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    """moto in-process with the local stack's resources, and a webhook receiver."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    secret = generate_secret()
    with mock_aws(), WebhookReceiver(secret, tmp_path / "webhooks") as receiver:
        state_manager.set_transition(
            model_name="ecs::task", transition={"progression": "manual", "times": 1_000_000_000}
        )
        resources = bootstrap(
            lambda name: boto3.client(name, region_name=REGION),
            region=REGION,
            bucket=BUCKET,
            table="cloudburst",
            cluster="cloudburst",
        )
        # Versioned as every stage's bucket is: an upload's version id names its job.
        boto3.client("s3", region_name=REGION).put_bucket_versioning(
            Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"}
        )
        for name, value in _environment(resources, secret).items():
            monkeypatch.setenv(name, value)
        yield resources, receiver


def _aws(resources: Any, receiver: WebhookReceiver, svc: Services, load_event: Any) -> Aws:
    return Aws(
        s3=boto3.client("s3", region_name=REGION),
        ecs=boto3.client("ecs", region_name=REGION),
        sqs=boto3.client("sqs", region_name=REGION),
        cluster_arn=resources.cluster_arn,
        receiver=receiver,
        svc=svc,
        load_event=load_event,
    )


@pytest.fixture
def aws_memory_storage(moto_aws: tuple[Any, WebhookReceiver], load_event: Any) -> Aws:
    """Storage on its in-memory twins; S3, ECS, SQS and webhooks on their real adapters."""
    resources, receiver = moto_aws
    real = services_from_env()
    twin = in_memory_services(real.settings)
    svc = replace(
        real, jobs=twin.jobs, slots=twin.slots, outbox=twin.outbox, idempotency=twin.idempotency
    )
    return _aws(resources, receiver, svc, load_event)


@pytest.fixture
def aws_dynamo(moto_aws: tuple[Any, WebhookReceiver], load_event: Any) -> Aws:
    """Use cases on the DynamoDB adapters: what a Lambda container builds."""
    resources, receiver = moto_aws
    return _aws(resources, receiver, services_from_env(), load_event)


@pytest.fixture(params=["memory", "dynamodb"])
def either(request: pytest.FixtureRequest) -> Aws:
    """The same test on both storages: the store's contract."""
    fixture = "aws_memory_storage" if request.param == "memory" else "aws_dynamo"
    return request.getfixturevalue(fixture)  # type: ignore[no-any-return]


@pytest.fixture
def with_settings() -> Callable[..., Services]:
    def change(aws: Aws, **settings: Any) -> Services:
        """The services with some settings changed (e.g. a lower task cap)."""
        aws.svc = replace(aws.svc, settings=aws.svc.settings.model_copy(update=settings))
        return aws.svc

    return change
