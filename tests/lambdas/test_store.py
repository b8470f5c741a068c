"""The DynamoDB adapter's own guarantees, against moto."""

from __future__ import annotations

from .conftest import Aws


def test_slots_never_exceed_the_cap(aws: Aws):
    store = aws.svc().store

    granted = [store.acquire_slots(cap=5, wanted=3), store.acquire_slots(cap=5, wanted=3)]
    assert granted == [3, 2]
    assert store.acquire_slots(cap=5, wanted=1) == 0

    store.release_slots(2)

    assert store.acquire_slots(cap=5, wanted=4) == 2
    assert store.running_tasks() == 5


def test_a_batch_records_one_task_and_leaves_the_queue(aws: Aws):
    store = aws.svc().store
    assert store.create_job(
        "j", manifest_bucket="b", manifest_key="k", status="RUNNING", batches_total=1
    )
    store.put_batches("j", "2026-11-25T10:00:00+00:00", [(1, ["a"], "spec")], vcpu=1, fresh=True)

    first = store.mark_running("j", 1, "arn:first")
    second = store.mark_running("j", 1, "arn:second")

    assert (first, second) == (True, False)
    batch = store.get_batch("j", 1)
    assert batch is not None
    assert (batch.status, batch.task_arn) == ("RUNNING", "arn:first")
    assert store.pending_batches(10) == []


def test_a_retried_intake_never_overwrites_a_batch_that_moved_on(aws: Aws):
    store = aws.svc().store
    store.create_job("j", manifest_bucket="b", manifest_key="k", status="RUNNING", batches_total=1)
    store.put_batches("j", "t", [(1, ["a"], "spec")], vcpu=1, fresh=True)
    store.mark_running("j", 1, "arn:task")

    store.put_batches("j", "t", [(1, ["a"], "spec")], vcpu=1, fresh=False)

    batch = store.get_batch("j", 1)
    assert batch is not None
    assert (batch.status, batch.task_arn) == ("RUNNING", "arn:task")


def test_the_pending_queue_hands_out_the_oldest_job_first(aws: Aws):
    store = aws.svc().store
    store.put_batches("new", "2026-11-25T10:00:02+00:00", [(1, ["a"], "s")], vcpu=1, fresh=True)
    store.put_batches(
        "old", "2026-11-25T10:00:01+00:00", [(2, ["b"], "s"), (1, ["c"], "s")], vcpu=1, fresh=True
    )

    assert [(b.job_id, b.batch_number) for b in store.pending_batches(10)] == [
        ("old", 1),
        ("old", 2),
        ("new", 1),
    ]
