"""What each event causes, in one function each: the use cases, chained top-down.

A use case does its step and returns what follows from it (batches requeued, launches
refused, waiting batches of a cancelled job, a job that ended); the reaction takes it from
there, and writes the status document of each job it touched once, at its end. Every step is
safe to repeat, so a redelivered event or a retried invocation finishes what an earlier one
left undone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from chalicelib.events import ObjectCreatedEvent, TaskStateChangeEvent
from chalicelib.model import Batch, JobStatus
from chalicelib.observability import logger
from chalicelib.ports import Services
from chalicelib.usecases import (
    cancelling,
    completion,
    intake,
    launching,
    notification,
    redriving,
    reporting,
    status,
    sweeping,
)


def manifest_uploaded(
    event: ObjectCreatedEvent, svc: Services, lambda_context: Any | None = None
) -> str:
    """Accept (and start) or reject the job of an uploaded manifest; returns its id."""
    verdict = intake.submit_manifest(event, svc, lambda_context)
    touched: set[str] = set()
    if verdict.status is JobStatus.RUNNING:
        _launch(svc, touched)
    elif verdict.status is JobStatus.REJECTED:
        notification.announce_if_pending(svc, verdict.job_id)
    if verdict.status is not None:
        touched.add(verdict.job_id)
    status.publish(svc, touched)
    return verdict.job_id


def task_stopped(event: TaskStateChangeEvent, svc: Services) -> None:
    """End (or requeue) the stopped task's batch, start waiting work, end the job if done."""
    touched: set[str] = set()
    _record_stopped(svc, event, touched)
    status.publish(svc, touched)


def scene_reported(event: ObjectCreatedEvent, svc: Services) -> None:
    """A scene's result record arrived: count it on its batch and show it in the status."""
    job_id = reporting.record_scene_reported(event, svc)
    status.publish(svc, [job_id] if job_id else [])


def cancel_requested(event: ObjectCreatedEvent, svc: Services) -> None:
    """Stop a job at its user's request (``cancel/<job_id>.json``): its tasks are stopped, its
    waiting batches end now, and the job ends when its last batch has."""
    job_id = event.cancelled_job_id()
    if job_id is None:
        logger.warning("cancel request with an unusable key; ignored", extra={"key": event.key})
        return
    cancel = cancelling.cancel_job(svc, job_id, event.key)
    for batch in cancel.waiting:
        reason = f"cancelled before it ran: {cancel.reason}"
        completion.end_without_task(svc, batch, reason, cancelled=True)
    touched = {job_id}
    _end_jobs(svc, [job_id], touched)
    status.publish(svc, touched)


def sweep(svc: Services, now: datetime | None = None) -> dict[str, int]:
    """The scheduled safety net (see :mod:`chalicelib.usecases.sweeping`)."""
    now = now or svc.clock.now()
    redriven = _redrive(svc)
    touched: set[str] = set()
    found = sweeping.reconcile(svc, now)
    touched |= found.jobs
    for event in found.stopped:  # the event that never came, from ECS's own description
        _record_stopped(svc, event, touched)
    for batch in found.vanished:
        reason = f"ECS no longer knows task {batch.task_arn} and its STOPPED event never came"
        completion.end_without_task(svc, batch, reason)
    _end_jobs(svc, [batch.job_id for batch in found.vanished], touched)
    launched = _launch(svc, touched)
    retried = notification.retry_due(svc, now)
    status.publish(svc, touched | set(retried))
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


def _record_stopped(svc: Services, event: TaskStateChangeEvent, touched: set[str]) -> None:
    stopped = completion.record_task_stopped(event, svc)
    if stopped is None:
        return
    touched.add(stopped.job_id)
    _launch(svc, touched, stopped.requeued)
    _end_jobs(svc, [stopped.job_id], touched)


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
    elif upload.reported_scene() is not None:
        scene_reported(upload, svc)
    else:
        manifest_uploaded(upload, svc)


def _launch(svc: Services, touched: set[str], first: Sequence[Batch] = ()) -> int:
    """Launch what waits; batches that cannot run end now, and may end their jobs."""
    started = 0
    for _ in range(_LAUNCH_ROUNDS):
        launches = launching.launch_pending(svc, first)
        for batch, reason in launches.unlaunchable:
            completion.end_without_task(svc, batch, reason)
        for batch in launches.cancelled:
            completion.end_without_task(svc, batch, "cancelled before it ran", cancelled=True)
        touched |= launches.jobs
        ended = [b.job_id for b, _ in launches.unlaunchable] + [
            b.job_id for b in launches.cancelled
        ]
        _end_jobs(svc, ended, touched)
        started += launches.started
        if not ended:
            break
        first = ()
    return started


def _end_jobs(svc: Services, job_ids: Iterable[str], touched: set[str]) -> None:
    """End each job whose batches have all ended, and announce it; the caller publishes the
    status of every job it ``touched``, once per event."""
    for job_id in dict.fromkeys(job_ids):
        touched.add(job_id)
        finished = completion.complete_job_if_done(svc, job_id)
        if isinstance(finished, completion.Finished):
            notification.announce(svc, finished.job, finished.report)
        elif isinstance(finished, completion.Assembling):  # its episode is next
            _launch(svc, touched, [finished.batch])
