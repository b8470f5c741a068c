"""The one place the adapters are built and wired: the use cases receive them as ``Services``
(:mod:`chalicelib.ports`) and never import this module.

``services_from_env`` builds what a Lambda container uses (DynamoDB, S3, ECS, SQS, HTTP
webhooks, Secrets Manager against the endpoints the environment names); ``in_memory_services``
builds the in-memory twins of every one of them, so use-case tests run on the same code paths
with no AWS, no HTTP and no waiting.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from chalicelib.adapters.table import IDEMPOTENCY_PK, TTL_ATTRIBUTE
from chalicelib.ports import Services
from chalicelib.settings import Settings, settings_from_env
from chalicelib.usecases import reactions

__all__ = ["Services", "in_memory_services", "reactions", "services_from_env"]


def services_from_env(environ: Mapping[str, str] | None = None) -> Services:
    """The Lambda container's adapters; boto3 and powertools are imported here, on first use,
    so a cold start pays only for what the first event needs."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from chalicelib.adapters.clock import SystemClock
    from chalicelib.adapters.dynamodb import Table
    from chalicelib.adapters.ecs import EcsTasks
    from chalicelib.adapters.jobs_dynamodb import DynamoJobStore
    from chalicelib.adapters.s3 import S3Documents
    from chalicelib.adapters.secret import StageSecrets
    from chalicelib.adapters.sqs import SqsDeadLetters
    from chalicelib.adapters.task_slots import DynamoTaskSlots
    from chalicelib.adapters.webhook_http import HttpWebhooks
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
        documents=S3Documents(make_client(session, "s3"), settings.bucket),
        tasks=EcsTasks(make_client(session, "ecs"), settings),
        dead_letters=SqsDeadLetters(make_client(session, "sqs")),
        webhooks=HttpWebhooks(
            timeout=settings.webhook_timeout_seconds,
            allow_loopback=settings.allow_loopback_webhooks,
        ),
        secrets=StageSecrets(settings),
        clock=SystemClock(),
    )


def in_memory_services(settings: Settings) -> Services:
    """Every port on its in-memory twin (jobs, task slots, webhook queue, idempotency records,
    documents, tasks, dead letters, webhooks, secret, clock)."""
    from chalicelib.adapters.idempotency_memory import InMemoryPersistenceLayer
    from chalicelib.adapters.jobs_memory import InMemoryJobStore
    from chalicelib.adapters.memory import (
        ManualClock,
        MemoryDeadLetters,
        MemoryDocuments,
        MemoryTasks,
        MemoryWebhooks,
        StaticSecrets,
    )
    from chalicelib.adapters.task_slots import InMemoryTaskSlots
    from chalicelib.adapters.webhook_outbox import InMemoryWebhookOutbox

    jobs = InMemoryJobStore()
    return Services(
        settings=settings,
        jobs=jobs,
        slots=InMemoryTaskSlots(),
        outbox=InMemoryWebhookOutbox(jobs),
        idempotency=InMemoryPersistenceLayer(),
        documents=MemoryDocuments(settings.bucket),
        tasks=MemoryTasks(settings.cluster, settings.region),
        dead_letters=MemoryDeadLetters(),
        webhooks=MemoryWebhooks(),
        secrets=StaticSecrets(settings.webhook_secret),
        clock=ManualClock(step=timedelta(milliseconds=1)),
    )
