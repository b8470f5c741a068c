"""What each event causes, in one function each: the use cases, chained top-down.

A use case does its step and returns what follows from it (batches requeued, launches
refused, a job that ended); the reaction takes it from there. Every step is safe to repeat,
so a redelivered event or a retried invocation finishes what an earlier one left undone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from chalicelib.bootstrap import Services
from chalicelib.events import ObjectCreatedEvent, TaskStateChangeEvent
from chalicelib.model import Batch, JobStatus
from chalicelib.observability import logger
from chalicelib.usecases import (
    cancelling,
    completion,
    intake,
    launching,
    notification,
    redriving,
    status,
    sweeping,
)


def manifest_uploaded(
    event: ObjectCreatedEvent, svc: Services, lambda_context: Any | None = None
) -> str:
    """Accept (and start) or reject the job of an uploaded manifest; returns its id."""
    verdict = intake.submit_manifest(event, svc, lambda_context)
    if verdict.status is JobStatus.RUNNING:
        _launch(svc)
    elif verdict.status is JobStatus.REJECTED:
        notification.announce_if_pending(svc, verdict.job_id)
    if verdict.status is not None:
        status.publish(svc, [verdict.job_id])
    return verdict.job_id


def task_stopped(event: TaskStateChangeEvent, svc: Services) -> None:
    """End (or requeue) the stopped task's batch, start waiting work, end the job if done."""
    stopped = completion.record_task_stopped(event, svc)
    if stopped is None:
        return
    _launch(svc, stopped.requeued)
    _end_jobs(svc, [stopped.job_id])


def cancel_requested(event: ObjectCreatedEvent, svc: Services) -> None:
    """Stop a job at its user's request (``cancel/<job_id>.json``)."""
    job_id = event.cancelled_job_id()
    if job_id is None:
        logger.warning("cancel request with an unusable key; ignored", extra={"key": event.key})
        return
    cancelling.cancel_job(svc, job_id, event.key)
    _end_jobs(svc, [job_id])


def sweep(svc: Services, now: datetime | None = None) -> dict[str, int]:
    """The scheduled safety net (see :mod:`chalicelib.usecases.sweeping`)."""
    now = now or datetime.now(UTC)
    redriven = _redrive(svc)
    found = sweeping.reconcile(svc, now)
    for event in found.stopped:  # the event that never came, from ECS's own description
        task_stopped(event, svc)
    for batch in found.vanished:
        reason = f"ECS no longer knows task {batch.task_arn} and its STOPPED event never came"
        completion.end_without_task(svc, batch, reason)
    status.publish(svc, found.jobs)
    _end_jobs(svc, [batch.job_id for batch in found.vanished])
    launched = _launch(svc)
    retried = notification.retry_due(svc, now)
    status.publish(svc, retried)
    return {
        "redriven": redriven,
        "launched": launched,
        "webhooks_retried": len(retried),
        "recorded": len(found.stopped),
        "vanished": len(found.vanished),
        "stopped_overtime": found.stopped_overtime,
        "adopted": found.adopted,
        "orphans_stopped": found.orphans_stopped,
        "slots_corrected": found.slots_corrected,
    }


# Rounds of launching in one invocation when batches keep ending unlaunched; a bound, so
# that a batch that will not end cannot hold the invocation (the sweeper comes back to it).
_LAUNCH_ROUNDS = 20


def _redrive(svc: Services) -> int:
    """Hand each event EventBridge gave up on to its reaction; a failure leaves it queued."""
    handled = 0
    for letter in redriving.dead_letters(svc):
        try:
            _react(letter.event, svc)
        except Exception:
            logger.exception("dead letter failed again; left in its queue")
            continue
        redriving.done(svc, letter)
        handled += 1
    return handled


def _react(event: dict[str, Any], svc: Services) -> None:
    """The reaction an EventBridge event was meant for, by its source."""
    if event.get("source") == "aws.ecs":
        task_stopped(TaskStateChangeEvent.model_validate(event), svc)
        return
    upload = ObjectCreatedEvent.model_validate(event)
    if upload.cancelled_job_id() is not None:
        cancel_requested(upload, svc)
    else:
        manifest_uploaded(upload, svc)


def _launch(svc: Services, first: Sequence[Batch] = ()) -> int:
    """Launch what waits; batches that cannot run end now, and may end their jobs."""
    started = 0
    for _ in range(_LAUNCH_ROUNDS):
        launches = launching.launch_pending(svc, first)
        for batch, reason in launches.unlaunchable:
            completion.end_without_task(svc, batch, reason)
        for batch in launches.cancelled:
            completion.end_without_task(svc, batch, "cancelled before it ran", cancelled=True)
        status.publish(svc, launches.jobs)
        ended = [b.job_id for b, _ in launches.unlaunchable] + [
            b.job_id for b in launches.cancelled
        ]
        _end_jobs(svc, ended)
        started += launches.started
        if not ended:
            break
        first = ()
    return started


def _end_jobs(svc: Services, job_ids: Iterable[str]) -> None:
    for job_id in dict.fromkeys(job_ids):
        finished = completion.complete_job_if_done(svc, job_id)
        if finished is not None:
            notification.announce(svc, finished.job, finished.report)
        status.publish(svc, [job_id])
