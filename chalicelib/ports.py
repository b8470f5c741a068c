"""The outside services the use cases talk to, as protocols, and ``Services`` that carries them.

Storage (jobs, task slots, the webhook outbox) is in :mod:`chalicelib.storage`; everything else
the use cases touch is here: documents in S3, tasks in ECS, dead letters in SQS, webhook
delivery, the webhook secret and the clock. Each has one adapter in ``chalicelib/adapters``
holding its client and one in-memory twin (:mod:`chalicelib.adapters.memory`), so a use case
runs the same on AWS, on the local stack and in a test. ``chalicelib.bootstrap`` builds them;
nothing here or in the use cases imports it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.contracts import SceneResult
from chalicelib.events import TaskStateChangeEvent
from chalicelib.pricing import ComputeProfile
from chalicelib.settings import Settings
from chalicelib.storage import JobStore, TaskSlots, WebhookOutbox
from chalicelib.webhooks import Delivery

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.base import (
        BasePersistenceLayer,
    )


class UnreadableManifest(Exception):
    """The manifest object cannot be read by us; the message is for the user."""


@dataclass(frozen=True)
class AssetCheck:
    """What intake found of a manifest's assets: an error for each absent or empty one, and
    the version id each present one has now (s3:// URI → id; none where the bucket is not
    versioned), which the job's tasks read, so a file uploaded again under the same key while
    the job runs does not change what it renders."""

    errors: list[str]
    versions: dict[str, str]


class Documents(Protocol):
    """JSON documents in the deployment's bucket, and the user's manifest and assets."""

    def read_manifest(self, bucket: str, key: str, limit: int, version_id: str | None) -> bytes:
        """At most ``limit`` bytes of that version; raises :class:`UnreadableManifest`."""

    def locate_assets(self, assets: Sequence[tuple[str, str, str]]) -> AssetCheck:
        """Each (where, bucket, key): its current version, or an error if absent or empty."""

    def read_head(self, key: str, size: int) -> bytes | None:
        """The first ``size`` bytes of an object; None when it cannot be read."""

    def get_json(self, key: str) -> Any: ...

    def put_json(self, key: str, document: Any, *, indent: int | None = 2) -> None: ...

    def put_all_json(self, documents: Sequence[tuple[str, Any]]) -> None:
        """Many (key, document) pairs, in parallel where the adapter can."""

    def link(self, key: str, seconds: int) -> str:
        """A URL that reads ``key`` for ``seconds`` without credentials."""

    def read_results(
        self, job_id: str, scene_names: Iterable[str]
    ) -> dict[str, SceneResult | None]:
        """Each scene's result record, None where the worker wrote none (or an unreadable one)."""


@dataclass(frozen=True)
class TaskRequest:
    """One batch's task, in the product's words; the adapter turns it into RunTask."""

    job_id: str
    batch_number: int
    attempt: int
    spec_uri: str
    profile: ComputeProfile
    spot: bool
    language: str


@dataclass(frozen=True)
class Launch:
    task_arn: str | None
    retryable: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class TaskState:
    """A task as ECS describes it; ``stopped`` carries its STOPPED event, rebuilt."""

    task_arn: str
    stopped: TaskStateChangeEvent | None = None


class Tasks(Protocol):
    """Fargate tasks of this deployment's cluster."""

    def launch(self, request: TaskRequest) -> Launch:
        """Run one task; a failure says whether it is worth retrying later."""

    def stop(self, task_arn: str, reason: str) -> None: ...

    def describe(self, task_arns: Sequence[str], at: datetime) -> dict[str, TaskState]:
        """The tasks ECS still knows (it forgets stopped ones in about an hour)."""

    def ours_running(self) -> dict[str, str]:
        """{task arn: startedBy} of the tasks CloudBurst started that are meant to run."""


@dataclass(frozen=True)
class Message:
    """One message of a dead-letter queue: its body is the event EventBridge gave up on."""

    queue_url: str
    receipt: str
    body: str


class DeadLetters(Protocol):
    def receive(self, queue_url: str, limit: int) -> list[Message]:
        """Up to ``limit`` messages, hidden from other readers for a while."""

    def delete(self, message: Message) -> None: ...


class WebhookSender(Protocol):
    def send(
        self, url: str, secret: str, *, job_id: str, event_type: str, data: dict[str, Any]
    ) -> Delivery:
        """POST one signed event; failures are reported in the Delivery, never raised."""


class Secrets(Protocol):
    def webhook_secret(self) -> str | None:
        """The ``whsec_…`` signing secret, or None when this stage has none."""


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""


@dataclass(frozen=True)
class Services:
    """Everything a use case may call, built by :mod:`chalicelib.bootstrap` or a test."""

    settings: Settings
    jobs: JobStore
    slots: TaskSlots
    outbox: WebhookOutbox
    idempotency: BasePersistenceLayer
    documents: Documents
    tasks: Tasks
    dead_letters: DeadLetters
    webhooks: WebhookSender
    secrets: Secrets
    clock: Clock
