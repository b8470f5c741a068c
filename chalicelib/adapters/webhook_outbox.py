"""Undelivered webhooks, queued on their job for the sweeper (DynamoDB or memory).

In DynamoDB a queued job carries (``WEBHOOK_RETRY``, ``<due>#<job>``) in the sparse GSI2, so
the sweeper reads what is due oldest first without scanning jobs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from chalicelib.adapters.dynamodb import Table
from chalicelib.adapters.table import WEBHOOK_QUEUE, job_key, queue_position
from chalicelib.model import WebhookState, iso

if TYPE_CHECKING:
    from chalicelib.adapters.jobs_memory import InMemoryJobStore


class DynamoWebhookOutbox:
    def __init__(self, table: Table) -> None:
        self._table = table

    def record(
        self, job_id: str, state: WebhookState, error: str | None, retry_at: str | None
    ) -> bool:
        values: dict[str, object] = {
            ":s": state.value,
            ":e": error,
            ":t": iso(datetime.now(UTC)),
            ":one": 1,
            ":delivered": WebhookState.DELIVERED.value,
        }
        update = "SET webhook_state = :s, webhook_error = :e, webhook_at = :t"
        if retry_at is None:
            update += " REMOVE GSI2PK, GSI2SK"
        else:
            update += ", GSI2PK = :queue, GSI2SK = :due"
            values.update({":queue": WEBHOOK_QUEUE, ":due": queue_position(retry_at, job_id)})
        return self._table.update_if(
            Key=job_key(job_id),
            UpdateExpression=update + " ADD webhook_attempts :one",
            ConditionExpression="attribute_exists(PK) AND webhook_state <> :delivered",
            ExpressionAttributeValues=values,
        )

    def due(self, now: str, limit: int) -> list[tuple[str, str]]:
        items = self._table.query_page(
            IndexName="GSI2",
            KeyConditionExpression="GSI2PK = :queue AND GSI2SK <= :now",
            ExpressionAttributeValues={":queue": WEBHOOK_QUEUE, ":now": f"{now}#~"},
            Limit=limit,
        )
        return [(item["job_id"], item["GSI2SK"]) for item in items]

    def claim(self, job_id: str, position: str, lease_until: str) -> bool:
        return self._table.update_if(
            Key=job_key(job_id),
            UpdateExpression="SET GSI2SK = :lease",
            ConditionExpression="GSI2PK = :queue AND GSI2SK = :position",
            ExpressionAttributeValues={
                ":lease": queue_position(lease_until, job_id),
                ":queue": WEBHOOK_QUEUE,
                ":position": position,
            },
        )


class InMemoryWebhookOutbox:
    """The queue beside an in-memory job store, whose jobs carry the delivery state."""

    def __init__(self, jobs: InMemoryJobStore) -> None:
        self._jobs = jobs
        self._queue: dict[str, str] = {}  # job id -> position

    def record(
        self, job_id: str, state: WebhookState, error: str | None, retry_at: str | None
    ) -> bool:
        job = self._jobs.get_job(job_id)
        if job is None or job.webhook_state is WebhookState.DELIVERED:
            return False
        self._jobs.update_job(
            job_id,
            webhook_state=state,
            webhook_error=error,
            webhook_attempts=job.webhook_attempts + 1,
        )
        if retry_at is None:
            self._queue.pop(job_id, None)
        else:
            self._queue[job_id] = queue_position(retry_at, job_id)
        return True

    def due(self, now: str, limit: int) -> list[tuple[str, str]]:
        ready = sorted((p, j) for j, p in self._queue.items() if p <= f"{now}#~")
        return [(job_id, position) for position, job_id in ready[:limit]]

    def claim(self, job_id: str, position: str, lease_until: str) -> bool:
        if self._queue.get(job_id) != position:
            return False
        self._queue[job_id] = queue_position(lease_until, job_id)
        return True
