"""Jobs and batches in memory, moved by the model's own state machine (``Batch.finish`` …):
for fast use-case tests; the DynamoDB adapter writes the same rules as conditions.

The store's contract tests run against both this and :class:`DynamoJobStore`, so what the
use cases learn here holds against DynamoDB too.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from chalicelib.model import Batch, BatchOutcome, BatchStatus, Job, JobStatus


class InMemoryJobStore:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._batches: dict[tuple[str, int], Batch] = {}
        self._scenes: dict[tuple[str, str], bool] = {}  # (job, scene) → counted as succeeded
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

    def finish_job(
        self, job_id: str, status: JobStatus, finished_at: str, errors: Sequence[str] = ()
    ) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            ended = job.finish(status, finished_at, errors) if job else None
            if ended is None:
                return False
            self._jobs[job_id] = ended
            return True

    def request_cancel(self, job_id: str, reason: str) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            marked = job.cancel(reason) if job else None
            if marked is None:
                return False
            self._jobs[job_id] = marked
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
            current = self._batches.get((job_id, batch_number))
            return self._store(current.start(task_arn, at) if current else None)

    def finish_batch(self, batch: Batch, outcome: BatchOutcome, *, task_arn: str | None) -> bool:
        with self._lock:
            current = self._batches.get((batch.job_id, batch.batch_number))
            return self._store(current.finish(outcome, task_arn=task_arn) if current else None)

    def requeue_batch(self, batch: Batch, stopped: BatchOutcome, *, task_arn: str) -> bool:
        with self._lock:
            current = self._batches.get((batch.job_id, batch.batch_number))
            return self._store(current.requeue(stopped, task_arn=task_arn) if current else None)

    def report_scene(self, job_id: str, batch_number: int, scene_name: str, ok: bool) -> bool:
        with self._lock:
            current = self._batches.get((job_id, batch_number))
            before = self._scenes.get((job_id, scene_name))
            if not self._store(current.report_scene(ok, before) if current else None):
                return False
            self._scenes[(job_id, scene_name)] = ok
            return True

    def _store(self, moved: Batch | None) -> bool:
        """Keep the model's move; False when the model refused it."""
        if moved is None:
            return False
        self._batches[(moved.job_id, moved.batch_number)] = moved
        return True
