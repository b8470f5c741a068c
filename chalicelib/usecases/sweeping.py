"""Sweeping: the scheduled safety net for work no event will come back for.

- Running batches launched a while ago are checked against ECS: a task that stopped
  without its event reaching us is handed back as that event, one ECS no longer knows is
  ended from its result records, one running past ``max_task_hours`` is stopped.
- The cluster's tasks of ours are compared with the batches: a task no batch records is
  adopted (its batch still waits for it) or stopped, and the task cap is set to what runs,
  so a slot leaked by a crash comes back within one sweep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib.events import TaskStateChangeEvent, parse_started_by
from chalicelib.model import Batch, BatchStatus, iso
from chalicelib.observability import logger
from chalicelib.ports import Services

# A STOPPED event normally arrives within seconds; one missing after this long was lost.
RECONCILE_AFTER = timedelta(minutes=10)


@dataclass
class Reconciled:
    """What the sweep found; the reaction records ``stopped`` and ends ``vanished``."""

    stopped: list[TaskStateChangeEvent] = field(default_factory=list)
    vanished: list[Batch] = field(default_factory=list)
    stopped_overtime: int = 0
    adopted: int = 0
    orphans_stopped: int = 0
    slots_corrected: int = 0
    jobs: set[str] = field(default_factory=set)


def reconcile(svc: Services, now: datetime) -> Reconciled:
    found = Reconciled()
    _check_old_running(svc, now, found)
    _match_cluster_tasks(svc, found)
    return found


def _check_old_running(svc: Services, now: datetime, found: Reconciled) -> None:
    batches = svc.jobs.running_batches(iso(now - RECONCILE_AFTER))
    by_arn = {batch.task_arn: batch for batch in batches if batch.task_arn}
    overtime = timedelta(hours=svc.settings.max_task_hours)
    described = svc.tasks.describe(list(by_arn), now)
    for arn, batch in by_arn.items():
        task = described.get(arn)
        if task is None:
            found.vanished.append(batch)
        elif task.stopped is not None:
            logger.warning("task stopped without its event reaching us; recorded now")
            found.stopped.append(task.stopped)
        elif batch.launched_at and now - datetime.fromisoformat(batch.launched_at) > overtime:
            hours = f"{svc.settings.max_task_hours:g}"
            svc.tasks.stop(arn, f"ran over {hours} h")
            logger.warning("task ran too long; stopped", extra={"task_arn": arn})
            found.stopped_overtime += 1


def _match_cluster_tasks(svc: Services, found: Reconciled) -> None:
    """Every task of ours that ECS runs belongs to a RUNNING batch, and the cap counts them."""
    seen_slots = svc.slots.taken()
    running = {b.task_arn: b for b in svc.jobs.running_batches() if b.task_arn}
    ours = svc.tasks.ours_running()
    recorded_since = 0
    for arn, started_by in ours.items():
        if arn in running:
            continue
        ref = parse_started_by(started_by)
        batch = svc.jobs.get_batch(*ref) if ref else None
        if batch is not None and batch.task_arn == arn and not batch.is_final:
            recorded_since += 1  # launched after the running list was read
            continue
        if batch is not None and batch.status is BatchStatus.PENDING:
            job = svc.jobs.get_job(batch.job_id)
            if (
                job is not None
                and not job.cancel_reason
                and svc.jobs.mark_running(
                    batch.job_id, batch.batch_number, arn, iso(svc.clock.now())
                )
            ):
                logger.warning("task no batch recorded adopted by its waiting batch")
                found.adopted += 1
                found.jobs.add(batch.job_id)
                continue
        svc.tasks.stop(arn, "no batch is waiting for this task")
        logger.warning("orphan task stopped", extra={"task_arn": arn, "started_by": started_by})
        found.orphans_stopped += 1
    # Every RUNNING batch holds a slot until its STOPPED event (or the check above) ends it.
    # A launch between taking its slot and recording its task is not counted: the cap may
    # be passed by the launches in flight, for one sweep at most.
    counted = len(running) + recorded_since + found.adopted
    if counted != seen_slots and svc.slots.reconcile(seen_slots, counted):
        logger.warning("task cap corrected", extra={"was": seen_slots, "now": counted})
        found.slots_corrected = counted - seen_slots
