"""What the use cases need from storage; DynamoDB and in-memory adapters both provide it.

Every state change is conditional, so a redelivered event or a retried Lambda changes
nothing the first attempt already changed: methods that move state say with a bool whether
this call made the move.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from chalicelib.model import Batch, BatchOutcome, Job, JobStatus, WebhookState


class JobStore(Protocol):
    def create_job(self, job: Job) -> bool:
        """Put the job once; False when it exists already (a redelivery)."""

    def get_job(self, job_id: str) -> Job | None: ...

    def finish_job(
        self, job_id: str, status: JobStatus, finished_at: str, errors: Sequence[str] = ()
    ) -> bool:
        """RUNNING → final, once, keeping the first of ``errors`` (``Job.finish``); the caller
        that wins sends the webhook."""

    def request_cancel(self, job_id: str, reason: str) -> bool:
        """Mark a RUNNING job for cancelling; False when it is final or already marked."""

    def put_batches(self, batches: Sequence[Batch], *, fresh: bool) -> None:
        """PENDING batches; ``fresh`` when no batch of the job can exist yet (plain writes)."""

    def get_batch(self, job_id: str, batch_number: int) -> Batch | None: ...

    def list_batches(self, job_id: str) -> list[Batch]: ...

    def pending_batches(self, limit: int) -> list[Batch]:
        """Waiting batches of every job, oldest job first (may lag a launch)."""

    def running_batches(self, launched_before: str | None = None) -> list[Batch]:
        """RUNNING batches (launched before ``launched_before``, ISO, if given)."""

    def mark_running(self, job_id: str, batch_number: int, task_arn: str, at: str) -> bool:
        """PENDING → RUNNING with its task; False if the batch had moved on."""

    def finish_batch(self, batch: Batch, outcome: BatchOutcome, *, task_arn: str | None) -> bool:
        """→ final with the outcome (cost added to earlier attempts'); False for a duplicate,
        a stale event (older ``event_version``) or another task's event. ``task_arn`` None:
        the batch must have no task (it never launched)."""

    def requeue_batch(self, batch: Batch, stopped: BatchOutcome, *, task_arn: str) -> bool:
        """RUNNING → PENDING for the next attempt, the stopped task's cost kept."""

    def report_scene(self, job_id: str, batch_number: int, scene_name: str, ok: bool) -> bool:
        """Count one scene's result record on its batch while the batch has not ended
        (``Batch.report_scene``); False when that changes nothing (a redelivery)."""


class TaskSlots(Protocol):
    """The deployment-wide cap on running tasks."""

    def acquire(self, cap: int, wanted: int) -> int:
        """Take up to ``wanted`` of ``cap`` slots; returns how many were granted."""

    def release(self, count: int) -> None: ...

    def taken(self) -> int: ...

    def reconcile(self, seen: int, running: int) -> bool:
        """Set the count to ``running`` if it still reads ``seen``; False if it moved."""


class WebhookOutbox(Protocol):
    """Undelivered webhooks waiting for the sweeper, ordered by when they are due."""

    def record(
        self, job_id: str, state: WebhookState, error: str | None, retry_at: str | None
    ) -> bool:
        """Record one delivery attempt (queued again when ``retry_at``); a delivered
        webhook is never marked otherwise again."""

    def due(self, now: str, limit: int) -> list[tuple[str, str]]:
        """(job id, queue position) of retries due by ``now``, oldest first."""

    def claim(self, job_id: str, position: str, lease_until: str) -> bool:
        """Move a due retry out of other sweepers' reach until ``lease_until``."""
