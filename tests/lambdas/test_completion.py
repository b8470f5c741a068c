"""Task stopped → batch final with cost, next batches launched, report + one webhook at the end."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from chalicelib.contracts import report_key
from chalicelib.events import ObjectCreatedEvent, TaskStateChangeEvent
from chalicelib.service import record_task_stopped, submit_manifest

from .conftest import BUCKET, Aws, submit_while_fargate_has_no_capacity, task_stopped_event

SCENES = ["scene_001", "scene_002", "scene_003", "scene_004"]
# 1 vCPU, 2 GB on-demand x86 in us-east-1, billed 96 s (95.5 rounded up).
COST_96S = (1 * 0.04048 + 2 * 0.004445) * 96 / 3600


def start_job(aws: Aws, **options) -> tuple[str, dict[int, dict]]:
    aws.put_assets(SCENES)
    options = {"scenes_per_batch": 2, "max_parallel_tasks": 2, "config_priority": 5, **options}
    job_id = submit_manifest(
        ObjectCreatedEvent.model_validate(aws.upload_manifest(SCENES, **options)), aws.svc()
    )
    tasks = {int(t["startedBy"].rsplit("/", 1)[1]): t for t in aws.tasks()}
    return job_id, tasks


def stop(aws: Aws, task: dict, **kwargs) -> None:
    record_task_stopped(
        TaskStateChangeEvent.model_validate(task_stopped_event(task, **kwargs)), aws.svc()
    )


def report(aws: Aws, job_id: str) -> dict:
    return json.loads(aws.s3.get_object(Bucket=BUCKET, Key=report_key(job_id))["Body"].read())


def test_a_stopped_task_finalises_its_batch_with_the_fargate_cost(aws: Aws):
    job_id, tasks = start_job(aws)
    aws.write_results(job_id, {"scene_001": "succeeded", "scene_002": "succeeded"})

    stop(aws, tasks[1])

    batch = aws.svc().store.get_batch(job_id, 1)
    assert batch is not None
    assert (batch.status, batch.scenes_succeeded, batch.billed_seconds) == ("SUCCEEDED", 2, 96)
    assert batch.cost_usd == pytest.approx(COST_96S, abs=1e-8)
    job = aws.svc().store.get_job(job_id)
    assert job is not None
    assert (job.status, job.batches_final, job.tasks_running, job.scenes_succeeded) == (
        "RUNNING",
        1,
        1,
        2,
    )
    assert aws.receiver.deliveries == []


def test_the_last_batch_writes_the_report_and_sends_one_signed_webhook(aws: Aws):
    job_id, tasks = start_job(aws)
    aws.write_results(job_id, dict.fromkeys(SCENES, "succeeded"))

    stop(aws, tasks[1])
    stop(aws, tasks[2], seconds=30)

    data = report(aws, job_id)
    assert data["status"] == "SUCCEEDED"
    assert data["success"] is True
    assert (data["total_scenes"], data["successful_scenes"], data["failed_scenes"]) == (4, 4, 0)
    assert data["tasks_used"] == 2
    assert data["total_cost_usd"] == pytest.approx(COST_96S + COST_96S * 60 / 96, abs=1e-6)
    assert [s["scene_name"] for s in data["scenes"]] == SCENES
    assert data["outputs"] == [f"outputs/{job_id}/{name}.mp4" for name in SCENES]
    assert data["outputs_prefix"] == f"outputs/{job_id}/"
    assert data["manifest_key"] == "manifests/ep1.json"
    assert [t["billed_seconds"] for t in data["task_results"]] == [96, 60]
    assert data["efficiency"]["cost_per_scene"] == pytest.approx(
        data["total_cost_usd"] / 4, abs=1e-6
    )
    assert data["efficiency"]["processing_efficiency"] == pytest.approx(
        100 * 8 / (96 + 60), abs=0.1
    )
    [delivery] = aws.receiver.wait_for(1, timeout=5)
    assert delivery.type == "job.succeeded"
    assert delivery.body["data"] == data
    job = aws.svc().store.get_job(job_id)
    assert job is not None
    assert (job.status, job.webhook_state, job.tasks_running) == ("SUCCEEDED", "DELIVERED", 0)
    assert aws.svc().store.running_tasks() == 0


def test_duplicate_stop_event_is_ignored(aws: Aws):
    job_id, tasks = start_job(aws)
    aws.write_results(job_id, dict.fromkeys(SCENES, "succeeded"))
    event = TaskStateChangeEvent.model_validate(task_stopped_event(tasks[1]))

    for _ in range(3):
        record_task_stopped(event, aws.svc())

    job = aws.svc().store.get_job(job_id)
    assert job is not None
    assert (job.batches_final, job.scenes_succeeded, job.tasks_running) == (1, 2, 1)
    assert job.total_cost_usd == pytest.approx(COST_96S, abs=1e-8)


def test_an_older_event_after_a_newer_one_changes_nothing(aws: Aws):
    job_id, tasks = start_job(aws)
    aws.write_results(job_id, dict.fromkeys(SCENES, "succeeded"))
    stop(aws, tasks[1], version=5, seconds=200)

    stop(aws, tasks[1], version=4, seconds=30, exit_code=1)

    batch = aws.svc().store.get_batch(job_id, 1)
    assert batch is not None
    assert (batch.billed_seconds, batch.exit_code) == (200, 0)


def test_events_of_tasks_that_are_not_ours_are_ignored(aws: Aws):
    job_id, tasks = start_job(aws)
    foreign = {**tasks[1], "startedBy": "someone-else"}
    wrong_task = {**tasks[1], "taskArn": tasks[1]["taskArn"] + "x"}

    stop(aws, foreign)
    stop(aws, wrong_task)

    job = aws.svc().store.get_job(job_id)
    assert job is not None
    assert job.batches_final == 0


def test_failed_and_unreported_scenes_make_a_partial_job_with_reasons(aws: Aws):
    job_id, tasks = start_job(aws)
    aws.write_results(
        job_id,
        {
            "scene_001": "succeeded",
            "scene_002": "failed",
            "scene_003": "succeeded",
            "scene_004": None,
        },
    )

    stop(aws, tasks[1], exit_code=1)
    stop(aws, tasks[2], exit_code=137)  # killed (out of memory): not retried

    data = report(aws, job_id)
    assert data["status"] == "PARTIAL"
    assert (data["successful_scenes"], data["failed_scenes"]) == (2, 2)
    by_name = {s["scene_name"]: s for s in data["scenes"]}
    assert by_name["scene_002"]["error"] == "audio for scene 'scene_002' could not be decoded"
    assert by_name["scene_004"]["error"].startswith(
        "the task stopped before it reported this scene"
    )
    assert data["outputs"] == [f"outputs/{job_id}/scene_001.mp4", f"outputs/{job_id}/scene_003.mp4"]
    assert [(t["status"], t["exit_code"], t["stop_code"]) for t in data["task_results"]] == [
        ("PARTIAL", 1, "EssentialContainerExited"),
        ("PARTIAL", 137, "EssentialContainerExited"),
    ]
    [delivery] = aws.receiver.wait_for(1, timeout=5)
    assert delivery.type == "job.partial"


def test_a_job_with_no_successful_scene_fails(aws: Aws):
    job_id, tasks = start_job(aws)

    stop(aws, tasks[1], exit_code=1)
    stop(aws, tasks[2], exit_code=1)

    assert report(aws, job_id)["status"] == "FAILED"
    assert aws.receiver.wait_for(1, timeout=5)[0].type == "job.failed"


def test_a_stopped_task_frees_a_slot_for_the_oldest_waiting_batch(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
):
    from .conftest import _reset_caches

    monkeypatch.setenv("CLOUDBURST_MAX_RUNNING_TASKS", "1")
    _reset_caches()
    job_a, tasks_a = start_job(aws)
    aws.put_assets(["late"])
    job_b = submit_manifest(
        ObjectCreatedEvent.model_validate(aws.upload_manifest(["late"], key="manifests/b.json")),
        aws.svc(),
    )
    assert [b.status for b in aws.svc().store.list_batches(job_b)] == ["PENDING"]

    aws.write_results(job_a, {"scene_001": "succeeded", "scene_002": "succeeded"})

    stop(aws, tasks_a[1])

    assert [b.status for b in aws.svc().store.list_batches(job_a)] == ["SUCCEEDED", "RUNNING"]
    assert [b.status for b in aws.svc().store.list_batches(job_b)] == ["PENDING"]
    assert aws.svc().store.running_tasks() == 1


def test_spot_tasks_are_priced_at_spot_rates(aws: Aws):
    job_id, _ = start_job(aws, spot=True)
    task = next(t for t in aws.tasks() if t["startedBy"].endswith("/0001"))
    assert task["capacityProviderName"] == "FARGATE_SPOT"
    event = task_stopped_event(task)
    event["detail"]["capacityProviderName"] = "FARGATE_SPOT"
    del event["detail"]["launchType"]

    record_task_stopped(TaskStateChangeEvent.model_validate(event), aws.svc())

    batch = aws.svc().store.get_batch(job_id, 1)
    assert batch is not None
    assert batch.cost_usd == pytest.approx(COST_96S * 0.3, abs=1e-8)


def test_a_redelivered_event_finishes_a_job_whose_first_invocation_died(aws: Aws):
    from chalicelib.service import _batch_outcome

    job_id, tasks = start_job(aws)
    aws.write_results(job_id, dict.fromkeys(SCENES, "succeeded"))
    stop(aws, tasks[1])
    last = TaskStateChangeEvent.model_validate(task_stopped_event(tasks[2]))
    batch = aws.svc().store.get_batch(job_id, 2)
    assert batch is not None
    # The first delivery recorded the batch, then its Lambda died before finishing the job.
    outcome, _ = _batch_outcome(aws.svc(), last, batch)
    assert aws.svc().store.finish_batch(job_id, 2, outcome, task_arn=batch.task_arn)

    record_task_stopped(last, aws.svc())

    assert report(aws, job_id)["status"] == "SUCCEEDED"
    assert [d.type for d in aws.receiver.wait_for(1, timeout=5)] == ["job.succeeded"]


def test_a_batch_ecs_refuses_to_run_fails_with_the_reason_and_ends_the_job(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
):
    from .conftest import _reset_caches

    monkeypatch.setenv("CLOUDBURST_TASK_DEFINITION", "no-such-family:1")
    _reset_caches()

    job_id, tasks = start_job(aws)

    assert tasks == {}
    data = report(aws, job_id)
    assert data["status"] == "FAILED"
    assert [t["status"] for t in data["task_results"]] == ["FAILED", "FAILED"]
    assert all(t["error"].startswith("RunTask failed: ") for t in data["task_results"])
    assert all(s["error"].startswith("RunTask failed: ") for s in data["scenes"])
    assert aws.receiver.wait_for(1, timeout=5)[0].type == "job.failed"
    assert aws.svc().store.running_tasks() == 0


def test_capacity_trouble_puts_the_batch_back_in_the_queue(aws: Aws):
    from chalicelib.service import launch_pending

    job_id = submit_while_fargate_has_no_capacity(aws)
    svc = aws.svc()
    assert svc.store.running_tasks() == 0

    assert launch_pending(svc) == 1

    assert [b.status for b in svc.store.list_batches(job_id)] == ["RUNNING"]


def test_a_second_task_for_one_batch_is_stopped(aws: Aws):
    from chalicelib.service import _run_batch

    job_id, tasks = start_job(aws, scenes_per_batch=4, max_parallel_tasks=1)
    svc = aws.svc()
    batch = svc.store.get_batch(job_id, 1)
    job = svc.store.get_job(job_id)
    assert batch is not None
    # given a racing invocation that read the queue before the batch left it
    stale = replace(batch, status="PENDING", task_arn=None)

    outcome = _run_batch(svc, job, stale)

    assert outcome == ("skipped", None)
    described = {t["taskArn"]: t for t in aws.tasks()}
    assert len(described) == 2
    recorded = svc.store.get_batch(job_id, 1)
    assert recorded is not None
    assert recorded.task_arn == tasks[1]["taskArn"]
    [duplicate] = [arn for arn in described if arn != recorded.task_arn]
    assert described[duplicate]["desiredStatus"] == "STOPPED"
