"""The domain: jobs, batches, their outcomes and every status, with the rules that decide them.

Nothing here touches AWS. A job's progress (scenes done, tasks running, cost) is derived from
its batches, never kept as separate counters, so it cannot drift or go negative.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from chalicelib.pricing import TaskBill, round_usd


class JobStatus(StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        return self is not JobStatus.RUNNING

    @property
    def webhook_type(self) -> str:
        """The Standard Webhooks event type announcing a job that ended this way."""
        return f"job.{self.value.lower()}"


class BatchStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        return self not in (BatchStatus.PENDING, BatchStatus.RUNNING)


class WebhookState(StrEnum):
    PENDING = "PENDING"  # the job ended; the first delivery is under way
    RETRYING = "RETRYING"  # a delivery failed; the sweeper sends it again when due
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"  # given up: refused URL, no secret, or out of attempts
    NO_URL = "NO_URL"  # neither the manifest nor the deployment names a receiver


def iso(at: datetime) -> str:
    """The one timestamp format stored and queued (UTC, milliseconds: sortable as text)."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


def scenes_status(successful: int, total: int) -> JobStatus:
    """All scenes rendered → SUCCEEDED; some → PARTIAL; none → FAILED."""
    if total and successful == total:
        return JobStatus.SUCCEEDED
    return JobStatus.PARTIAL if successful else JobStatus.FAILED


def batch_status(successful: int, total: int) -> BatchStatus:
    """A batch ends as its scenes did, by the same rule as a job."""
    return BatchStatus(scenes_status(successful, total).value)


@dataclass(frozen=True)
class Job:
    job_id: str
    status: JobStatus
    manifest_bucket: str
    manifest_key: str
    created_at: str
    total_scenes: int = 0
    batches_total: int = 0
    config_priority: int = 1
    spot: bool = False
    language: str = "chinese"
    webhook_url: str | None = None
    webhook_state: WebhookState | None = None
    webhook_attempts: int = 0
    webhook_error: str | None = None
    finished_at: str | None = None
    # A summary: at most MAX_STORED_ERRORS reasons; the whole list is in the job report.
    errors: list[str] = field(default_factory=list)
    errors_total: int = 0
    metadata: dict[str, Any] | None = None  # the caller's own, echoed in every document
    cancel_reason: str | None = None
    # The manifest asked for an episode: after the scene batches, one assembly batch runs.
    episode: bool = False

    @property
    def is_final(self) -> bool:
        return self.status.is_final

    @property
    def assembly_batch(self) -> int | None:
        """The assembly batch's number (after every scene batch), or None without episode."""
        return self.batches_total + 1 if self.episode else None

    # -- the job's state machine: RUNNING → final once; a cancel is asked once, while RUNNING.
    # The memory store applies these; the DynamoDB store writes the same rules as conditions.

    def finish(self, status: JobStatus, finished_at: str, errors: Sequence[str] = ()) -> Job | None:
        """The job ended ``status`` (``errors``: every reason, of which it keeps a summary);
        None when it had ended already (the other caller won)."""
        if self.status is not JobStatus.RUNNING or not status.is_final:
            return None
        kept, total = error_summary(errors)
        return replace(
            self,
            status=status,
            finished_at=finished_at,
            webhook_state=WebhookState.PENDING,
            errors=kept,
            errors_total=total,
        )

    def cancel(self, reason: str) -> Job | None:
        """Marked for cancelling; None when it is final or already marked."""
        if self.status is not JobStatus.RUNNING or self.cancel_reason:
            return None
        return replace(self, cancel_reason=reason)


# DynamoDB items stop at 400 KB: a job stores this many reasons, each clipped, the report all.
MAX_STORED_ERRORS = 50
_STORED_ERROR_CHARS = 500


def error_summary(errors: Sequence[str]) -> tuple[list[str], int]:
    """The first reasons as a job keeps them (clipped), and how many there are in all."""
    clip = _STORED_ERROR_CHARS
    kept = [e if len(e) <= clip else e[: clip - 1] + "…" for e in errors[:MAX_STORED_ERRORS]]
    return kept, len(errors)


@dataclass(frozen=True)
class BatchOutcome:
    """What one stopped task (or the absence of one) says about its batch."""

    status: BatchStatus
    scenes_succeeded: int
    scenes_failed: int
    bill: TaskBill
    stopped_at: str
    exit_code: int | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    event_version: int = 0
    error: str | None = None


@dataclass(frozen=True)
class Batch:
    job_id: str
    batch_number: int
    status: BatchStatus
    scene_count: int
    spec_key: str
    queued_at: str  # its place in the deployment-wide queue: the job's creation time
    attempt: int = 1
    task_arn: str | None = None
    launched_at: str | None = None
    stopped_at: str | None = None
    billed_seconds: int = 0
    cost_usd: float = 0.0
    cost_estimated: bool = False
    vcpu: float = 0.0
    exit_code: int | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    scenes_succeeded: int = 0
    scenes_failed: int = 0
    error: str | None = None
    last_stop_code: str | None = None  # of the attempt before this one (a retry's cause)
    event_version: int | None = None
    # Scenes whose result record the worker has written while the batch runs (live progress;
    # the batch's own counts take over when it ends). Counters: a batch may hold 10,000 scenes,
    # whose names would pass DynamoDB's 400 KB item limit; the store keeps which scene counted.
    reported_succeeded: int = 0
    reported_failed: int = 0

    @property
    def is_final(self) -> bool:
        return self.status.is_final

    # -- the batch's state machine: PENDING → RUNNING (with its task) → final, or back to
    # PENDING for another attempt; only its own task's newer events move it; cost adds up over
    # attempts. The memory store applies these; the DynamoDB store mirrors them as conditions.

    def accepts(self, task_arn: str | None, event_version: int) -> bool:
        """Whether an event of ``task_arn`` at ``event_version`` may change this batch: its own
        task (None: it has none), and newer than the last event recorded."""
        if self.task_arn != task_arn:
            return False
        return self.event_version is None or self.event_version < event_version

    def start(self, task_arn: str, at: str) -> Batch | None:
        """PENDING → RUNNING with its task; None if it had moved on."""
        if self.status is not BatchStatus.PENDING:
            return None
        return replace(self, status=BatchStatus.RUNNING, task_arn=task_arn, launched_at=at)

    def finish(self, outcome: BatchOutcome, *, task_arn: str | None) -> Batch | None:
        """→ final with the outcome, its cost added to earlier attempts'; None for a duplicate,
        a stale event or another task's event."""
        if self.is_final or not self.accepts(task_arn, outcome.event_version):
            return None
        return replace(
            self._billed(outcome.bill),
            status=outcome.status,
            scenes_succeeded=outcome.scenes_succeeded,
            scenes_failed=outcome.scenes_failed,
            stopped_at=outcome.stopped_at,
            exit_code=outcome.exit_code,
            stop_code=outcome.stop_code,
            stopped_reason=outcome.stopped_reason,
            event_version=outcome.event_version,
            error=outcome.error,
        )

    def requeue(self, stopped: BatchOutcome, *, task_arn: str) -> Batch | None:
        """RUNNING → PENDING for the next attempt, the stopped task's cost kept."""
        if self.status is not BatchStatus.RUNNING or not self.accepts(
            task_arn, stopped.event_version
        ):
            return None
        return replace(
            self._billed(stopped.bill),
            status=BatchStatus.PENDING,
            attempt=self.attempt + 1,
            last_stop_code=stopped.stop_code,
            task_arn=None,
            launched_at=None,
            event_version=None,
        )

    def report_scene(self, succeeded: bool, before: bool | None) -> Batch | None:
        """One scene's result record seen while the batch is not final (``before``: how the
        scene was counted already, None if not); None when that changes nothing (a redelivery,
        or the batch has ended and counted its scenes itself)."""
        if self.is_final or before is succeeded:
            return None
        ok = self.reported_succeeded + (1 if succeeded else 0) - (1 if before is True else 0)
        failed = self.reported_failed + (0 if succeeded else 1) - (1 if before is False else 0)
        return replace(self, reported_succeeded=ok, reported_failed=failed)

    def _billed(self, bill: TaskBill) -> Batch:
        return replace(
            self,
            cost_usd=round_usd(self.cost_usd + bill.cost_usd),
            billed_seconds=self.billed_seconds + bill.billed_seconds,
            cost_estimated=self.cost_estimated or bill.estimated,
        )

    @property
    def tasks_run(self) -> int:
        """Tasks this batch has used: one per attempt, less the last if it never launched."""
        if self.status is BatchStatus.PENDING or (self.is_final and self.task_arn is None):
            return self.attempt - 1
        return self.attempt


@dataclass(frozen=True)
class SceneCounts:
    """How many of a job's scenes exist, succeeded and failed: every view shows these."""

    total: int
    succeeded: int
    failed: int

    @property
    def done(self) -> int:
        return self.succeeded + self.failed


def scene_counts(job: Job, batches: Sequence[Batch]) -> SceneCounts:
    """The one count of a job's scenes, for every document and line that shows one.

    A rejected job failed every scene its manifest listed; an ended batch counts its scenes
    as it ended (a cancelled batch's unrendered scenes failed); a batch still running or
    waiting counts the result records reported so far.
    """
    if job.status is JobStatus.REJECTED:
        return SceneCounts(job.total_scenes, 0, job.total_scenes)
    succeeded = failed = 0
    for batch in batches:
        if batch.is_final:
            succeeded += batch.scenes_succeeded
            failed += batch.scenes_failed
        else:
            succeeded += batch.reported_succeeded
            failed += batch.reported_failed
    return SceneCounts(max(job.total_scenes, succeeded + failed), succeeded, failed)


def eta_seconds(counts: SceneCounts, elapsed_seconds: float) -> float | None:
    """Seconds left if scenes keep finishing at the rate seen so far (0 when none is left);
    None before the first scene finished, when there is no rate yet."""
    left = counts.total - counts.done
    if left <= 0:
        return 0.0
    if counts.done == 0:
        return None
    return round(max(0.0, elapsed_seconds) * left / counts.done, 1)


@dataclass(frozen=True)
class Progress:
    """A job's progress, derived from its batches."""

    scenes: SceneCounts
    batches_total: int
    batches_final: int
    batches_waiting: int
    tasks_running: int
    tasks_used: int
    cost_usd: float
    cost_estimated: bool

    @property
    def all_final(self) -> bool:
        return self.batches_final == self.batches_total


def progress(job: Job, batches: Sequence[Batch]) -> Progress:
    final = [b for b in batches if b.is_final]
    return Progress(
        scenes=scene_counts(job, batches),
        batches_total=len(batches),
        batches_final=len(final),
        batches_waiting=sum(1 for b in batches if b.status is BatchStatus.PENDING),
        tasks_running=sum(1 for b in batches if b.status is BatchStatus.RUNNING),
        tasks_used=sum(b.tasks_run for b in batches),
        cost_usd=sum(b.cost_usd for b in batches),
        cost_estimated=any(b.cost_estimated for b in batches),
    )
