"""The storage contract: the DynamoDB adapters (against moto) and the in-memory ones agree."""

from __future__ import annotations

from chalicelib.model import Batch, BatchOutcome, BatchStatus, Job, JobStatus, WebhookState
from chalicelib.pricing import TaskBill


def job(job_id: str = "j", **changes) -> Job:
    fields = {
        "job_id": job_id,
        "status": JobStatus.RUNNING,
        "manifest_bucket": "b",
        "manifest_key": "manifests/k.json",
        "created_at": "2026-11-25T10:00:00.000+00:00",
        "batches_total": 1,
        "metadata": {"ticket": "T-1", "ratio": 0.5},
        **changes,
    }
    return Job(**fields)


def batch(job_id: str = "j", number: int = 1, queued_at: str = "t", **changes) -> Batch:
    fields = {
        "job_id": job_id,
        "batch_number": number,
        "status": BatchStatus.PENDING,
        "scene_count": 3,
        "spec_key": f"jobs/{job_id}/batches/{number:04d}.json",
        "queued_at": queued_at,
        "vcpu": 2.0,
        **changes,
    }
    return Batch(**fields)


def outcome(version: int = 3, cost: float = 0.01, **changes) -> BatchOutcome:
    fields = {
        "status": BatchStatus.SUCCEEDED,
        "scenes_succeeded": 3,
        "scenes_failed": 0,
        "bill": TaskBill(cost_usd=cost, billed_seconds=60),
        "stopped_at": "2026-11-25T10:01:00+00:00",
        "event_version": version,
        **changes,
    }
    return BatchOutcome(**fields)


def test_a_job_reads_back_as_it_was_written_and_is_created_once(either):
    jobs = either.svc.jobs
    written = job(errors=["a", "b"], errors_total=7)

    assert jobs.create_job(written)
    assert not jobs.create_job(job(status=JobStatus.REJECTED))

    assert jobs.get_job("j") == written
    assert jobs.get_job("missing") is None


def test_a_job_ends_once_and_cancels_only_while_running(either):
    jobs = either.svc.jobs
    jobs.create_job(job())
    jobs.create_job(job("k"))

    assert jobs.request_cancel("k", "no longer needed")
    assert not jobs.request_cancel("k", "again")
    assert jobs.finish_job("j", JobStatus.SUCCEEDED, "2026-11-25T10:05:00.000+00:00")
    assert not jobs.finish_job("j", JobStatus.FAILED, "2026-11-25T10:06:00.000+00:00")
    assert not jobs.request_cancel("j", "too late")

    ended = jobs.get_job("j")
    assert (ended.status, ended.webhook_state, ended.cancel_reason) == (
        JobStatus.SUCCEEDED, WebhookState.PENDING, None,
    )  # fmt: skip
    assert jobs.get_job("k").cancel_reason == "no longer needed"


def test_slots_never_exceed_the_cap_and_reconcile_only_an_unchanged_count(either):
    slots = either.svc.slots

    assert [slots.acquire(cap=5, wanted=3), slots.acquire(cap=5, wanted=3)] == [3, 2]
    assert slots.acquire(cap=5, wanted=1) == 0
    slots.release(2)
    assert slots.acquire(cap=5, wanted=4) == 2
    assert slots.taken() == 5

    assert not slots.reconcile(seen=4, running=1)
    assert slots.reconcile(seen=5, running=1)
    assert slots.taken() == 1
    slots.release(3)  # never below zero
    assert slots.taken() == 1


def test_a_batch_records_one_task_and_leaves_the_queue(either):
    jobs = either.svc.jobs
    jobs.create_job(job())
    jobs.put_batches([batch()], fresh=True)

    first = jobs.mark_running("j", 1, "arn:first", "2026-11-25T10:00:01.000+00:00")
    second = jobs.mark_running("j", 1, "arn:second", "2026-11-25T10:00:02.000+00:00")

    assert (first, second) == (True, False)
    running = jobs.get_batch("j", 1)
    assert (running.status, running.task_arn, running.scene_count) == ("RUNNING", "arn:first", 3)
    assert jobs.pending_batches(10) == []
    assert [b.task_arn for b in jobs.running_batches()] == ["arn:first"]
    assert jobs.running_batches("2026-11-25T10:00:00.000+00:00") == []


def test_a_retried_intake_never_overwrites_a_batch_that_moved_on(either):
    jobs = either.svc.jobs
    jobs.create_job(job())
    jobs.put_batches([batch()], fresh=True)
    jobs.mark_running("j", 1, "arn:task", "2026-11-25T10:00:01.000+00:00")

    jobs.put_batches([batch()], fresh=False)

    assert (jobs.get_batch("j", 1).status, jobs.get_batch("j", 1).task_arn) == (
        "RUNNING",
        "arn:task",
    )


def test_the_pending_queue_hands_out_the_oldest_job_first(either):
    jobs = either.svc.jobs
    jobs.put_batches([batch("new", 1, "2026-11-25T10:00:02+00:00")], fresh=True)
    old = "2026-11-25T10:00:01+00:00"
    jobs.put_batches([batch("old", 2, old), batch("old", 1, old)], fresh=True)

    assert [(b.job_id, b.batch_number) for b in jobs.pending_batches(10)] == [
        ("old", 1),
        ("old", 2),
        ("new", 1),
    ]


def test_a_batch_ends_once_for_its_own_task_and_a_newer_event_only(either):
    jobs = either.svc.jobs
    jobs.put_batches([batch()], fresh=True)
    jobs.mark_running("j", 1, "arn:task", "2026-11-25T10:00:01.000+00:00")
    running = jobs.get_batch("j", 1)

    assert not jobs.finish_batch(running, outcome(), task_arn="arn:other")
    assert not jobs.finish_batch(running, outcome(), task_arn=None)  # it has a task
    assert jobs.finish_batch(running, outcome(version=5), task_arn="arn:task")
    assert not jobs.finish_batch(running, outcome(version=6), task_arn="arn:task")

    ended = jobs.get_batch("j", 1)
    assert (ended.status, ended.event_version, ended.cost_usd) == ("SUCCEEDED", 5, 0.01)
    assert jobs.running_batches() == []


def test_a_requeued_batch_keeps_its_cost_and_forgets_its_task(either):
    jobs = either.svc.jobs
    jobs.put_batches([batch()], fresh=True)
    jobs.mark_running("j", 1, "arn:first", "2026-11-25T10:00:01.000+00:00")
    running = jobs.get_batch("j", 1)
    interrupted = outcome(cost=0.02, stop_code="SpotInterruption")

    assert jobs.requeue_batch(running, interrupted, task_arn="arn:first")
    assert not jobs.requeue_batch(running, interrupted, task_arn="arn:first")

    queued = jobs.get_batch("j", 1)
    assert (queued.status, queued.attempt, queued.task_arn) == ("PENDING", 2, None)
    assert (queued.cost_usd, queued.billed_seconds, queued.last_stop_code) == (
        0.02, 60, "SpotInterruption",
    )  # fmt: skip
    assert [b.batch_number for b in jobs.pending_batches(10)] == [1]
    assert jobs.mark_running("j", 1, "arn:second", "2026-11-25T10:02:00.000+00:00")
    second = jobs.get_batch("j", 1)
    assert jobs.finish_batch(second, outcome(version=2, cost=0.01), task_arn="arn:second")
    assert jobs.get_batch("j", 1).cost_usd == 0.03


def test_a_delivered_webhook_is_never_marked_otherwise(either):
    jobs, outbox = either.svc.jobs, either.svc.outbox
    jobs.create_job(job(status=JobStatus.REJECTED, webhook_state=WebhookState.PENDING))

    assert outbox.record("j", WebhookState.RETRYING, "down", "2026-11-25T10:01:00.000+00:00")
    assert outbox.due("2026-11-25T10:00:59.000+00:00", 10) == []
    [(due, _)] = outbox.due("2026-11-25T10:01:00.000+00:00", 10)
    assert due == "j"
    assert outbox.record("j", WebhookState.DELIVERED, None, None)
    assert not outbox.record("j", WebhookState.FAILED, "late", None)

    recorded = jobs.get_job("j")
    assert (recorded.webhook_state, recorded.webhook_attempts) == (WebhookState.DELIVERED, 2)
    assert outbox.due("2026-11-26T00:00:00.000+00:00", 10) == []


def test_two_sweepers_never_both_claim_one_retry(either):
    jobs, outbox = either.svc.jobs, either.svc.outbox
    jobs.create_job(job("j1"))
    assert jobs.finish_job("j1", JobStatus.SUCCEEDED, "2026-11-25T10:00:00.000+00:00")
    retry_at = "2026-11-25T10:01:00.000+00:00"
    assert outbox.record("j1", WebhookState.RETRYING, "could not reach", retry_at)
    [(due_job, position)] = outbox.due("2026-11-25T10:02:00.000+00:00", 10)
    assert due_job == "j1"
    lease = "2026-11-25T10:07:00.000+00:00"

    assert outbox.claim("j1", position, lease)
    assert not outbox.claim("j1", position, lease)


def test_an_ended_job_keeps_the_first_reasons_clipped_and_counts_them_all(either):
    jobs = either.svc.jobs
    jobs.create_job(job())
    reasons = [f"scene_{i:03d}: {'x' * 600}" for i in range(60)]

    assert jobs.finish_job("j", JobStatus.PARTIAL, "2026-11-25T10:05:00.000+00:00", reasons)

    ended = jobs.get_job("j")
    assert (len(ended.errors), ended.errors_total) == (50, 60)
    assert ended.errors[0].startswith("scene_000: x")
    assert len(ended.errors[0]) == 500


def test_a_reported_scene_counts_once_and_only_while_its_batch_runs(either):
    jobs = either.svc.jobs
    jobs.create_job(job())
    jobs.put_batches([batch(), batch(number=2)], fresh=True)
    jobs.mark_running("j", 1, "arn:task", "2026-11-25T10:00:01.000+00:00")

    first = jobs.report_scene("j", 1, "a", False)
    again = jobs.report_scene("j", 1, "a", False)
    rendered = jobs.report_scene("j", 1, "a", True)
    other = jobs.report_scene("j", 1, "b", True)
    jobs.finish_batch(jobs.get_batch("j", 1), outcome(), task_arn="arn:task")
    late = jobs.report_scene("j", 1, "c", True)
    missing = jobs.report_scene("j", 7, "a", True)

    assert (first, again, rendered, other, late, missing) == (True, False, True, True, False, False)
    ended = jobs.get_batch("j", 1)
    assert (ended.reported_succeeded, ended.reported_failed) == (2, 0)
    assert (jobs.list_batches("j")[1].reported_succeeded, len(jobs.list_batches("j"))) == (0, 2)
