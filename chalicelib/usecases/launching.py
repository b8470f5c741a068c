"""Launching: start waiting batches, oldest job first, while the deployment-wide cap allows.

Per page of the queue, slots go to the oldest batches first; each batch is then run and
recorded (PENDING → RUNNING) on its own item, concurrently, because RunTask takes ~100 ms and
a 100-batch job must not wait seconds for its last task. Two invocations launching one batch
should get one task (same client token), but nothing relies on it: the loser of the
conditional write stops its task, and the sweeper stops any task no batch records.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum

from chalicelib import pricing
from chalicelib.model import Batch, Job, iso
from chalicelib.observability import logger
from chalicelib.ports import Services, TaskRequest

_PAGE = 100
_CONCURRENCY = 8


class _Outcome(Enum):
    STARTED = "started"
    DEFERRED = "deferred"  # RunTask said "later" (capacity): the batch stays queued
    REFUSED = "refused"  # RunTask refused the request: no retry can fix it
    SKIPPED = "skipped"  # another invocation had it, or its job is gone
    CANCELLED = "cancelled"  # its job is being cancelled or has ended


@dataclass
class Launches:
    """What a launch round did, for the steps that follow it."""

    started: int = 0
    jobs: set[str] = field(default_factory=set)  # jobs whose batches changed
    unlaunchable: list[tuple[Batch, str]] = field(default_factory=list)
    cancelled: list[Batch] = field(default_factory=list)


def launch_pending(svc: Services, first: Sequence[Batch] = ()) -> Launches:
    """Launch rounds until the queue is empty or the cap reached; a round that meets batches
    which cannot run (RunTask refused them, their job is cancelled) returns them at once.

    ``first``: batches this invocation just put back in the queue, first in line; the
    queue index is eventually consistent and might not list them yet."""
    launches = Launches()
    known = list(first)
    while True:
        listed = svc.jobs.pending_batches(_PAGE)
        seen = {(b.job_id, b.batch_number) for b in known}
        page = known + [b for b in listed if (b.job_id, b.batch_number) not in seen]
        known = []
        slots = svc.slots.acquire(svc.settings.max_running_tasks, len(page)) if page else 0
        chosen = page[:slots]
        jobs = {job_id: svc.jobs.get_job(job_id) for job_id in {b.job_id for b in chosen}}
        with ThreadPoolExecutor(max_workers=_CONCURRENCY) as pool:
            futures = [pool.submit(_run, svc, jobs[b.job_id], b) for b in chosen]
            results = [future.result() for future in futures]
        outcomes = [outcome for outcome, _ in results]
        svc.slots.release(sum(1 for o in outcomes if o is not _Outcome.STARTED))
        for batch, (outcome, reason) in zip(chosen, results, strict=True):
            if outcome is _Outcome.STARTED:
                launches.started += 1
                launches.jobs.add(batch.job_id)
            elif outcome is _Outcome.REFUSED:
                launches.unlaunchable.append((batch, reason or "RunTask failed"))
            elif outcome is _Outcome.CANCELLED:
                launches.cancelled.append(batch)
        if launches.unlaunchable or launches.cancelled:
            return launches  # they stay queued until the caller ends them
        if _Outcome.STARTED not in outcomes or _Outcome.DEFERRED in outcomes or slots < len(page):
            return launches  # the queue is empty, the cap is reached, or RunTask said wait


def _run(svc: Services, job: Job | None, batch: Batch) -> tuple[_Outcome, str | None]:
    """RunTask for one waiting batch and record its task; says what happened (and why)."""
    keys = {"job_id": batch.job_id, "batch_number": batch.batch_number}
    if job is None:  # batches are written after their job: this is a bug, keep it visible
        logger.error("pending batch without its job", extra=keys)
        return _Outcome.SKIPPED, None
    if job.cancel_reason or job.is_final:
        return _Outcome.CANCELLED, None
    result = svc.tasks.launch(_request(svc, job, batch))
    if result.task_arn is None:
        if result.retryable:  # the batch never left the queue
            logger.warning("launch deferred", extra={**keys, "reason": result.reason})
            return _Outcome.DEFERRED, result.reason
        return _Outcome.REFUSED, result.reason
    at = iso(svc.clock.now())
    if svc.jobs.mark_running(batch.job_id, batch.batch_number, result.task_arn, at):
        logger.info("task started", extra={**keys, "task_arn": result.task_arn})
        return _Outcome.STARTED, None
    current = svc.jobs.get_batch(batch.job_id, batch.batch_number)
    if current is None or current.task_arn != result.task_arn:
        # Another invocation launched this batch first (or it was cancelled meanwhile).
        svc.tasks.stop(result.task_arn, "duplicate launch")
        logger.warning("duplicate task stopped", extra={**keys, "task_arn": result.task_arn})
    return _Outcome.SKIPPED, None


def _request(svc: Services, job: Job, batch: Batch) -> TaskRequest:
    return TaskRequest(
        job_id=job.job_id,
        batch_number=batch.batch_number,
        attempt=batch.attempt,
        spec_uri=f"s3://{svc.settings.bucket}/{batch.spec_key}",
        profile=pricing.PROFILES[job.config_priority],
        spot=job.spot,
        language=job.language,
    )
