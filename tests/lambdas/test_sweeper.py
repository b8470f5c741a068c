"""The scheduled sweeper: webhooks sent again, waiting batches started, running batches and
the task cap reconciled with what ECS actually runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import webhooks
from chalicelib.events import started_by
from chalicelib.model import BatchStatus, JobStatus, WebhookState
from chalicelib.webhooks import message_id

SCENES = ["scene_001", "scene_002", "scene_003", "scene_004"]


def start_job(aws) -> tuple[str, dict[int, dict]]:
    aws.put_assets(SCENES)
    job_id = aws.submit(SCENES, scenes_per_batch=2, max_parallel_tasks=2, config_priority=5)
    return job_id, aws.tasks_by_batch()


def finish_while_the_receiver_is_down(aws) -> str:
    job_id, tasks = start_job(aws)
    aws.write_results(job_id, dict.fromkeys(SCENES, "succeeded"))
    aws.receiver.stop()
    aws.stop(tasks[1])
    aws.stop(tasks[2])
    return job_id


def test_an_undelivered_webhook_is_sent_again_once_due_with_the_same_id(aws):
    job_id = finish_while_the_receiver_is_down(aws)
    job = aws.job(job_id)
    assert (job.status, job.webhook_state, job.webhook_attempts) == (
        JobStatus.SUCCEEDED, WebhookState.RETRYING, 1,
    )  # fmt: skip
    assert aws.status(job_id)["webhook"]["state"] == "RETRYING"
    assert aws.report(job_id)["webhook"]["error"].startswith("could not reach")

    # not due yet: nothing is sent
    assert aws.sweep()["webhooks_retried"] == 0

    # a minute later the receiver is back, and the sweeper delivers
    aws.receiver.start()
    later = datetime.now(UTC) + timedelta(minutes=1, seconds=5)
    assert aws.sweep(now=later)["webhooks_retried"] == 1
    [delivery] = aws.receiver.deliveries
    assert delivery.type == "job.succeeded"
    assert delivery.webhook_id == message_id(job_id, "job.succeeded")
    job = aws.job(job_id)
    assert (job.webhook_state, job.webhook_attempts) == (WebhookState.DELIVERED, 2)
    assert aws.status(job_id)["webhook"] == {"state": "DELIVERED", "attempts": 2, "error": None}
    much_later = datetime.now(UTC) + timedelta(hours=2)
    assert aws.sweep(now=much_later)["webhooks_retried"] == 0


def test_webhook_retries_back_off_and_then_give_up(aws, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(webhooks, "MAX_ATTEMPTS", 3)
    job_id = finish_while_the_receiver_is_down(aws)
    now = datetime.now(UTC)

    assert aws.sweep(now=now + timedelta(seconds=61))["webhooks_retried"] == 1
    job = aws.job(job_id)
    assert (job.webhook_state, job.webhook_attempts) == (WebhookState.RETRYING, 2)
    # the second retry waits twice as long: two minutes after the first
    assert aws.sweep(now=now + timedelta(seconds=175))["webhooks_retried"] == 0
    assert aws.sweep(now=now + timedelta(seconds=185))["webhooks_retried"] == 1

    job = aws.job(job_id)
    assert (job.webhook_state, job.webhook_attempts) == (WebhookState.FAILED, 3)
    assert job.status is JobStatus.SUCCEEDED  # the job itself is done either way
    assert aws.sweep(now=now + timedelta(hours=1))["webhooks_retried"] == 0


def test_a_batch_left_waiting_by_capacity_trouble_is_started_by_the_sweeper(aws):
    job_id = aws.submit_while_fargate_has_no_capacity()

    assert aws.sweep()["launched"] == 1

    assert [b.status for b in aws.batches(job_id)] == [BatchStatus.RUNNING]


# -- reconciling running batches with ECS -------------------------------------------------


def test_a_task_whose_stopped_event_was_lost_is_recorded_by_the_sweeper(aws):
    job_id, tasks = start_job(aws)
    aws.write_results(job_id, dict.fromkeys(SCENES, "succeeded"))
    # given both tasks stopped, but EventBridge never delivered their events
    for task in tasks.values():
        aws.cluster.exit(task["taskArn"])

    # the sweeper leaves young tasks alone, and records old ones from DescribeTasks
    assert aws.sweep()["recorded"] == 0
    result = aws.sweep(now=datetime.now(UTC) + timedelta(minutes=11))
    assert (result["recorded"], result["vanished"]) == (2, 0)

    assert aws.job(job_id).status is JobStatus.SUCCEEDED
    assert aws.status(job_id)["tasks_running"] == 0
    assert aws.receiver.wait_for(1, timeout=5)[0].type == "job.succeeded"
    assert aws.svc.slots.taken() == 0


def test_a_task_running_past_the_limit_is_stopped_and_then_recorded(aws, with_settings):
    with_settings(aws, max_task_hours=2)
    job_id, tasks = start_job(aws)
    aws.write_results(job_id, {"scene_001": "succeeded"})
    later = datetime.now(UTC) + timedelta(hours=2, minutes=1)

    assert aws.sweep(now=later)["stopped_overtime"] == 2
    stopped = aws.cluster.tasks[tasks[1]["taskArn"]]
    assert (stopped.last_status, stopped.stop_reason) == ("STOPPED", "CloudBurst: ran over 2 h")

    assert aws.sweep(now=later)["recorded"] == 2
    batch = aws.svc.jobs.get_batch(job_id, 1)
    assert (batch.status, batch.scenes_succeeded, batch.stopped_reason) == (
        "PARTIAL", 1, "CloudBurst: ran over 2 h",
    )  # fmt: skip


def test_a_task_ecs_no_longer_knows_is_finished_from_its_result_records(aws):
    job_id = aws.submit_while_fargate_has_no_capacity()
    gone = "arn:aws:ecs:us-east-1:123456789012:task/cloudburst/0123456789abcdef"
    launched = datetime.now(UTC)
    # given a launch recorded for a task ECS has since forgotten
    assert aws.svc.slots.acquire(10, 1) == 1
    assert aws.svc.jobs.mark_running(job_id, 1, gone, launched.isoformat())
    aws.write_results(job_id, {"one": "succeeded"})

    result = aws.sweep(now=launched + timedelta(minutes=11))

    assert result["vanished"] == 1
    batch = aws.svc.jobs.get_batch(job_id, 1)
    assert (batch.status, batch.scenes_succeeded) == (BatchStatus.SUCCEEDED, 1)
    assert batch.error == f"ECS no longer knows task {gone} and its STOPPED event never came"
    # the task ran, but no event says for how long: billed from its launch, marked estimated
    assert batch.cost_estimated is True
    assert batch.billed_seconds >= 60
    report = aws.report(job_id)
    assert (report["status"], report["cost_estimated"]) == ("SUCCEEDED", True)
    assert report["task_results"][0]["cost_estimated"] is True
    assert aws.svc.slots.taken() == 0


def test_a_slot_leaked_by_a_crash_comes_back_in_one_sweep(aws, with_settings):
    with_settings(aws, max_running_tasks=1)
    # given a launch that took the only slot and crashed before running its task
    assert aws.svc.slots.acquire(1, 1) == 1
    aws.put_assets(["one"])
    job_id = aws.submit(["one"])
    assert [b.status for b in aws.batches(job_id)] == [BatchStatus.PENDING]

    result = aws.sweep()

    assert result["slots_corrected"] == -1
    assert result["launched"] == 1
    assert [b.status for b in aws.batches(job_id)] == [BatchStatus.RUNNING]
    assert aws.svc.slots.taken() == 1


def test_a_task_whose_launch_was_never_recorded_is_adopted_by_its_waiting_batch(aws):
    job_id = aws.submit_while_fargate_has_no_capacity()
    [batch] = aws.batches(job_id)
    # given a task RunTask started, whose invocation crashed before recording it
    orphan = aws.cluster.start_unrecorded(started_by(job_id, 1))

    result = aws.sweep()

    assert (result["adopted"], result["orphans_stopped"], result["launched"]) == (1, 0, 0)
    [adopted] = aws.batches(job_id)
    assert (adopted.status, adopted.task_arn) == (BatchStatus.RUNNING, orphan)
    assert aws.svc.slots.taken() == 1
    assert batch.attempt == adopted.attempt


def test_a_task_of_ours_no_batch_waits_for_is_stopped_and_others_are_left_alone(aws):
    job_id, tasks = start_job(aws)
    stray = aws.cluster.start_unrecorded(started_by(job_id, 1))
    foreign = aws.cluster.start_unrecorded("someone-else")

    result = aws.sweep()

    assert result["orphans_stopped"] == 1
    status = {arn: aws.cluster.tasks[arn].last_status for arn in (stray, foreign)}
    assert status == {stray: "STOPPED", foreign: "RUNNING"}
    assert aws.cluster.tasks[tasks[1]["taskArn"]].last_status == "RUNNING"
    assert aws.svc.slots.taken() == 2
