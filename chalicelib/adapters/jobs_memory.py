"""Jobs and batches in memory, with the DynamoDB adapter's conditions: for fast use-case tests.

The store's contract tests run against both this and :class:`DynamoJobStore`, so what the
use cases learn here holds against DynamoDB too.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from chalicelib.model import Batch, BatchOutcome, BatchStatus, Job, JobStatus, WebhookState
from chalicelib.pricing import round_usd


class InMemoryJobStore:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._batches: dict[tuple[str, int], Batch] = {}
        self._lock = threading.RLock()

    # -- jobs ---------------------------------------------------------------------------

    def create_job(self, job: Job) -> bool:
        with self._lock:
            if job.job_id in self._jobs:
                return False
            self._jobs[job.job_id] = job
            return True

    def get_job(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def update_job(self, job_id: str, **changes: Any) -> None:
        """Change fields of a job (the outbox's delivery state lives on the job)."""
        with self._lock:
            self._jobs[job_id] = replace(self._jobs[job_id], **changes)

    def finish_job(self, job_id: str, status: JobStatus, finished_at: str) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.status is not JobStatus.RUNNING:
                return False
            self._jobs[job_id] = replace(
                job, status=status, finished_at=finished_at, webhook_state=WebhookState.PENDING
            )
            return True

    def request_cancel(self, job_id: str, reason: str) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.status is not JobStatus.RUNNING or job.cancel_reason:
                return False
            self._jobs[job_id] = replace(job, cancel_reason=reason)
            return True

    # -- batches ------------------------------------------------------------------------

    def put_batches(self, batches: Sequence[Batch], *, fresh: bool) -> None:
        with self._lock:
            for batch in batches:
                self._batches.setdefault((batch.job_id, batch.batch_number), batch)

    def get_batch(self, job_id: str, batch_number: int) -> Batch | None:
        return self._batches.get((job_id, batch_number))

    def list_batches(self, job_id: str) -> list[Batch]:
        with self._lock:
            found = [b for (j, _), b in self._batches.items() if j == job_id]
        return sorted(found, key=lambda b: b.batch_number)

    def pending_batches(self, limit: int) -> list[Batch]:
        with self._lock:
            waiting = [b for b in self._batches.values() if b.status is BatchStatus.PENDING]
        waiting.sort(key=lambda b: (b.queued_at, b.job_id, b.batch_number))
        return waiting[:limit]

    def running_batches(self, launched_before: str | None = None) -> list[Batch]:
        with self._lock:
            running = [
                b
                for b in self._batches.values()
                if b.status is BatchStatus.RUNNING
                and (launched_before is None or (b.launched_at or "") < launched_before)
            ]
        return sorted(running, key=lambda b: (b.launched_at or "", b.job_id, b.batch_number))

    def mark_running(self, job_id: str, batch_number: int, task_arn: str, at: str) -> bool:
        with self._lock:
            batch = self._batches.get((job_id, batch_number))
            if batch is None or batch.status is not BatchStatus.PENDING:
                return False
            self._batches[(job_id, batch_number)] = replace(
                batch, status=BatchStatus.RUNNING, task_arn=task_arn, launched_at=at
            )
            return True

    def finish_batch(self, batch: Batch, outcome: BatchOutcome, *, task_arn: str | None) -> bool:
        with self._lock:
            current = self._current(batch, task_arn, outcome.event_version)
            if current is None or current.is_final:
                return False
            self._batches[(batch.job_id, batch.batch_number)] = replace(
                current,
                status=outcome.status,
                scenes_succeeded=outcome.scenes_succeeded,
                scenes_failed=outcome.scenes_failed,
                stopped_at=outcome.stopped_at,
                exit_code=outcome.exit_code,
                stop_code=outcome.stop_code,
                stopped_reason=outcome.stopped_reason,
                event_version=outcome.event_version,
                error=outcome.error,
                cost_usd=round_usd(current.cost_usd + outcome.bill.cost_usd),
                billed_seconds=current.billed_seconds + outcome.bill.billed_seconds,
                cost_estimated=current.cost_estimated or outcome.bill.estimated,
            )
            return True

    def requeue_batch(self, batch: Batch, stopped: BatchOutcome, *, task_arn: str) -> bool:
        with self._lock:
            current = self._current(batch, task_arn, stopped.event_version)
            if current is None or current.status is not BatchStatus.RUNNING:
                return False
            self._batches[(batch.job_id, batch.batch_number)] = replace(
                current,
                status=BatchStatus.PENDING,
                attempt=current.attempt + 1,
                last_stop_code=stopped.stop_code,
                task_arn=None,
                launched_at=None,
                event_version=None,
                cost_usd=round_usd(current.cost_usd + stopped.bill.cost_usd),
                billed_seconds=current.billed_seconds + stopped.bill.billed_seconds,
                cost_estimated=current.cost_estimated or stopped.bill.estimated,
            )
            return True

    def _current(self, batch: Batch, task_arn: str | None, version: int) -> Batch | None:
        """The stored batch if an event of ``task_arn`` at ``version`` may change it."""
        current = self._batches.get((batch.job_id, batch.batch_number))
        if current is None or current.task_arn != task_arn:
            return None
        if current.event_version is not None and current.event_version >= version:
            return None
        return current
