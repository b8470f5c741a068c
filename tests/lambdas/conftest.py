"""The Lambda use cases on the in-memory twins of every port: no moto, no HTTP, no waiting.

``aws`` is the test's view of the world around the use cases: the bucket (users put assets,
manifests and cancel requests; the worker puts result records), the cluster (tasks RunTask
started), the webhook receiver and the dead-letter queues — each the twin the use cases talk
to. The real adapters are held to the same behaviour in tests/adapters.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters.ecs import run_task_request
from chalicelib.adapters.memory import (
    MemoryDeadLetters,
    MemoryDocuments,
    MemoryTasks,
    MemoryWebhooks,
    SentWebhook,
)
from chalicelib.bootstrap import in_memory_services
from chalicelib.contracts import (
    SceneResult,
    SceneStatus,
    output_key,
    report_key,
    result_key,
    status_key,
)
from chalicelib.events import ObjectCreatedEvent, TaskStateChangeEvent
from chalicelib.model import Batch, Job
from chalicelib.ports import Launch, Services
from chalicelib.settings import ENV, settings_from_env
from chalicelib.usecases import reactions
from chalicelib.webhooks import Delivery

BUCKET = "cloudburst-local"
REGION = "us-east-1"
SECRET = "whsec_" + "dGVzdHNlY3JldHRlc3RzZWNyZXQ="
TASK_DEFINITION = f"arn:aws:ecs:{REGION}:123456789012:task-definition/cloudburst-worker:1"


class Receiver:
    """The webhook receiver as a test sees it: what was delivered, and whether it is up."""

    url = "http://127.0.0.1:9/hooks/cloudburst"  # never contacted: the sender is a twin

    def __init__(self, webhooks: MemoryWebhooks) -> None:
        self._webhooks = webhooks
        self.secret = SECRET

    @property
    def deliveries(self) -> list[SentWebhook]:
        return list(self._webhooks.delivered)

    def wait_for(self, count: int, timeout: float = 0) -> list[SentWebhook]:
        """The deliveries so far, which must number ``count`` (delivery is synchronous)."""
        assert len(self._webhooks.delivered) == count, self._webhooks.delivered
        return self.deliveries

    def stop(self) -> None:
        self._webhooks.answer = Delivery(False, error="could not reach 127.0.0.1:9: refused")

    def start(self) -> None:
        self._webhooks.answer = Delivery(True, status=204)


@dataclass
class Aws:
    """The twins around the use cases, with the steps users, ECS and the worker take."""

    svc: Services
    load_event: Callable[..., dict[str, Any]]
    bucket: str = BUCKET

    @property
    def documents(self) -> MemoryDocuments:
        assert isinstance(self.svc.documents, MemoryDocuments)
        return self.svc.documents

    @property
    def cluster(self) -> MemoryTasks:
        assert isinstance(self.svc.tasks, MemoryTasks)
        return self.svc.tasks

    @property
    def dead_letters(self) -> MemoryDeadLetters:
        assert isinstance(self.svc.dead_letters, MemoryDeadLetters)
        return self.svc.dead_letters

    @property
    def receiver(self) -> Receiver:
        assert isinstance(self.svc.webhooks, MemoryWebhooks)
        return Receiver(self.svc.webhooks)

    # -- users' side ------------------------------------------------------------------

    def put_assets(self, names: list[str], folder: str = "inputs/ep1") -> None:
        for name in names:
            self.documents.put(f"{folder}/{name}.png", b"png")
            self.documents.put(f"{folder}/{name}.mp3", b"mp3")

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
            "webhook_url": Receiver.url,
            **options,
        }
        return self.upload_raw(json.dumps(document).encode(), key)

    def upload_raw(self, body: bytes, key: str = "manifests/ep1.json") -> dict[str, Any]:
        version = self.documents.put(key, body)
        return self.created_event(key, body, version)

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
        """The documented STOPPED Fargate event, for a task the cluster twin started."""
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
        self.cluster.exit(task["taskArn"])
        reactions.task_stopped(self.stopped_event(task, **kwargs), self.svc)

    def sweep(self, now: datetime | None = None) -> dict[str, int]:
        return reactions.sweep(self.svc, now)

    def tasks(self) -> list[dict[str, Any]]:
        """Every task the cluster started, shaped as DescribeTasks reports it (RunTask's
        request included, as the adapter would send it)."""
        described = []
        for task in self.cluster.tasks.values():
            shape: dict[str, Any] = {"taskDefinitionArn": TASK_DEFINITION}
            if task.request is not None:
                request = task.request
                shape = run_task_request(self.svc.settings, request)
                shape["taskDefinitionArn"] = shape.pop("taskDefinition")
            shape.update(task.described(self.cluster.cluster_arn))
            shape.setdefault("group", "")
            described.append(shape)
        return described

    def tasks_by_batch(self) -> dict[int, dict[str, Any]]:
        return {int(t["startedBy"].rsplit("/", 1)[1]): t for t in self.tasks()}

    def write_results(
        self, job_id: str, outcomes: dict[str, str | None], batch_number: int = 1
    ) -> None:
        """Result records as the worker writes them: status per scene, None = no record."""
        for name, status in outcomes.items():
            if status is None:
                continue
            ok = status == SceneStatus.SUCCEEDED
            record = SceneResult(
                job_id=job_id,
                batch_number=batch_number,
                attempt=1,
                scene_name=name,
                status=SceneStatus(status),
                output_key=output_key(job_id, name) if ok else None,
                bytes=1000 if ok else 0,
                duration_seconds=3.0 if ok else 0.0,
                render_seconds=2.0,
                error=None if ok else f"audio for scene {name!r} could not be decoded",
            )
            self.documents.put(result_key(job_id, name), record.model_dump_json())

    def report_scenes(
        self, job_id: str, outcomes: dict[str, str | None], batch_number: int = 1
    ) -> list[dict[str, Any]]:
        """The worker writes result records as scenes end; S3 announces each one (the events
        are returned, already handled, so a test can deliver one again)."""
        self.write_results(job_id, outcomes, batch_number)
        events = []
        for name in outcomes:
            key = result_key(job_id, name)
            event = self.created_event(key, self.documents.read(key) or b"")
            reactions.scene_reported(ObjectCreatedEvent.model_validate(event), self.svc)
            events.append(event)
        return events

    def created_event(self, key: str, body: bytes, version: str = "null") -> dict[str, Any]:
        """S3's "Object Created" event through EventBridge for ``key``."""
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
                    "version-id": version,
                    "sequencer": uuid.uuid4().hex[:18].upper(),
                },
            },
        )

    def refuse_every_launch(self) -> None:
        """From now on RunTask refuses every task, as ECS does a missing task definition."""
        reason = "RunTask failed: ClientException: TaskDefinition not found."
        self.cluster.refusal = Launch(None, retryable=False, reason=reason)

    def submit_while_fargate_has_no_capacity(self) -> str:
        """A one-batch job whose RunTask was told "no capacity": the batch waits, PENDING."""
        self.put_assets(["one"])
        reason = "RunTask started no task: RESOURCE:FARGATE no capacity"
        self.cluster.refusals.append(Launch(None, retryable=True, reason=reason))
        job_id = self.submit(["one"])
        assert [b.status for b in self.batches(job_id)] == ["PENDING"]
        return job_id

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
        document: dict[str, Any] = self.documents.get_json(key)
        return document


def _environment() -> dict[str, str]:
    return {
        ENV["stage"]: "local",
        ENV["bucket"]: BUCKET,
        ENV["table_name"]: "cloudburst",
        ENV["cluster"]: "cloudburst",
        ENV["task_definition"]: TASK_DEFINITION,
        ENV["subnets"]: "subnet-0123456789abcdef0",
        ENV["security_groups"]: "sg-0123456789abcdef0",
        ENV["webhook_secret"]: SECRET,
        ENV["allow_loopback_webhooks"]: "true",
        ENV["max_running_tasks"]: "10",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, load_event: Any) -> Aws:
    """The use cases on the in-memory twins of every port."""
    for name, value in _environment().items():
        monkeypatch.setenv(name, value)
    return Aws(svc=in_memory_services(settings_from_env()), load_event=load_event)


@pytest.fixture
def with_settings() -> Callable[..., Services]:
    def change(aws: Aws, **settings: Any) -> Services:
        """The services with some settings changed (e.g. a lower task cap)."""
        aws.svc = replace(aws.svc, settings=aws.svc.settings.model_copy(update=settings))
        return aws.svc

    return change
