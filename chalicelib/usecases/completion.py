"""Completion: a batch ends (its task stopped, could not launch, vanished or was cancelled);
when every batch of a job has ended, the job ends with its report.

Each finished batch is summarised once into S3 (its scenes' report lines), so ending a job
reads one object per batch, not one per scene.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from chalicelib import pricing, retries
from chalicelib.contracts import BatchSpec, SceneResult, SceneStatus, report_key, summary_key
from chalicelib.events import TaskStateChangeEvent
from chalicelib.model import (
    Batch,
    BatchOutcome,
    BatchStatus,
    Job,
    JobStatus,
    batch_status,
    iso,
    scenes_status,
)
from chalicelib.observability import MetricUnit, logger, metrics
from chalicelib.ports import Services
from chalicelib.report import build_job_report, scene_entry, with_episode
from chalicelib.usecases import assembling

# Newer than any real event of a task: a late event after a task-less ending changes nothing.
TASKLESS_VERSION = 2**31


@dataclass(frozen=True)
class Stopped:
    """What a stopped task's event changed: its batch went back to the queue (``requeued``),
    or ended; either way its job may need launching or ending."""

    job_id: str
    requeued: list[Batch]


@dataclass(frozen=True)
class Finished:
    job: Job
    report: dict[str, Any]


@dataclass(frozen=True)
class Assembling:
    """Every scene rendered: the job's assembly batch is queued and goes on the job."""

    batch: Batch


def record_task_stopped(event: TaskStateChangeEvent, svc: Services) -> Stopped | None:
    """Record the batch of a stopped task; None when the event is not for a batch we run."""
    detail = event.detail
    ref = event.batch_ref()
    if detail.last_status != "STOPPED" or ref is None:
        logger.info("not a stopped CloudBurst task; ignored", extra={"task_arn": detail.task_arn})
        return None
    job_id, number = ref
    logger.thread_safe_append_keys(job_id=job_id, batch_number=number)
    batch = svc.jobs.get_batch(job_id, number)
    job = svc.jobs.get_job(job_id)
    if batch is None or job is None or batch.task_arn != detail.task_arn:
        logger.info("event of a task this batch is not waiting for; ignored")
        return None
    if batch.is_final:
        # A duplicate, or the redelivery of an invocation that died after recording the
        # batch: the steps that follow are idempotent, so let them finish what it may not.
        logger.info("duplicate or stale task event", extra={"version": detail.version})
        return Stopped(job_id, [])
    assembly = batch.batch_number == job.assembly_batch
    names = [] if assembly else scene_names(svc, batch)
    results = svc.documents.read_results(job_id, names)
    outcome = _stopped_outcome(svc, event, batch, job, results)
    unreported = sum(1 for result in results.values() if result is None)
    if assembly:
        outcome, unreported = _assembly_outcome(svc, job_id, outcome)
    retry = not job.cancel_reason and retries.should_retry(
        detail.stop_code,
        attempt=batch.attempt,
        max_attempts=svc.settings.max_task_attempts,
        unreported=unreported,
    )
    if retry:
        return Stopped(job_id, _requeue(svc, batch, outcome, unreported))
    if _finish(svc, batch, outcome, names, results, task_arn=detail.task_arn):
        metrics.add_metric(name="TaskCostUSD", unit=MetricUnit.NoUnit, value=outcome.bill.cost_usd)
    else:
        logger.info("duplicate or stale task event", extra={"version": detail.version})
    return Stopped(job_id, [])


def end_without_task(svc: Services, batch: Batch, reason: str, *, cancelled: bool = False) -> bool:
    """End a batch no task will report on (RunTask refused it, ECS forgot its task, or its job
    was cancelled): scenes with result records keep them, the rest fail with ``reason``.

    A batch whose task ran (ECS forgot it) is billed from its launch, marked estimated.
    """
    job = svc.jobs.get_job(batch.job_id)
    assembly = job is not None and batch.batch_number == job.assembly_batch
    names = [] if assembly else scene_names(svc, batch)
    results = svc.documents.read_results(batch.job_id, names)
    succeeded = _succeeded(results)
    launched = datetime.fromisoformat(batch.launched_at) if batch.launched_at else None
    now = svc.clock.now()
    bill = pricing.TaskBill()
    if launched is not None and job is not None:
        bill = pricing.bill_task(_usage(svc, job, launched_at=launched), now)
    outcome = BatchOutcome(
        status=BatchStatus.CANCELLED if cancelled else batch_status(succeeded, len(names)),
        scenes_succeeded=succeeded,
        scenes_failed=len(names) - succeeded,
        bill=bill,
        stopped_at=iso(now),
        event_version=TASKLESS_VERSION,
        error=reason,
    )
    if assembly and not cancelled:
        outcome, _ = _assembly_outcome(svc, batch.job_id, outcome)
        outcome = replace(outcome, error=outcome.error or reason)
    logger.warning(
        "batch ended without a task", extra={"batch": batch.batch_number, "reason": reason}
    )
    return _finish(svc, batch, outcome, names, results, task_arn=batch.task_arn)


def complete_job_if_done(svc: Services, job_id: str) -> Finished | Assembling | None:
    """When every batch has ended: write the report and end the job, once. A job with an
    episode first queues its assembly batch (returned) and ends after it."""
    job = svc.jobs.get_job(job_id)
    if job is None or job.status is not JobStatus.RUNNING:
        return None
    batches = svc.jobs.list_batches(job_id)
    rendering = [b for b in batches if b.batch_number <= job.batches_total]
    if len(rendering) < job.batches_total or not all(b.is_final for b in rendering):
        return None
    scenes = _read_summaries(svc, job_id, rendering)
    successful = sum(1 for entry in scenes if entry["status"] == SceneStatus.SUCCEEDED)
    status = JobStatus.CANCELLED if job.cancel_reason else scenes_status(successful, len(scenes))
    assembly = assembling.assemble_if_due(svc, job, batches, scenes) if job.episode else None
    if assembly is not None and assembly.waiting:
        return Assembling(assembly.queued) if assembly.queued else None
    if assembly is not None:
        status = assembling.ended_status(status, assembly)
    now = svc.clock.now()
    report = build_job_report(job, status, batches, scenes, now)
    if assembly is not None:
        episode = assembly.record.report() if assembly.record else None
        report = with_episode(report, episode, assembly.reason)
    svc.documents.put_json(report_key(job_id), report)
    if not svc.jobs.finish_job(job_id, status, iso(now), report["errors"]):
        return None  # a concurrent invocation ended it and sends the webhook
    logger.info(
        "job finished", extra={"status": status, "total_cost_usd": report["total_cost_usd"]}
    )
    finished = svc.jobs.get_job(job_id)
    assert finished is not None
    return Finished(finished, report)


def scene_names(svc: Services, batch: Batch) -> list[str]:
    """A batch's scenes, from its spec (names are not stored on the batch: a batch of
    thousands of long names would pass DynamoDB's 400 KB item limit)."""
    document = svc.documents.get_json(batch.spec_key)
    return [scene.scene_name for scene in BatchSpec.model_validate(document).scenes]


# -- steps ----------------------------------------------------------------------------------


def _finish(
    svc: Services,
    batch: Batch,
    outcome: BatchOutcome,
    names: Sequence[str],
    results: dict[str, SceneResult | None],
    *,
    task_arn: str | None,
) -> bool:
    """Summarise the batch's scenes (first: the summary must exist once the batch is final),
    then end it; False for a duplicate or stale ending."""
    ended = replace(batch, error=outcome.error, stopped_reason=outcome.stopped_reason)
    summary = [scene_entry(name, ended, results.get(name)) for name in names]
    key = summary_key(batch.job_id, batch.batch_number)
    svc.documents.put_json(key, summary, indent=None)
    if not svc.jobs.finish_batch(batch, outcome, task_arn=task_arn):
        return False
    if task_arn is not None:
        svc.slots.release(1)  # a crash before this line leaks the slot until the next sweep
    logger.info("batch finished", extra={"status": outcome.status, "cost": outcome.bill.cost_usd})
    metrics.add_metric(name="ScenesRendered", unit=MetricUnit.Count, value=outcome.scenes_succeeded)
    metrics.add_metric(name="ScenesFailed", unit=MetricUnit.Count, value=outcome.scenes_failed)
    return True


def _requeue(svc: Services, batch: Batch, stopped: BatchOutcome, unreported: int) -> list[Batch]:
    """The batch waits for its next attempt (the worker resumes, skipping finished scenes);
    returns it as queued, or nothing for a duplicate or stale event."""
    assert batch.task_arn is not None
    if not svc.jobs.requeue_batch(batch, stopped, task_arn=batch.task_arn):
        logger.info("duplicate or stale task event", extra={"version": stopped.event_version})
        return []
    svc.slots.release(1)
    logger.warning(
        "batch retried",
        extra={
            "stop_code": stopped.stop_code,
            "stopped_reason": stopped.stopped_reason,
            "unreported_scenes": unreported,
            "next_attempt": batch.attempt + 1,
        },
    )
    metrics.add_metric(name="BatchesRetried", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="TaskCostUSD", unit=MetricUnit.NoUnit, value=stopped.bill.cost_usd)
    return [replace(batch, status=BatchStatus.PENDING, attempt=batch.attempt + 1, task_arn=None)]


def _assembly_outcome(
    svc: Services, job_id: str, outcome: BatchOutcome
) -> tuple[BatchOutcome, int]:
    """An assembly batch ends as its record says (it has no scenes); unreported: no record."""
    record = assembling.read_record(svc, job_id)
    ok = record is not None and record.status == SceneStatus.SUCCEEDED
    error = record.error if record is not None and not ok else None
    status = BatchStatus.SUCCEEDED if ok else BatchStatus.FAILED
    if outcome.status is BatchStatus.CANCELLED:
        status = outcome.status
    ended = replace(outcome, status=status, scenes_succeeded=0, scenes_failed=0)
    return replace(ended, error=error or outcome.error), 0 if record is not None else 1


def _stopped_outcome(
    svc: Services,
    event: TaskStateChangeEvent,
    batch: Batch,
    job: Job,
    results: dict[str, SceneResult | None],
) -> BatchOutcome:
    detail = event.detail
    succeeded = _succeeded(results)
    launched = datetime.fromisoformat(batch.launched_at) if batch.launched_at else None
    usage = _usage(
        svc,
        job,
        launched_at=launched,
        cpu_units=detail.cpu,
        memory_mib=detail.memory,
        pull_started_at=detail.pull_started_at,
        stopped_at=detail.stopped_at,
        architecture=event.architecture,
        spot=event.is_spot or None,
    )
    now = svc.clock.now()
    return BatchOutcome(
        status=batch_status(succeeded, len(results)),
        scenes_succeeded=succeeded,
        scenes_failed=len(results) - succeeded,
        bill=pricing.bill_task(usage, now),
        stopped_at=iso(detail.stopped_at or now),
        exit_code=event.exit_code(svc.settings.container_name),
        stop_code=detail.stop_code,
        stopped_reason=detail.stopped_reason,
        event_version=detail.version,
    )


def _usage(
    svc: Services,
    job: Job,
    *,
    launched_at: datetime | None,
    architecture: str | None = None,
    spot: bool | None = None,
    **known: Any,
) -> pricing.TaskUsage:
    """A task's usage: what the event knows, else what the job launched it with."""
    arch = architecture or svc.settings.architecture
    return pricing.TaskUsage(
        profile=pricing.PROFILES[job.config_priority],
        region=svc.settings.region,
        architecture="arm64" if arch == "arm64" else "x86_64",
        spot=job.spot if spot is None else spot,
        launched_at=launched_at,
        public_ipv4=svc.settings.assign_public_ip,
        **known,
    )


def _read_summaries(svc: Services, job_id: str, batches: Sequence[Batch]) -> list[dict[str, Any]]:
    keys = [summary_key(job_id, b.batch_number) for b in batches]
    with ThreadPoolExecutor(max_workers=16) as pool:
        documents = list(pool.map(svc.documents.get_json, keys))
    return [entry for document in documents for entry in document]


def _succeeded(results: dict[str, SceneResult | None]) -> int:
    return sum(1 for r in results.values() if r is not None and r.status == SceneStatus.SUCCEEDED)
