"""The scheduled sweeper: undelivered webhooks are sent again, waiting batches get started."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from chalicelib import webhooks
from chalicelib.service import sweep
from chalicelib.webhooks import message_id
from cloudburst.local.receiver import WebhookReceiver

from .conftest import Aws, _reset_caches, submit_while_fargate_has_no_capacity
from .test_completion import SCENES, start_job, stop


def finish_while_the_receiver_is_down(aws: Aws) -> str:
    job_id, tasks = start_job(aws)
    aws.write_results(job_id, dict.fromkeys(SCENES, "succeeded"))
    aws.receiver.stop()
    stop(aws, tasks[1])
    stop(aws, tasks[2])
    return job_id


def test_an_undelivered_webhook_is_sent_again_once_due_with_the_same_id(aws: Aws, tmp_path: Path):
    port = urlsplit(aws.receiver.url).port
    job_id = finish_while_the_receiver_is_down(aws)
    store = aws.svc().store
    job = store.get_job(job_id)
    assert job is not None
    assert (job.status, job.webhook_state, job.webhook_attempts) == ("SUCCEEDED", "RETRYING", 1)
    assert job.webhook_due is not None

    # not due yet: nothing is sent
    assert sweep(aws.svc())["webhooks_retried"] == 0

    # a minute later the receiver is back on its port, and the sweeper delivers
    with WebhookReceiver(aws.receiver.secret, tmp_path / "back", port=port or 0) as back:
        later = datetime.now(UTC) + timedelta(minutes=1, seconds=5)
        assert sweep(aws.svc(), now=later)["webhooks_retried"] == 1
        [delivery] = back.wait_for(1, timeout=5)
    assert delivery.type == "job.succeeded"
    assert delivery.webhook_id == message_id(job_id, "job.succeeded")
    job = store.get_job(job_id)
    assert job is not None
    assert (job.webhook_state, job.webhook_attempts, job.webhook_due) == ("DELIVERED", 2, None)
    much_later = datetime.now(UTC) + timedelta(hours=2)
    assert sweep(aws.svc(), now=much_later)["webhooks_retried"] == 0


def test_webhook_retries_back_off_and_then_give_up(aws: Aws, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(webhooks, "MAX_ATTEMPTS", 3)
    job_id = finish_while_the_receiver_is_down(aws)
    store = aws.svc().store
    now = datetime.now(UTC)

    assert sweep(aws.svc(), now=now + timedelta(seconds=61))["webhooks_retried"] == 1
    job = store.get_job(job_id)
    assert job is not None
    assert (job.webhook_state, job.webhook_attempts) == ("RETRYING", 2)
    # the second retry waits twice as long: two minutes after the first
    assert sweep(aws.svc(), now=now + timedelta(seconds=175))["webhooks_retried"] == 0
    assert sweep(aws.svc(), now=now + timedelta(seconds=185))["webhooks_retried"] == 1

    job = store.get_job(job_id)
    assert job is not None
    assert (job.webhook_state, job.webhook_attempts, job.webhook_due) == ("FAILED", 3, None)
    assert job.status == "SUCCEEDED"  # the job itself is done either way


def test_two_sweepers_never_both_claim_one_retry(aws: Aws):
    job_id = finish_while_the_receiver_is_down(aws)
    store = aws.svc().store
    job = store.get_job(job_id)
    assert job is not None
    assert job.webhook_due is not None
    lease = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()

    assert store.claim_webhook_retry(job_id, job.webhook_due, lease)
    assert not store.claim_webhook_retry(job_id, job.webhook_due, lease)


def test_a_batch_left_waiting_by_capacity_trouble_is_started_by_the_sweeper(aws: Aws):
    job_id = submit_while_fargate_has_no_capacity(aws)

    assert sweep(aws.svc())["launched"] == 1

    assert [b.status for b in aws.svc().store.list_batches(job_id)] == ["RUNNING"]


# -- reconciling running batches with ECS -------------------------------------------------


def test_a_task_whose_stopped_event_was_lost_is_recorded_by_the_sweeper(aws: Aws):
    job_id, tasks = start_job(aws)
    aws.write_results(job_id, dict.fromkeys(SCENES, "succeeded"))
    # given both tasks stopped, but EventBridge never delivered their events
    for task in tasks.values():
        aws.ecs.stop_task(cluster=task["clusterArn"], task=task["taskArn"], reason="done")

    # the sweeper leaves young tasks alone, and records old ones from DescribeTasks
    assert sweep(aws.svc())["recorded"] == 0
    result = sweep(aws.svc(), now=datetime.now(UTC) + timedelta(minutes=11))
    assert (result["recorded"], result["vanished"]) == (2, 0)

    job = aws.svc().store.get_job(job_id)
    assert job is not None
    assert (job.status, job.batches_final, job.tasks_running) == ("SUCCEEDED", 2, 0)
    assert aws.receiver.wait_for(1, timeout=5)[0].type == "job.succeeded"
    assert aws.svc().store.running_tasks() == 0


def test_a_task_running_past_the_limit_is_stopped_and_then_recorded(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("CLOUDBURST_MAX_TASK_HOURS", "2")
    _reset_caches()
    job_id, tasks = start_job(aws)
    aws.write_results(job_id, {"scene_001": "succeeded"})
    later = datetime.now(UTC) + timedelta(hours=2, minutes=1)

    assert sweep(aws.svc(), now=later)["stopped_overtime"] == 2
    [described] = aws.ecs.describe_tasks(cluster="cloudburst", tasks=[tasks[1]["taskArn"]])["tasks"]
    assert described["lastStatus"] == "STOPPED"
    assert described["stoppedReason"] == "CloudBurst: ran over 2 h"

    assert sweep(aws.svc(), now=later)["recorded"] == 2
    batch = aws.svc().store.get_batch(job_id, 1)
    assert batch is not None
    assert (batch.status, batch.scenes_succeeded, batch.stopped_reason) == (
        "PARTIAL", 1, "CloudBurst: ran over 2 h",
    )  # fmt: skip


def test_a_task_ecs_no_longer_knows_is_finished_from_its_result_records(aws: Aws):
    job_id = submit_while_fargate_has_no_capacity(aws)
    store = aws.svc().store
    gone = "arn:aws:ecs:us-east-1:123456789012:task/cloudburst/0123456789abcdef"
    # given a launch recorded for a task ECS has since forgotten
    assert store.acquire_slots(10, 1) == 1
    assert store.mark_running(job_id, 1, gone)
    store.count_started_tasks({job_id: 1})
    aws.write_results(job_id, {"one": "succeeded"})

    result = sweep(aws.svc(), now=datetime.now(UTC) + timedelta(minutes=11))

    assert result["vanished"] == 1
    batch = store.get_batch(job_id, 1)
    assert batch is not None
    assert (batch.status, batch.scenes_succeeded) == ("SUCCEEDED", 1)
    assert batch.error == f"ECS no longer knows task {gone} and its STOPPED event never came"
    job = store.get_job(job_id)
    assert job is not None
    assert job.status == "SUCCEEDED"
