"""The Lambda use cases on the in-memory twins of every port: no moto, no HTTP, no waiting.

``aws`` is the test's view of the world around the use cases: the bucket (users put assets,
manifests and cancel requests; the worker puts result records), the cluster (tasks RunTask
started), the webhook receiver and the dead-letter queues — each the twin the use cases talk
to. The real adapters are held to the same behaviour in tests/adapters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
    result_key,
)
from chalicelib.events import ObjectCreatedEvent
from chalicelib.ports import Launch, Services
from chalicelib.settings import ENV, settings_from_env
from chalicelib.usecases import reactions
from chalicelib.webhooks import Delivery
from tests.pipeline_driver import BUCKET, REGION, PipelineDriver

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
class Aws(PipelineDriver):
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

    @property
    def webhook_url(self) -> str:
        return Receiver.url

    def put(self, key: str, body: bytes | str) -> str:
        return self.documents.put(key, body)

    def stop(self, task: dict[str, Any], **kwargs: Any) -> None:
        self.cluster.exit(task["taskArn"])
        super().stop(task, **kwargs)

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
        return aws.with_settings(**settings)

    return change
