"""A task stopped by Spot (or that never started) leaves unreported scenes: they run again."""

from __future__ import annotations

import json

import pytest

from chalicelib.contracts import report_key
from chalicelib.events import ObjectCreatedEvent, TaskStateChangeEvent
from chalicelib.service import record_task_stopped, submit_manifest

from .conftest import BUCKET, Aws, _reset_caches, task_stopped_event

SCENES = ["scene_001", "scene_002", "scene_003", "scene_004"]
# 1 vCPU, 2 GB on-demand x86 in us-east-1, per billed second
PER_SECOND = (1 * 0.04048 + 2 * 0.004445) / 3600
SPOT_REASON = "Your Spot Task was interrupted."


def start_job(aws: Aws) -> tuple[str, dict[int, dict]]:
    aws.put_assets(SCENES)
    event = aws.upload_manifest(SCENES, scenes_per_batch=2, max_parallel_tasks=2, config_priority=5)
    job_id = submit_manifest(ObjectCreatedEvent.model_validate(event), aws.svc())
    return job_id, {int(t["startedBy"].rsplit("/", 1)[1]): t for t in aws.tasks()}


def current_task(aws: Aws, job_id: str, number: int) -> dict:
    """The task the batch now waits for, as ECS describes it."""
    batch = aws.svc().store.get_batch(job_id, number)
    assert batch is not None
    [task] = [t for t in aws.tasks() if t["taskArn"] == batch.task_arn]
    return task


def interrupted(task: dict, *, seconds: float = 40, stop_code: str = "SpotInterruption") -> dict:
    event = task_stopped_event(task, exit_code=None, seconds=seconds, stop_code=stop_code)
    event["detail"]["stoppedReason"] = SPOT_REASON
    return event


def deliver(aws: Aws, event: dict) -> None:
    record_task_stopped(TaskStateChangeEvent.model_validate(event), aws.svc())


def test_a_spot_interrupted_batch_runs_again_for_its_unreported_scenes(aws: Aws):
    job_id, tasks = start_job(aws)
    first = tasks[1]
    # given the first task rendered scene_001 before Spot took its capacity back
    aws.write_results(job_id, {"scene_001": "succeeded"})

    deliver(aws, interrupted(first))

    # then batch 1 is running again, on a new task, as attempt 2, its first task's cost kept
    store = aws.svc().store
    batch = store.get_batch(job_id, 1)
    assert batch is not None
    retry_task = current_task(aws, job_id, 1)
    assert retry_task["taskArn"] != first["taskArn"]
    assert retry_task["startedBy"] == first["startedBy"]
    assert (batch.status, batch.attempt, batch.task_arn) == ("RUNNING", 2, retry_task["taskArn"])
    assert batch.last_stop_code == "SpotInterruption"
    assert (batch.billed_seconds, batch.cost_usd) == (60, pytest.approx(60 * PER_SECOND, abs=1e-8))
    job = store.get_job(job_id)
    assert job is not None
    assert (job.status, job.batches_final, job.batches_retried, job.tasks_running) == (
        "RUNNING", 0, 1, 2,
    )  # fmt: skip
    assert job.total_cost_usd == pytest.approx(60 * PER_SECOND, abs=1e-8)
    assert store.running_tasks() == 2
    assert aws.receiver.deliveries == []

    # when the retry reports the rest and both batches finish
    aws.write_results(job_id, dict.fromkeys(SCENES, "succeeded"))
    deliver(aws, task_stopped_event(retry_task))
    deliver(aws, task_stopped_event(tasks[2]))

    # then the job succeeded, and its report counts three tasks and both attempts' cost
    data = json.loads(aws.s3.get_object(Bucket=BUCKET, Key=report_key(job_id))["Body"].read())
    assert data["status"] == "SUCCEEDED"
    assert data["tasks_used"] == 3
    assert data["total_cost_usd"] == pytest.approx((60 + 96 + 96) * PER_SECOND, abs=1e-6)
    first_batch = data["task_results"][0]
    assert (first_batch["attempt"], first_batch["retried_after"]) == (2, "SpotInterruption")
    assert first_batch["billed_seconds"] == 60 + 96
    assert [d.type for d in aws.receiver.wait_for(1, timeout=5)] == ["job.succeeded"]
    assert store.running_tasks() == 0


def test_a_late_copy_of_the_interrupted_tasks_event_changes_nothing(aws: Aws):
    job_id, tasks = start_job(aws)
    event = interrupted(tasks[1])
    deliver(aws, event)
    retry_arn = current_task(aws, job_id, 1)["taskArn"]
    assert retry_arn != tasks[1]["taskArn"]

    deliver(aws, event)

    batch = aws.svc().store.get_batch(job_id, 1)
    assert batch is not None
    assert (batch.status, batch.attempt, batch.task_arn) == ("RUNNING", 2, retry_arn)
    job = aws.svc().store.get_job(job_id)
    assert job is not None
    assert (job.batches_retried, job.tasks_running) == (1, 2)


def test_retries_end_at_the_attempt_limit_with_the_stop_reason_on_each_scene(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("CLOUDBURST_MAX_TASK_ATTEMPTS", "2")
    _reset_caches()
    job_id, tasks = start_job(aws)
    aws.write_results(job_id, {"scene_003": "succeeded", "scene_004": "succeeded"})

    deliver(aws, interrupted(tasks[1]))
    deliver(aws, interrupted(current_task(aws, job_id, 1), stop_code="TaskFailedToStart"))
    deliver(aws, task_stopped_event(tasks[2]))

    data = json.loads(aws.s3.get_object(Bucket=BUCKET, Key=report_key(job_id))["Body"].read())
    assert data["status"] == "PARTIAL"
    assert data["tasks_used"] == 3
    by_name = {s["scene_name"]: s for s in data["scenes"]}
    assert by_name["scene_001"]["error"] == (
        f"the task stopped before it reported this scene ({SPOT_REASON})"
    )
    first_batch = data["task_results"][0]
    assert (first_batch["status"], first_batch["attempt"], first_batch["stop_code"]) == (
        "FAILED", 2, "TaskFailedToStart",
    )  # fmt: skip
    assert aws.receiver.wait_for(1, timeout=5)[0].type == "job.partial"


@pytest.mark.parametrize(
    ("results", "stop_code"),
    [
        ({"scene_001": "succeeded", "scene_002": "failed"}, "SpotInterruption"),  # all reported
        ({"scene_001": "succeeded"}, "UserInitiated"),  # somebody stopped it on purpose
        ({"scene_001": "succeeded"}, "EssentialContainerExited"),  # the worker itself died
    ],
)
def test_stops_that_would_repeat_or_left_nothing_unreported_are_not_retried(
    aws: Aws, results: dict[str, str], stop_code: str
):
    job_id, tasks = start_job(aws)
    aws.write_results(job_id, results)

    deliver(aws, interrupted(tasks[1], stop_code=stop_code))

    batch = aws.svc().store.get_batch(job_id, 1)
    assert batch is not None
    assert (batch.status, batch.attempt, batch.scenes_succeeded) == ("PARTIAL", 1, 1)


def test_a_retry_that_cannot_launch_keeps_what_the_first_task_finished(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
):
    job_id, tasks = start_job(aws)
    aws.write_results(job_id, {"scene_001": "succeeded"})
    # given ECS refuses every new task from now on
    monkeypatch.setenv("CLOUDBURST_TASK_DEFINITION", "no-such-family:1")
    _reset_caches()

    deliver(aws, interrupted(tasks[1]))

    batch = aws.svc().store.get_batch(job_id, 1)
    assert batch is not None
    assert (batch.status, batch.attempt, batch.scenes_succeeded, batch.scenes_failed) == (
        "PARTIAL", 2, 1, 1,
    )  # fmt: skip
    assert batch.error is not None
    assert batch.error.startswith("RunTask failed: ")
    job = aws.svc().store.get_job(job_id)
    assert job is not None
    assert (job.scenes_succeeded, job.scenes_failed, job.tasks_running) == (1, 1, 1)
