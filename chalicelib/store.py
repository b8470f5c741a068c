"""DynamoDB adapter: JOB and BATCH items in one table, every state change conditional.

Layout (single table, ``PK``/``SK``):

- ``JOB#<id>`` / ``META`` — the job: status, counters (``ADD``), options, report key.
  ``GSI1`` (``MANIFEST#<bucket>/<key>``, created_at) finds the jobs of a manifest.
- ``JOB#<id>`` / ``BATCH#0001`` — one batch: status, task, attempt, cost, scene outcome.
  While PENDING it carries ``GSI2`` (``PENDING``, ``<job created_at>#<job>#<batch>``), a
  sparse index that hands out waiting batches oldest job first; while RUNNING,
  (``RUNNING``, ``<launched_at>#<job>#<batch>``), which the sweeper reconciles with ECS.
  A job whose webhook waits for a retry carries (``WEBHOOK_RETRY``, ``<due>#<job>``).
- ``CAPACITY`` / ``RUNNING_TASKS`` — the deployment-wide count of running tasks.
- ``IDEMPOTENCY`` / ``<hash>`` — powertools idempotency records for event handlers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from botocore.exceptions import ClientError

from chalicelib.adapters.table import TTL_ATTRIBUTE

JobStatus = Literal["RUNNING", "SUCCEEDED", "PARTIAL", "FAILED", "REJECTED"]
BatchStatus = Literal["PENDING", "RUNNING", "SUCCEEDED", "PARTIAL", "FAILED"]
FINAL_JOB_STATUSES = ("SUCCEEDED", "PARTIAL", "FAILED", "REJECTED")
FINAL_BATCH_STATUSES = ("SUCCEEDED", "PARTIAL", "FAILED")
IDEMPOTENCY_PK = "IDEMPOTENCY"
_CAPACITY_KEY = {"PK": "CAPACITY", "SK": "RUNNING_TASKS"}
_META = "META"
_SLOT_RETRIES = 20
_WEBHOOK_QUEUE = "WEBHOOK_RETRY"


def job_key(job_id: str) -> dict[str, str]:
    return {"PK": f"JOB#{job_id}", "SK": _META}


def batch_key(job_id: str, batch_number: int) -> dict[str, str]:
    return {"PK": f"JOB#{job_id}", "SK": f"BATCH#{batch_number:04d}"}


@dataclass(frozen=True)
class JobView:
    job_id: str
    status: JobStatus
    manifest_bucket: str
    manifest_key: str
    created_at: str
    total_scenes: int = 0
    scenes_succeeded: int = 0
    scenes_failed: int = 0
    batches_total: int = 0
    batches_final: int = 0
    tasks_running: int = 0
    tasks_used: int = 0
    batches_retried: int = 0
    total_cost_usd: float = 0.0
    config_priority: int = 1
    spot: bool = False
    language: str = "chinese"
    webhook_url: str | None = None
    webhook_state: str | None = None
    webhook_attempts: int = 0
    webhook_due: str | None = None  # its place in the sweeper's webhook queue, if queued
    report_key: str | None = None
    finished_at: str | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_JOB_STATUSES


@dataclass(frozen=True)
class BatchView:
    job_id: str
    batch_number: int
    status: BatchStatus
    scene_names: list[str]
    spec_key: str
    attempt: int = 1
    task_arn: str | None = None
    launched_at: str | None = None
    stopped_at: str | None = None
    billed_seconds: int = 0
    cost_usd: float = 0.0
    vcpu: float = 0.0
    exit_code: int | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    scenes_succeeded: int = 0
    scenes_failed: int = 0
    error: str | None = None
    last_stop_code: str | None = None  # of the attempt before this one (a retry's cause)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_BATCH_STATUSES


@dataclass(frozen=True)
class BatchOutcome:
    """What the completion Lambda learned about one stopped task."""

    status: BatchStatus
    scenes_succeeded: int
    scenes_failed: int
    cost_usd: float
    billed_seconds: int
    stopped_at: str | None
    exit_code: int | None
    stop_code: str | None
    stopped_reason: str | None
    event_version: int
    error: str | None = None


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class JobStore:
    def __init__(self, table_name: str, dynamodb: Any, ttl_days: int = 30) -> None:
        """``dynamodb`` is a boto3 DynamoDB *resource*, whose client serialises plain values."""
        self._table = dynamodb.Table(table_name)
        self._client = self._table.meta.client
        self._name = table_name
        self._ttl_seconds = ttl_days * 86400

    # -- jobs ---------------------------------------------------------------------------

    def create_job(
        self,
        job_id: str,
        *,
        manifest_bucket: str,
        manifest_key: str,
        status: JobStatus,
        total_scenes: int = 0,
        batches_total: int = 0,
        config_priority: int = 1,
        spot: bool = False,
        language: str = "chinese",
        webhook_url: str | None = None,
        errors: Sequence[str] = (),
        report_key: str | None = None,
    ) -> bool:
        """Put the JOB item once; False when this job already exists (a redelivery)."""
        created = now_iso()
        item: dict[str, Any] = {
            **job_key(job_id),
            "job_id": job_id,
            "status": status,
            "manifest_bucket": manifest_bucket,
            "manifest_key": manifest_key,
            "created_at": created,
            "total_scenes": total_scenes,
            "batches_total": batches_total,
            "batches_final": 0,
            "scenes_succeeded": 0,
            "scenes_failed": 0,
            "tasks_running": 0,
            "tasks_used": 0,
            "total_cost_usd": Decimal(0),
            "config_priority": config_priority,
            "spot": spot,
            "language": language,
            "GSI1PK": f"MANIFEST#{manifest_bucket}/{manifest_key}",
            "GSI1SK": created,
            TTL_ATTRIBUTE: int(time.time()) + self._ttl_seconds,
        }
        if webhook_url:
            item["webhook_url"] = webhook_url
        if errors:
            item["errors"] = list(errors)
        if report_key:
            item["report_key"] = report_key
        if status in FINAL_JOB_STATUSES:
            item["finished_at"] = created
            item["webhook_state"] = "PENDING"
        return self._put_new(item)

    def get_job(self, job_id: str) -> JobView | None:
        item = self._table.get_item(Key=job_key(job_id), ConsistentRead=True).get("Item")
        return _job_view(item) if item else None

    def jobs_for_manifest(self, bucket: str, key: str) -> list[JobView]:
        """Jobs started by uploads of this manifest key, newest first."""
        items = self._query(
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :manifest",
            ExpressionAttributeValues={":manifest": f"MANIFEST#{bucket}/{key}"},
            ScanIndexForward=False,
        )
        return [_job_view(item) for item in items]

    def finish_job(self, job_id: str, status: JobStatus, report_key: str) -> bool:
        """RUNNING → final, once: the caller that wins sends the webhook."""
        return self._update_if(
            Key=job_key(job_id),
            UpdateExpression="SET #s = :s, report_key = :r, finished_at = :t, webhook_state = :w",
            ConditionExpression="#s = :running",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":s": status,
                ":r": report_key,
                ":t": now_iso(),
                ":w": "PENDING",
                ":running": "RUNNING",
            },
        )

    def record_webhook(
        self, job_id: str, state: str, error: str | None = None, retry_at: str | None = None
    ) -> bool:
        """Record a delivery attempt; a delivered webhook is never marked otherwise again.

        ``retry_at`` (ISO time) puts the job in the sweeper's webhook queue (sparse ``GSI2``,
        ``WEBHOOK_RETRY``), ordered by when it is due; without it the job leaves the queue.
        """
        values: dict[str, Any] = {
            ":s": state,
            ":e": error,
            ":t": now_iso(),
            ":one": 1,
            ":delivered": "DELIVERED",
        }
        update = "SET webhook_state = :s, webhook_error = :e, webhook_at = :t"
        if retry_at is None:
            update += " REMOVE GSI2PK, GSI2SK"
        else:
            update += ", GSI2PK = :queue, GSI2SK = :due"
            values.update({":queue": _WEBHOOK_QUEUE, ":due": _webhook_sort_key(retry_at, job_id)})
        return self._update_if(
            Key=job_key(job_id),
            UpdateExpression=update + " ADD webhook_attempts :one",
            ConditionExpression="attribute_exists(PK) AND webhook_state <> :delivered",
            ExpressionAttributeValues=values,
        )

    def webhooks_due(self, now: str, limit: int = 25) -> list[JobView]:
        """Jobs whose undelivered webhook is due again by ``now`` (ISO), oldest first."""
        response = self._table.query(
            IndexName="GSI2",
            KeyConditionExpression="GSI2PK = :queue AND GSI2SK <= :now",
            ExpressionAttributeValues={":queue": _WEBHOOK_QUEUE, ":now": f"{now}#~"},
            Limit=limit,
        )
        return [_job_view(item) for item in response["Items"]]

    def claim_webhook_retry(self, job_id: str, due: str, lease_until: str) -> bool:
        """Move a due retry out of reach of other sweepers for a while; False if taken."""
        return self._update_if(
            Key=job_key(job_id),
            UpdateExpression="SET GSI2SK = :lease",
            ConditionExpression="GSI2PK = :queue AND GSI2SK = :due",
            ExpressionAttributeValues={
                ":lease": _webhook_sort_key(lease_until, job_id),
                ":queue": _WEBHOOK_QUEUE,
                ":due": due,
            },
        )

    # -- batches ------------------------------------------------------------------------

    def put_batches(
        self,
        job_id: str,
        job_created_at: str,
        batches: Sequence[tuple[int, list[str], str]],
        vcpu: float,
        *,
        fresh: bool,
    ) -> None:
        """PENDING BATCH items for (number, scene names, spec key).

        ``fresh``: this invocation just created the job, so no batch of it can exist yet and
        plain batch writes (25 items a request) are safe; otherwise (a retried intake) each
        item is put only if absent, never overwriting a batch that has moved on.
        """
        expires = int(time.time()) + self._ttl_seconds
        items = [
            {
                **batch_key(job_id, number),
                "job_id": job_id,
                "batch_number": number,
                "status": "PENDING",
                "scene_names": scene_names,
                "spec_key": spec_key,
                "attempt": 1,
                "vcpu": Decimal(str(vcpu)),
                "GSI2PK": "PENDING",
                "GSI2SK": _batch_sort_key(job_created_at, job_id, number),
                TTL_ATTRIBUTE: expires,
            }
            for number, scene_names, spec_key in batches
        ]
        if fresh:
            with self._table.batch_writer() as writer:
                for item in items:
                    writer.put_item(Item=item)
            return
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(self._put_new, items))

    def get_batch(self, job_id: str, batch_number: int) -> BatchView | None:
        item = self._table.get_item(Key=batch_key(job_id, batch_number), ConsistentRead=True).get(
            "Item"
        )
        return _batch_view(item) if item else None

    def list_batches(self, job_id: str) -> list[BatchView]:
        items = self._query(
            KeyConditionExpression="PK = :job AND begins_with(SK, :batch)",
            ExpressionAttributeValues={":job": f"JOB#{job_id}", ":batch": "BATCH#"},
            ConsistentRead=True,
        )
        return [_batch_view(item) for item in items]

    def pending_batches(self, limit: int) -> list[BatchView]:
        """Waiting batches, oldest job first (the sparse GSI2 index; it may lag a launch)."""
        response = self._table.query(
            IndexName="GSI2",
            KeyConditionExpression="GSI2PK = :pending",
            ExpressionAttributeValues={":pending": "PENDING"},
            Limit=limit,
        )
        return [_batch_view(item) for item in response["Items"]]

    def running_batches(self, launched_before: str, limit: int = 100) -> list[BatchView]:
        """RUNNING batches whose task was launched before ``launched_before`` (ISO)."""
        response = self._table.query(
            IndexName="GSI2",
            KeyConditionExpression="GSI2PK = :running AND GSI2SK < :before",
            ExpressionAttributeValues={":running": "RUNNING", ":before": launched_before},
            Limit=limit,
        )
        return [_batch_view(item) for item in response["Items"]]

    def count_started_tasks(self, started: dict[str, int]) -> None:
        """Add a page's launches to each job's task counters (progress; one write per job)."""
        for job_id, count in started.items():
            self._table.update_item(
                Key=job_key(job_id),
                UpdateExpression="ADD tasks_running :n, tasks_used :n",
                ExpressionAttributeValues={":n": count},
            )

    def mark_running(self, job_id: str, batch_number: int, task_arn: str) -> bool:
        """PENDING → RUNNING with its task, from the queue to the running list (``GSI2``
        ``RUNNING``, by launch time, which the sweeper checks); False if it had moved on."""
        launched = now_iso()
        return self._update_if(
            Key=batch_key(job_id, batch_number),
            UpdateExpression=(
                "SET #s = :running, task_arn = :arn, launched_at = :t, "
                "GSI2PK = :running, GSI2SK = :listed"
            ),
            ConditionExpression="#s = :pending",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":running": "RUNNING",
                ":pending": "PENDING",
                ":arn": task_arn,
                ":t": launched,
                ":listed": _batch_sort_key(launched, job_id, batch_number),
            },
        )

    def finish_batch(
        self,
        job_id: str,
        batch_number: int,
        outcome: BatchOutcome,
        *,
        task_arn: str | None,
    ) -> bool:
        """Batch → final, the job's counters and its task slot back, atomically; False for a
        duplicate or stale event.

        The condition admits only the task the batch is waiting for, and only an event
        newer than the last one seen, so redelivered or out-of-order events change nothing.
        """
        values: dict[str, Any] = {
            ":status": outcome.status,
            ":ok": outcome.scenes_succeeded,
            ":failed": outcome.scenes_failed,
            ":cost": _money(outcome.cost_usd),
            ":billed": outcome.billed_seconds,
            ":stopped": outcome.stopped_at,
            ":exit": outcome.exit_code,
            ":code": outcome.stop_code,
            ":reason": outcome.stopped_reason,
            ":version": outcome.event_version,
            ":error": outcome.error,
            ":f0": "SUCCEEDED",
            ":f1": "PARTIAL",
            ":f2": "FAILED",
        }
        condition = (
            "NOT #s IN (:f0, :f1, :f2) "
            "AND (attribute_not_exists(event_version) OR event_version < :version)"
        )
        if task_arn is not None:
            condition += " AND task_arn = :arn"
            values[":arn"] = task_arn
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._name,
                    "Key": batch_key(job_id, batch_number),
                    # cost and billed seconds ADD up over the batch's attempts
                    "UpdateExpression": (
                        "SET #s = :status, scenes_succeeded = :ok, scenes_failed = :failed, "
                        "stopped_at = :stopped, "
                        "exit_code = :exit, stop_code = :code, stopped_reason = :reason, "
                        "event_version = :version, #e = :error "
                        "ADD cost_usd :cost, billed_seconds :billed REMOVE GSI2PK, GSI2SK"
                    ),
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {"#s": "status", "#e": "error"},
                    "ExpressionAttributeValues": values,
                }
            },
            {
                "Update": {
                    "TableName": self._name,
                    "Key": job_key(job_id),
                    "UpdateExpression": (
                        "ADD batches_final :one, scenes_succeeded :ok, scenes_failed :failed, "
                        "total_cost_usd :cost, tasks_running :running"
                    ),
                    "ExpressionAttributeValues": {
                        ":one": 1,
                        ":ok": outcome.scenes_succeeded,
                        ":failed": outcome.scenes_failed,
                        ":cost": _money(outcome.cost_usd),
                        ":running": -1 if task_arn is not None else 0,
                    },
                }
            },
            self._release_slots_update(1),
        ]
        return self._transact(items)

    def requeue_batch(
        self,
        job_id: str,
        job_created_at: str,
        batch_number: int,
        stopped: BatchOutcome,
        *,
        task_arn: str,
    ) -> bool:
        """RUNNING → PENDING for its next attempt, its task slot back, the stopped task's
        cost kept on the batch and the job, atomically; False for a duplicate or stale event.

        The batch forgets the stopped task (``task_arn``, ``event_version``), so late events
        of that task are ignored and the next task's events start afresh.
        """
        cost = _money(stopped.cost_usd)
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._name,
                    "Key": batch_key(job_id, batch_number),
                    "UpdateExpression": (
                        "SET #s = :pending, attempt = attempt + :one, GSI2PK = :pending, "
                        "GSI2SK = :queue, last_stop_code = :code, last_stopped_reason = :reason "
                        "ADD cost_usd :cost, billed_seconds :billed "
                        "REMOVE task_arn, launched_at, event_version"
                    ),
                    "ConditionExpression": (
                        "#s = :running AND task_arn = :arn "
                        "AND (attribute_not_exists(event_version) OR event_version < :version)"
                    ),
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {
                        ":pending": "PENDING",
                        ":running": "RUNNING",
                        ":one": 1,
                        ":queue": _batch_sort_key(job_created_at, job_id, batch_number),
                        ":code": stopped.stop_code,
                        ":reason": stopped.stopped_reason,
                        ":cost": cost,
                        ":billed": stopped.billed_seconds,
                        ":arn": task_arn,
                        ":version": stopped.event_version,
                    },
                }
            },
            {
                "Update": {
                    "TableName": self._name,
                    "Key": job_key(job_id),
                    "UpdateExpression": (
                        "ADD tasks_running :minus, total_cost_usd :cost, batches_retried :one"
                    ),
                    "ExpressionAttributeValues": {":minus": -1, ":cost": cost, ":one": 1},
                }
            },
            self._release_slots_update(1),
        ]
        return self._transact(items)

    # -- deployment-wide task cap -------------------------------------------------------

    def acquire_slots(self, cap: int, wanted: int) -> int:
        """Take up to ``wanted`` of the deployment's ``cap`` task slots; returns how many.

        Optimistic: read the count, then set it only if unchanged, so a page of launches
        costs two requests however many batches it holds.
        """
        for _ in range(_SLOT_RETRIES):
            running = self.running_tasks()
            granted = min(wanted, cap - running)
            if granted <= 0:
                return 0
            unchanged = "running = :old"
            if running == 0:
                unchanged = "attribute_not_exists(running) OR running = :old"
            try:
                self._table.update_item(
                    Key=_CAPACITY_KEY,
                    UpdateExpression="SET running = :new",
                    ConditionExpression=unchanged,
                    ExpressionAttributeValues={":new": running + granted, ":old": running},
                )
            except ClientError as exc:
                if _is_condition_failure(exc):
                    continue  # another invocation moved the count; read it again
                raise
            return granted
        return 0

    def release_slots(self, count: int = 1) -> None:
        if count > 0:
            self._client.update_item(**self._release_slots_update(count)["Update"])

    def _release_slots_update(self, count: int = 1) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._name,
                "Key": _CAPACITY_KEY,
                "UpdateExpression": "ADD running :minus",
                "ConditionExpression": "running >= :count",
                "ExpressionAttributeValues": {":minus": -count, ":count": count},
            }
        }

    def running_tasks(self) -> int:
        item = self._table.get_item(Key=_CAPACITY_KEY, ConsistentRead=True).get("Item") or {}
        return int(item.get("running", 0))

    # -- helpers ------------------------------------------------------------------------

    def _update_if(self, **update: Any) -> bool:
        """A conditional ``update_item``; False when its condition does not hold."""
        try:
            self._table.update_item(**update)
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def _transact(self, items: list[dict[str, Any]]) -> bool:
        """All of ``items`` or none; False when a condition does not hold."""
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if _is_transaction_condition_failure(exc):
                return False
            raise
        return True

    def _put_new(self, item: dict[str, Any]) -> bool:
        try:
            self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(PK)")
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(TableName=self._name, **kwargs):
            yield from page["Items"]


def _money(usd: float) -> Decimal:
    return Decimal(str(round(usd, 8)))


def _batch_sort_key(at: str, job_id: str, batch_number: int) -> str:
    """A batch's ``GSI2SK`` in the queue or the running list: by time, then job and number."""
    return f"{at}#{job_id}#{batch_number:04d}"


def _webhook_sort_key(due: str, job_id: str) -> str:
    """A job's ``GSI2SK`` in the webhook retry queue: when it is due, then the job."""
    return f"{due}#{job_id}"


def _is_condition_failure(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] == "ConditionalCheckFailedException"


def _is_transaction_condition_failure(exc: ClientError) -> bool:
    if exc.response["Error"]["Code"] != "TransactionCanceledException":
        return False
    reasons = exc.response.get("CancellationReasons", [])
    return any(reason.get("Code") == "ConditionalCheckFailed" for reason in reasons)


def _num(value: Any, kind: type = int) -> Any:
    return kind(value) if value is not None else None


def _job_view(item: dict[str, Any]) -> JobView:
    return JobView(
        job_id=item["job_id"],
        status=item["status"],
        manifest_bucket=item["manifest_bucket"],
        manifest_key=item["manifest_key"],
        created_at=item["created_at"],
        total_scenes=int(item.get("total_scenes", 0)),
        scenes_succeeded=int(item.get("scenes_succeeded", 0)),
        scenes_failed=int(item.get("scenes_failed", 0)),
        batches_total=int(item.get("batches_total", 0)),
        batches_final=int(item.get("batches_final", 0)),
        tasks_running=int(item.get("tasks_running", 0)),
        tasks_used=int(item.get("tasks_used", 0)),
        batches_retried=int(item.get("batches_retried", 0)),
        total_cost_usd=float(item.get("total_cost_usd", 0)),
        config_priority=int(item.get("config_priority", 1)),
        spot=bool(item.get("spot", False)),
        language=item.get("language", "chinese"),
        webhook_url=item.get("webhook_url"),
        webhook_state=item.get("webhook_state"),
        webhook_attempts=int(item.get("webhook_attempts", 0)),
        webhook_due=item.get("GSI2SK") if item.get("GSI2PK") == _WEBHOOK_QUEUE else None,
        report_key=item.get("report_key"),
        finished_at=item.get("finished_at"),
        errors=list(item.get("errors", [])),
    )


def _batch_view(item: dict[str, Any]) -> BatchView:
    return BatchView(
        job_id=item["job_id"],
        batch_number=int(item["batch_number"]),
        status=item["status"],
        scene_names=list(item["scene_names"]),
        spec_key=item["spec_key"],
        attempt=int(item.get("attempt", 1)),
        task_arn=item.get("task_arn"),
        launched_at=item.get("launched_at"),
        stopped_at=item.get("stopped_at"),
        billed_seconds=int(item.get("billed_seconds", 0)),
        cost_usd=float(item.get("cost_usd", 0)),
        vcpu=float(item.get("vcpu", 0)),
        exit_code=_num(item.get("exit_code")),
        stop_code=item.get("stop_code"),
        stopped_reason=item.get("stopped_reason"),
        scenes_succeeded=int(item.get("scenes_succeeded", 0)),
        scenes_failed=int(item.get("scenes_failed", 0)),
        error=item.get("error"),
        last_stop_code=item.get("last_stop_code"),
    )
