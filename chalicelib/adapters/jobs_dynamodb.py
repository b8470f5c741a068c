"""Jobs and batches as DynamoDB items (keys and schema: :mod:`chalicelib.adapters.table`)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

from chalicelib.adapters.dynamodb import Table, money
from chalicelib.adapters.scene_reports import report_scene
from chalicelib.adapters.table import (
    PENDING_QUEUE,
    RUNNING_LIST,
    TTL_ATTRIBUTE,
    batch_key,
    job_key,
    queue_position,
)
from chalicelib.model import (
    Batch,
    BatchOutcome,
    BatchStatus,
    Job,
    JobStatus,
    WebhookState,
    error_summary,
)

_FINAL_BATCH = [status.value for status in BatchStatus if status.is_final]


class DynamoJobStore:
    """Jobs and batches as items; every move of the model's state machine (``Job.finish``,
    ``Job.cancel``, ``Batch.start``, ``Batch.finish``, ``Batch.requeue``, ``Batch.accepts``) is
    mirrored here as a condition expression, and tests/adapters/test_store.py runs the same
    cases on this store and on the in-memory one that calls the model itself."""

    def __init__(self, table: Table, ttl_days: int = 30) -> None:
        self._table = table
        self._ttl_seconds = ttl_days * 86400

    # -- jobs ---------------------------------------------------------------------------

    def create_job(self, job: Job) -> bool:
        item = {
            **job_key(job.job_id),
            **_job_item(job),
            TTL_ATTRIBUTE: self._expires(),
        }
        return self._table.put_new(item)

    def get_job(self, job_id: str) -> Job | None:
        item = self._table.get(job_key(job_id))
        return _job(item) if item else None

    def finish_job(
        self, job_id: str, status: JobStatus, finished_at: str, errors: Sequence[str] = ()
    ) -> bool:
        kept, total = error_summary(errors)
        return self._table.update_if(
            Key=job_key(job_id),
            UpdateExpression=(
                "SET #s = :s, finished_at = :t, webhook_state = :w, errors = :e, errors_total = :n"
            ),
            ConditionExpression="#s = :running",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":s": status.value,
                ":t": finished_at,
                ":w": WebhookState.PENDING.value,
                ":running": JobStatus.RUNNING.value,
                ":e": kept,
                ":n": total,
            },
        )

    def request_cancel(self, job_id: str, reason: str) -> bool:
        return self._table.update_if(
            Key=job_key(job_id),
            UpdateExpression="SET cancel_reason = :r",
            ConditionExpression="#s = :running AND attribute_not_exists(cancel_reason)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":r": reason, ":running": JobStatus.RUNNING.value},
        )

    # -- batches ------------------------------------------------------------------------

    def put_batches(self, batches: Sequence[Batch], *, fresh: bool) -> None:
        expires = self._expires()
        items = [
            {
                **batch_key(b.job_id, b.batch_number),
                **_batch_item(b),
                "GSI2PK": PENDING_QUEUE,
                "GSI2SK": queue_position(b.queued_at, b.job_id, b.batch_number),
                TTL_ATTRIBUTE: expires,
            }
            for b in batches
        ]
        if fresh:
            with self._table.table.batch_writer() as writer:
                for item in items:
                    writer.put_item(Item=item)
            return
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(self._table.put_new, items))

    def get_batch(self, job_id: str, batch_number: int) -> Batch | None:
        item = self._table.get(batch_key(job_id, batch_number))
        return _batch(item) if item else None

    def list_batches(self, job_id: str) -> list[Batch]:
        items = self._table.query(
            KeyConditionExpression="PK = :job AND begins_with(SK, :batch)",
            ExpressionAttributeValues={":job": f"JOB#{job_id}", ":batch": "BATCH#"},
            ConsistentRead=True,
        )
        return [_batch(item) for item in items]

    def pending_batches(self, limit: int) -> list[Batch]:
        items = self._table.query_page(
            IndexName="GSI2",
            KeyConditionExpression="GSI2PK = :pending",
            ExpressionAttributeValues={":pending": PENDING_QUEUE},
            Limit=limit,
        )
        return [_batch(item) for item in items]

    def running_batches(self, launched_before: str | None = None) -> list[Batch]:
        before = launched_before or "~"  # "~" sorts after every ISO timestamp
        items = self._table.query(
            IndexName="GSI2",
            KeyConditionExpression="GSI2PK = :running AND GSI2SK < :before",
            ExpressionAttributeValues={":running": RUNNING_LIST, ":before": before},
        )
        return [_batch(item) for item in items]

    def mark_running(self, job_id: str, batch_number: int, task_arn: str, at: str) -> bool:
        return self._table.update_if(
            Key=batch_key(job_id, batch_number),
            UpdateExpression=(
                "SET #s = :running, task_arn = :arn, launched_at = :t, "
                "GSI2PK = :list, GSI2SK = :position"
            ),
            ConditionExpression="#s = :pending",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":running": BatchStatus.RUNNING.value,
                ":pending": BatchStatus.PENDING.value,
                ":arn": task_arn,
                ":t": at,
                ":list": RUNNING_LIST,
                ":position": queue_position(at, job_id, batch_number),
            },
        )

    def finish_batch(self, batch: Batch, outcome: BatchOutcome, *, task_arn: str | None) -> bool:
        values: dict[str, Any] = {
            ":status": outcome.status.value,
            ":ok": outcome.scenes_succeeded,
            ":failed": outcome.scenes_failed,
            ":cost": money(outcome.bill.cost_usd),
            ":billed": outcome.bill.billed_seconds,
            ":estimated": outcome.bill.estimated or batch.cost_estimated,
            ":stopped": outcome.stopped_at,
            ":exit": outcome.exit_code,
            ":code": outcome.stop_code,
            ":reason": outcome.stopped_reason,
            ":version": outcome.event_version,
            ":error": outcome.error,
        }
        values.update({f":f{i}": status for i, status in enumerate(_FINAL_BATCH)})
        finals = ", ".join(f":f{i}" for i in range(len(_FINAL_BATCH)))
        condition = (
            f"NOT #s IN ({finals}) "
            "AND (attribute_not_exists(event_version) OR event_version < :version)"
        )
        if task_arn is None:  # a batch no task ran for: still none may have started
            condition += " AND attribute_not_exists(task_arn)"
        else:
            condition += " AND task_arn = :arn"
            values[":arn"] = task_arn
        return self._table.update_if(
            Key=batch_key(batch.job_id, batch.batch_number),
            # cost and billed seconds ADD up over the batch's attempts
            UpdateExpression=(
                "SET #s = :status, scenes_succeeded = :ok, scenes_failed = :failed, "
                "stopped_at = :stopped, exit_code = :exit, stop_code = :code, "
                "stopped_reason = :reason, event_version = :version, #e = :error, "
                "cost_estimated = :estimated "
                "ADD cost_usd :cost, billed_seconds :billed REMOVE GSI2PK, GSI2SK"
            ),
            ConditionExpression=condition,
            ExpressionAttributeNames={"#s": "status", "#e": "error"},
            ExpressionAttributeValues=values,
        )

    def requeue_batch(self, batch: Batch, stopped: BatchOutcome, *, task_arn: str) -> bool:
        # The batch forgets the stopped task (task_arn, event_version), so late events of
        # that task are ignored and the next task's events start afresh.
        return self._table.update_if(
            Key=batch_key(batch.job_id, batch.batch_number),
            UpdateExpression=(
                "SET #s = :pending, attempt = attempt + :one, GSI2PK = :queue, "
                "GSI2SK = :position, last_stop_code = :code, "
                "cost_estimated = :estimated "
                "ADD cost_usd :cost, billed_seconds :billed "
                "REMOVE task_arn, launched_at, event_version"
            ),
            ConditionExpression=(
                "#s = :running AND task_arn = :arn "
                "AND (attribute_not_exists(event_version) OR event_version < :version)"
            ),
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":pending": BatchStatus.PENDING.value,
                ":running": BatchStatus.RUNNING.value,
                ":queue": PENDING_QUEUE,
                ":one": 1,
                ":position": queue_position(batch.queued_at, batch.job_id, batch.batch_number),
                ":code": stopped.stop_code,
                ":estimated": stopped.bill.estimated or batch.cost_estimated,
                ":cost": money(stopped.bill.cost_usd),
                ":billed": stopped.bill.billed_seconds,
                ":arn": task_arn,
                ":version": stopped.event_version,
            },
        )

    def report_scene(self, job_id: str, batch_number: int, scene_name: str, ok: bool) -> bool:
        return report_scene(self._table, job_id, batch_number, scene_name, ok, self._expires())

    def _expires(self) -> int:
        return int(time.time()) + self._ttl_seconds


# -- items <-> model --------------------------------------------------------------------------


def _job_item(job: Job) -> dict[str, Any]:
    item = {k: v for k, v in asdict(job).items() if v is not None and v != []}
    item["status"] = job.status.value
    if job.webhook_state is not None:
        item["webhook_state"] = job.webhook_state.value
    if job.metadata is not None:  # JSON text: DynamoDB maps refuse floats
        item["metadata"] = json.dumps(job.metadata, ensure_ascii=False)
    return item


def _job(item: dict[str, Any]) -> Job:
    state = item.get("webhook_state")
    metadata = item.get("metadata")
    return Job(
        job_id=item["job_id"],
        status=JobStatus(item["status"]),
        manifest_bucket=item["manifest_bucket"],
        manifest_key=item["manifest_key"],
        created_at=item["created_at"],
        total_scenes=int(item.get("total_scenes", 0)),
        batches_total=int(item.get("batches_total", 0)),
        config_priority=int(item.get("config_priority", 1)),
        spot=bool(item.get("spot", False)),
        language=item.get("language", "chinese"),
        webhook_url=item.get("webhook_url"),
        webhook_state=WebhookState(state) if state else None,
        webhook_attempts=int(item.get("webhook_attempts", 0)),
        webhook_error=item.get("webhook_error"),
        finished_at=item.get("finished_at"),
        errors=list(item.get("errors", [])),
        errors_total=int(item.get("errors_total", 0)),
        metadata=json.loads(metadata) if metadata else None,
        cancel_reason=item.get("cancel_reason"),
        episode=bool(item.get("episode", False)),
    )


def _batch_item(batch: Batch) -> dict[str, Any]:
    item = {k: v for k, v in asdict(batch).items() if v is not None}
    item["status"] = batch.status.value
    item["cost_usd"] = money(batch.cost_usd)
    item["vcpu"] = money(batch.vcpu)
    return item


def _num(value: Any) -> int | None:
    return int(value) if value is not None else None


def _batch(item: dict[str, Any]) -> Batch:
    return Batch(
        job_id=item["job_id"],
        batch_number=int(item["batch_number"]),
        status=BatchStatus(item["status"]),
        scene_count=int(item["scene_count"]),
        spec_key=item["spec_key"],
        queued_at=item["queued_at"],
        attempt=int(item.get("attempt", 1)),
        task_arn=item.get("task_arn"),
        launched_at=item.get("launched_at"),
        stopped_at=item.get("stopped_at"),
        billed_seconds=int(item.get("billed_seconds", 0)),
        cost_usd=float(item.get("cost_usd", 0)),
        cost_estimated=bool(item.get("cost_estimated", False)),
        vcpu=float(item.get("vcpu", 0)),
        exit_code=_num(item.get("exit_code")),
        stop_code=item.get("stop_code"),
        stopped_reason=item.get("stopped_reason"),
        scenes_succeeded=int(item.get("scenes_succeeded", 0)),
        scenes_failed=int(item.get("scenes_failed", 0)),
        error=item.get("error"),
        last_stop_code=item.get("last_stop_code"),
        event_version=_num(item.get("event_version")),
        reported_succeeded=int(item.get("reported_succeeded", 0)),
        reported_failed=int(item.get("reported_failed", 0)),
    )
