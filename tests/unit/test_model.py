"""The job and batch state machines of the model, on plain values (the stores apply them)."""

from __future__ import annotations

from chalicelib.model import Batch, BatchOutcome, BatchStatus, Job, JobStatus, WebhookState
from chalicelib.pricing import TaskBill

AT = "2026-11-25T10:00:00.000+00:00"


def batch(**changes: object) -> Batch:
    fields: dict[str, object] = {
        "job_id": "j",
        "batch_number": 1,
        "status": BatchStatus.PENDING,
        "scene_count": 2,
        "spec_key": "jobs/j/batches/0001.json",
        "queued_at": AT,
        **changes,
    }
    return Batch(**fields)  # type: ignore[arg-type]


def outcome(version: int = 3, cost: float = 0.01, seconds: int = 60, **changes) -> BatchOutcome:
    fields = {
        "status": BatchStatus.SUCCEEDED,
        "scenes_succeeded": 2,
        "scenes_failed": 0,
        "bill": TaskBill(cost_usd=cost, billed_seconds=seconds),
        "stopped_at": AT,
        "event_version": version,
        **changes,
    }
    return BatchOutcome(**fields)


def test_a_waiting_batch_starts_once_with_its_task():
    running = batch().start("arn:a", AT)

    assert running is not None
    assert (running.status, running.task_arn, running.launched_at) == ("RUNNING", "arn:a", AT)
    assert running.start("arn:b", AT) is None


def test_a_batch_accepts_only_its_own_tasks_newer_events():
    running = batch(status=BatchStatus.RUNNING, task_arn="arn:a", event_version=3)

    assert running.accepts("arn:a", 4)
    assert not running.accepts("arn:a", 3)  # a duplicate
    assert not running.accepts("arn:a", 2)  # stale
    assert not running.accepts("arn:b", 9)  # another task's
    assert not running.accepts(None, 9)  # it has a task
    assert batch().accepts(None, 1)  # a batch that never launched ends without one


def test_a_finished_batch_adds_its_cost_to_earlier_attempts_and_ends_once():
    running = batch(status=BatchStatus.RUNNING, task_arn="arn:a", cost_usd=0.02, billed_seconds=90)

    ended = running.finish(outcome(version=5), task_arn="arn:a")

    assert ended is not None
    assert (ended.status, ended.event_version) == (BatchStatus.SUCCEEDED, 5)
    assert (ended.cost_usd, ended.billed_seconds) == (0.03, 150)
    assert ended.finish(outcome(version=6), task_arn="arn:a") is None
    assert running.finish(outcome(), task_arn="arn:b") is None


def test_a_requeued_batch_forgets_its_task_keeps_its_cost_and_counts_an_attempt():
    running = batch(status=BatchStatus.RUNNING, task_arn="arn:a", event_version=2)
    stopped = outcome(version=3, stop_code="SpotInterruption")

    queued = running.requeue(stopped, task_arn="arn:a")

    assert queued is not None
    assert (queued.status, queued.attempt, queued.task_arn, queued.event_version) == (
        BatchStatus.PENDING, 2, None, None,
    )  # fmt: skip
    assert (queued.cost_usd, queued.last_stop_code) == (0.01, "SpotInterruption")
    assert queued.requeue(stopped, task_arn="arn:a") is None  # no longer RUNNING
    assert queued.accepts(None, 1)  # the next task's events start afresh


def test_an_estimated_bill_marks_the_batch_estimated_for_good():
    running = batch(status=BatchStatus.RUNNING, task_arn="arn:a")
    estimated = TaskBill(cost_usd=0.01, billed_seconds=60, estimated=True)

    queued = running.requeue(outcome(bill=estimated), task_arn="arn:a")

    assert queued is not None
    assert queued.cost_estimated
    relaunched = queued.start("arn:b", AT)
    assert relaunched is not None
    ended = relaunched.finish(outcome(version=1), task_arn="arn:b")
    assert ended is not None
    assert ended.cost_estimated


def test_a_job_ends_once_and_a_cancel_is_asked_once_while_it_runs():
    job = Job("j", JobStatus.RUNNING, "b", "manifests/k.json", AT)

    cancelling = job.cancel("wrong voice")
    assert cancelling is not None
    assert cancelling.cancel_reason == "wrong voice"
    assert cancelling.cancel("again") is None
    ended = cancelling.finish(JobStatus.CANCELLED, AT)
    assert ended is not None
    assert (ended.status, ended.finished_at, ended.webhook_state) == (
        JobStatus.CANCELLED, AT, WebhookState.PENDING,
    )  # fmt: skip
    assert ended.finish(JobStatus.FAILED, AT) is None
    assert ended.cancel("late") is None
    assert job.finish(JobStatus.RUNNING, AT) is None  # not an ending
