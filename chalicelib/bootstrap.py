"""The one place the adapters are built and wired: the use cases receive them as ``Services``.

``services_from_env`` builds what a Lambda container uses (DynamoDB, S3, ECS against the
endpoints the environment names); ``in_memory_services`` swaps storage for memory, so use-case
tests run fast on the same code paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.table import IDEMPOTENCY_PK, TTL_ATTRIBUTE
from chalicelib.settings import Settings, settings_from_env
from chalicelib.storage import JobStore, TaskSlots, WebhookOutbox

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.base import (
        BasePersistenceLayer,
    )


@dataclass(frozen=True)
class Services:
    settings: Settings
    jobs: JobStore
    slots: TaskSlots
    outbox: WebhookOutbox
    idempotency: BasePersistenceLayer
    s3: Any
    ecs: Any
    sqs: Any = None  # the sweeper's dead-letter queues


def services_from_env(environ: Mapping[str, str] | None = None) -> Services:
    """The Lambda container's adapters; boto3 and powertools are imported here, on first use,
    so a cold start pays only for what the first event needs."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from chalicelib.adapters.dynamodb import Table
    from chalicelib.adapters.jobs_dynamodb import DynamoJobStore
    from chalicelib.adapters.task_slots import DynamoTaskSlots
    from chalicelib.adapters.webhook_outbox import DynamoWebhookOutbox
    from chalicelib.clients import make_client, session_with_text_timestamps

    settings = settings_from_env(environ)
    session = session_with_text_timestamps()
    table = Table(settings.table_name, session.resource("dynamodb"))
    return Services(
        settings=settings,
        jobs=DynamoJobStore(table, ttl_days=settings.job_ttl_days),
        slots=DynamoTaskSlots(table),
        outbox=DynamoWebhookOutbox(table),
        idempotency=DynamoDBPersistenceLayer(
            table_name=settings.table_name,
            key_attr="PK",
            sort_key_attr="SK",
            static_pk_value=IDEMPOTENCY_PK,
            expiry_attr=TTL_ATTRIBUTE,
            boto3_client=make_client(session, "dynamodb"),
        ),
        s3=make_client(session, "s3"),
        ecs=make_client(session, "ecs"),
        sqs=make_client(session, "sqs"),
    )


def in_memory_services(settings: Settings, *, s3: Any, ecs: Any, sqs: Any = None) -> Services:
    """Storage in memory (jobs, task slots, webhook queue, idempotency records)."""
    from chalicelib.adapters.idempotency_memory import InMemoryPersistenceLayer
    from chalicelib.adapters.jobs_memory import InMemoryJobStore
    from chalicelib.adapters.task_slots import InMemoryTaskSlots
    from chalicelib.adapters.webhook_outbox import InMemoryWebhookOutbox

    jobs = InMemoryJobStore()
    return Services(
        settings=settings,
        jobs=jobs,
        slots=InMemoryTaskSlots(),
        outbox=InMemoryWebhookOutbox(jobs),
        idempotency=InMemoryPersistenceLayer(),
        s3=s3,
        ecs=ecs,
        sqs=sqs,
    )
