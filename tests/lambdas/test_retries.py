"""A task stopped by Spot (or that never started) leaves unreported scenes: they run again."""

from __future__ import annotations

import pytest

from chalicelib.model import BatchStatus, JobStatus

SCENES = ["scene_001", "scene_002", "scene_003", "scene_004"]
# 1 vCPU, 2 GB on-demand x86 in us-east-1, per billed second
# vCPU, memory and the 14 GiB of ephemeral storage above the free 20 (chalicelib.pricing)
PER_SECOND = (1 * 0.04048 + 2 * 0.004445 + 14 * 0.000111) / 3600
SPOT_REASON = "Your Spot Task was interrupted."


def start_job(aws) -> tuple[str, dict[int, dict]]:
    aws.put_assets(SCENES)
    job_id = aws.submit(SCENES, scenes_per_batch=2, max_parallel_tasks=2, config_priority=5)
    return job_id, aws.tasks_by_batch()


def current_task(aws, job_id: str, number: int) -> dict:
    """The task the batch now waits for, as ECS describes it."""
    batch = aws.svc.jobs.get_batch(job_id, number)
    [task] = [t for t in aws.tasks() if t["taskArn"] == batch.task_arn]
    return task


def interrupt(aws, task: dict, *, seconds: float = 40, stop_code: str = "SpotInterruption"):
    aws.stop(task, exit_code=None, seconds=seconds, stop_code=stop_code, reason=SPOT_REASON)


def test_a_spot_interrupted_batch_runs_again_for_its_unreported_scenes(aws):
    job_id, tasks = start_job(aws)
    first = tasks[1]
    # given the first task rendered scene_001 before Spot took its capacity back
    aws.write_results(job_id, {"scene_001": "succeeded"})

    interrupt(aws, first)

    # then batch 1 is running again, on a new task, as attempt 2, its first task's cost kept
    batch = aws.svc.jobs.get_batch(job_id, 1)
    retry_task = current_task(aws, job_id, 1)
    assert retry_task["taskArn"] != first["taskArn"]
    assert retry_task["startedBy"] == first["startedBy"]
    assert (batch.status, batch.attempt, batch.task_arn) == ("RUNNING", 2, retry_task["taskArn"])
    assert batch.last_stop_code == "SpotInterruption"
    assert (batch.billed_seconds, batch.cost_usd) == (60, pytest.approx(60 * PER_SECOND, abs=1e-8))
    status = aws.status(job_id)
    assert (status["status"], status["batches_final"], status["tasks_running"]) == (
        "RUNNING", 0, 2,
    )  # fmt: skip
    assert status["cost_usd"] == pytest.approx(60 * PER_SECOND, abs=1e-8)
    assert aws.svc.slots.taken() == 2
    assert aws.receiver.deliveries == []

    # when the retry reports the rest and both batches finish
    aws.write_results(job_id, dict.fromkeys(SCENES, "succeeded"))
    aws.stop(retry_task)
    aws.stop(tasks[2])

    # then the job succeeded, and its report counts three tasks and both attempts' cost
    data = aws.report(job_id)
    assert data["status"] == "SUCCEEDED"
    assert data["tasks_used"] == 3
    assert data["total_cost_usd"] == pytest.approx((60 + 96 + 96) * PER_SECOND, abs=1e-6)
    first_batch = data["task_results"][0]
    assert (first_batch["attempt"], first_batch["retried_after"]) == (2, "SpotInterruption")
    assert first_batch["billed_seconds"] == 60 + 96
    assert [d.type for d in aws.receiver.wait_for(1, timeout=5)] == ["job.succeeded"]
    assert aws.svc.slots.taken() == 0


def test_a_late_copy_of_the_interrupted_tasks_event_changes_nothing(aws):
    job_id, tasks = start_job(aws)
    interrupt(aws, tasks[1])
    retry_arn = current_task(aws, job_id, 1)["taskArn"]
    assert retry_arn != tasks[1]["taskArn"]

    interrupt(aws, tasks[1])

    batch = aws.svc.jobs.get_batch(job_id, 1)
    assert (batch.status, batch.attempt, batch.task_arn) == ("RUNNING", 2, retry_arn)
    assert aws.status(job_id)["tasks_running"] == 2
    assert aws.svc.slots.taken() == 2


def test_retries_end_at_the_attempt_limit_with_the_stop_reason_on_each_scene(aws, with_settings):
    with_settings(aws, max_task_attempts=2)
    job_id, tasks = start_job(aws)
    aws.write_results(job_id, {"scene_003": "succeeded", "scene_004": "succeeded"})

    interrupt(aws, tasks[1])
    interrupt(aws, current_task(aws, job_id, 1), stop_code="TaskFailedToStart")
    aws.stop(tasks[2])

    data = aws.report(job_id)
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
    aws, results: dict[str, str], stop_code: str
):
    job_id, tasks = start_job(aws)
    aws.write_results(job_id, results)

    interrupt(aws, tasks[1], stop_code=stop_code)

    batch = aws.svc.jobs.get_batch(job_id, 1)
    assert (batch.status, batch.attempt, batch.scenes_succeeded) == ("PARTIAL", 1, 1)


def test_a_retry_that_cannot_launch_keeps_what_the_first_task_finished(aws, with_settings):
    job_id, tasks = start_job(aws)
    aws.write_results(job_id, {"scene_001": "succeeded"})
    # given ECS refuses every new task from now on
    aws.refuse_every_launch()

    interrupt(aws, tasks[1])

    batch = aws.svc.jobs.get_batch(job_id, 1)
    assert (batch.status, batch.attempt, batch.scenes_succeeded, batch.scenes_failed) == (
        BatchStatus.PARTIAL, 2, 1, 1,
    )  # fmt: skip
    assert batch.error is not None
    assert batch.error.startswith("RunTask failed: ")
    status = aws.status(job_id)
    assert (status["scenes_succeeded"], status["scenes_failed"], status["tasks_running"]) == (
        1, 1, 1,
    )  # fmt: skip
    assert status["tasks_used"] == 2
    assert aws.job(job_id).status is JobStatus.RUNNING
