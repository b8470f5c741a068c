"""Task stopped → batch final with cost, next batches launched, report + one webhook at the end."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.contracts import status_key
from chalicelib.model import BatchStatus, JobStatus, WebhookState
from chalicelib.usecases import completion, launching

SCENES = ["scene_001", "scene_002", "scene_003", "scene_004"]
# 1 vCPU, 2 GB on-demand x86 in us-east-1, billed 96 s (95.5 rounded up).
STORAGE_HOURLY = (34 - 20) * 0.000111  # the task's ephemeral storage above the free 20 GiB
COMPUTE_96S = (1 * 0.04048 + 2 * 0.004445) * 96 / 3600
COST_96S = COMPUTE_96S + STORAGE_HOURLY * 96 / 3600


def start_job(aws, **options) -> tuple[str, dict[int, dict]]:
    aws.put_assets(SCENES)
    options = {"scenes_per_batch": 2, "max_parallel_tasks": 2, "config_priority": 5, **options}
    job_id = aws.submit(SCENES, **options)
    return job_id, aws.tasks_by_batch()


def test_a_stopped_task_finalises_its_batch_with_the_fargate_cost(aws):
    job_id, tasks = start_job(aws)
    aws.write_results(job_id, {"scene_001": "succeeded", "scene_002": "succeeded"})

    aws.stop(tasks[1])

    batch = aws.svc.jobs.get_batch(job_id, 1)
    assert (batch.status, batch.scenes_succeeded, batch.billed_seconds) == ("SUCCEEDED", 2, 96)
    assert batch.cost_usd == pytest.approx(COST_96S, abs=1e-8)
    assert batch.cost_estimated is False
    status = aws.status(job_id)
    assert (status["status"], status["batches_final"], status["tasks_running"]) == (
        "RUNNING",
        1,
        1,
    )
    assert status["scenes_succeeded"] == 2
    assert status["cost_usd"] == pytest.approx(COST_96S, abs=1e-8)
    assert aws.receiver.deliveries == []


def test_the_last_batch_writes_the_report_and_sends_one_signed_webhook(aws):
    job_id, tasks = start_job(aws)
    aws.write_results(job_id, dict.fromkeys(SCENES, "succeeded"))

    aws.stop(tasks[1])
    aws.stop(tasks[2], seconds=30)

    data = aws.report(job_id)
    assert data["status"] == "SUCCEEDED"
    assert data["success"] is True
    assert (data["total_scenes"], data["successful_scenes"], data["failed_scenes"]) == (4, 4, 0)
    assert data["tasks_used"] == 2
    assert data["total_cost_usd"] == pytest.approx(COST_96S + COST_96S * 60 / 96, abs=1e-6)
    assert data["cost_estimated"] is False
    assert [s["scene_name"] for s in data["scenes"]] == SCENES
    assert data["outputs"] == [f"outputs/{job_id}/{name}.mp4" for name in SCENES]
    assert data["outputs_prefix"] == f"outputs/{job_id}/"
    assert data["manifest_key"] == "manifests/ep1.json"
    assert [t["billed_seconds"] for t in data["task_results"]] == [96, 60]
    assert [t["scenes"] for t in data["task_results"]] == [SCENES[:2], SCENES[2:]]
    assert data["efficiency"]["cost_per_scene"] == pytest.approx(
        data["total_cost_usd"] / 4, abs=1e-6
    )
    assert data["efficiency"]["processing_efficiency"] == pytest.approx(
        100 * 8 / (96 + 60), abs=0.1
    )
    assert data["webhook"] == {"state": "DELIVERED", "attempts": 1, "error": None}
    [delivery] = aws.receiver.wait_for(1, timeout=5)
    assert delivery.type == "job.succeeded"
    sent = delivery.body["data"]
    assert {k: sent[k] for k in ("job_id", "status", "total_cost_usd", "outputs")} == {
        k: data[k] for k in ("job_id", "status", "total_cost_usd", "outputs")
    }
    assert sent["report_key"] == f"outputs/{job_id}/job.json"
    assert sent["report_url"].startswith("https://")
    # moto's test credentials are long-term: the link lasts the asked 24 h, and says so
    expires = datetime.fromisoformat(sent["report_url_expires_at"])
    assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(hours=24)
    job = aws.job(job_id)
    assert (job.status, job.webhook_state) == (JobStatus.SUCCEEDED, WebhookState.DELIVERED)
    assert aws.svc.slots.taken() == 0
    assert aws.status(job_id)["report_key"] == f"outputs/{job_id}/job.json"


def test_duplicate_stop_event_is_ignored(aws):
    job_id, tasks = start_job(aws)
    aws.write_results(job_id, dict.fromkeys(SCENES, "succeeded"))

    for _ in range(3):
        aws.stop(tasks[1])

    status = aws.status(job_id)
    assert (status["batches_final"], status["scenes_succeeded"], status["tasks_running"]) == (
        1,
        2,
        1,
    )
    assert status["cost_usd"] == pytest.approx(COST_96S, abs=1e-8)


def test_an_older_event_after_a_newer_one_changes_nothing(aws):
    job_id, tasks = start_job(aws)
    aws.write_results(job_id, dict.fromkeys(SCENES, "succeeded"))
    aws.stop(tasks[1], version=5, seconds=200)

    aws.stop(tasks[1], version=4, seconds=30, exit_code=1)

    batch = aws.svc.jobs.get_batch(job_id, 1)
    assert (batch.billed_seconds, batch.exit_code) == (200, 0)


def test_events_of_tasks_that_are_not_ours_are_ignored(aws):
    job_id, tasks = start_job(aws)
    foreign = {**tasks[1], "startedBy": "someone-else"}
    wrong_task = {**tasks[1], "taskArn": tasks[1]["taskArn"] + "x"}

    aws.stop(foreign)
    aws.stop(wrong_task)

    assert all(not b.is_final for b in aws.batches(job_id))


def test_failed_and_unreported_scenes_make_a_partial_job_with_reasons(aws):
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

    aws.stop(tasks[1], exit_code=1)
    aws.stop(tasks[2], exit_code=137)  # killed (out of memory): not retried

    data = aws.report(job_id)
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


def test_a_job_with_no_successful_scene_fails(aws):
    job_id, tasks = start_job(aws)

    aws.stop(tasks[1], exit_code=1)
    aws.stop(tasks[2], exit_code=1)

    assert aws.report(job_id)["status"] == "FAILED"
    assert aws.receiver.wait_for(1, timeout=5)[0].type == "job.failed"


def test_a_stopped_task_frees_a_slot_for_the_oldest_waiting_batch(aws, with_settings):
    with_settings(aws, max_running_tasks=1)
    job_a, tasks_a = start_job(aws)
    aws.put_assets(["late"])
    job_b = aws.deliver(aws.upload_manifest(["late"], key="manifests/b.json"))
    assert [b.status for b in aws.batches(job_b)] == ["PENDING"]
    aws.write_results(job_a, {"scene_001": "succeeded", "scene_002": "succeeded"})

    aws.stop(tasks_a[1])

    assert [b.status for b in aws.batches(job_a)] == ["SUCCEEDED", "RUNNING"]
    assert [b.status for b in aws.batches(job_b)] == ["PENDING"]
    assert aws.svc.slots.taken() == 1


def test_spot_tasks_are_priced_at_spot_rates(aws):
    job_id, tasks = start_job(aws, spot=True)
    assert tasks[1]["capacityProviderName"] == "FARGATE_SPOT"

    aws.stop(tasks[1], spot=True)

    batch = aws.svc.jobs.get_batch(job_id, 1)
    assert batch.cost_usd == pytest.approx(COMPUTE_96S * 0.3 + STORAGE_HOURLY * 96 / 3600, abs=1e-8)


def test_an_event_without_memory_is_billed_for_the_memory_the_task_was_given(aws):
    job_id, tasks = start_job(aws)  # config_priority 5: 1 vCPU, 2 GB

    aws.stop(tasks[1], cpu=None, memory=None)

    batch = aws.svc.jobs.get_batch(job_id, 1)
    assert batch.cost_usd == pytest.approx(COST_96S, abs=1e-8)
    assert batch.cost_estimated is False


def test_a_redelivered_event_finishes_a_job_whose_first_invocation_died(aws):
    job_id, tasks = start_job(aws)
    aws.write_results(job_id, dict.fromkeys(SCENES, "succeeded"))
    aws.stop(tasks[1])
    last = aws.stopped_event(tasks[2])
    # The first delivery recorded the batch, then its Lambda died before ending the job.
    assert completion.record_task_stopped(last, aws.svc) is not None
    assert aws.job(job_id).status is JobStatus.RUNNING

    aws.stop(tasks[2])

    assert aws.report(job_id)["status"] == "SUCCEEDED"
    assert [d.type for d in aws.receiver.wait_for(1, timeout=5)] == ["job.succeeded"]


def test_a_batch_ecs_refuses_to_run_fails_with_the_reason_and_ends_the_job(aws):
    aws.refuse_every_launch()

    job_id, tasks = start_job(aws)

    assert tasks == {}
    data = aws.report(job_id)
    assert data["status"] == "FAILED"
    assert [t["status"] for t in data["task_results"]] == ["FAILED", "FAILED"]
    assert all(t["error"].startswith("RunTask failed: ") for t in data["task_results"])
    assert all(s["error"].startswith("RunTask failed: ") for s in data["scenes"])
    assert data["tasks_used"] == 0
    assert aws.receiver.wait_for(1, timeout=5)[0].type == "job.failed"
    assert aws.svc.slots.taken() == 0


def test_capacity_trouble_puts_the_batch_back_in_the_queue(aws):
    job_id = aws.submit_while_fargate_has_no_capacity()
    assert aws.svc.slots.taken() == 0

    assert launching.launch_pending(aws.svc).started == 1

    assert [b.status for b in aws.batches(job_id)] == [BatchStatus.RUNNING]


def test_a_second_task_for_one_batch_is_stopped(aws):
    job_id, tasks = start_job(aws, scenes_per_batch=4, max_parallel_tasks=1)
    [batch] = aws.batches(job_id)
    # given a racing invocation that read the queue before the batch left it, and an ECS
    # that started a second task despite the same client token
    aws.cluster.honour_tokens = False
    stale = replace(batch, status=BatchStatus.PENDING, task_arn=None)

    launches = launching.launch_pending(aws.svc, [stale])

    assert launches.started == 0
    described = {t["taskArn"]: t for t in aws.tasks()}
    assert len(described) == 2
    [recorded] = aws.batches(job_id)
    assert recorded.task_arn == tasks[1]["taskArn"]
    [duplicate] = [arn for arn in described if arn != recorded.task_arn]
    assert described[duplicate]["desiredStatus"] == "STOPPED"
    assert aws.svc.slots.taken() == 1


def test_each_event_writes_the_status_document_once(aws, monkeypatch):
    job_id, tasks = start_job(aws)
    aws.write_results(job_id, dict.fromkeys(SCENES, "succeeded"))
    written: list[str] = []
    put_json = aws.documents.put_json

    def counted(key, document, **options):
        written.append(key)
        put_json(key, document, **options)

    monkeypatch.setattr(aws.documents, "put_json", counted)

    aws.stop(tasks[1])  # a batch ends
    aws.stop(tasks[2])  # the last batch ends, and with it the job
    aws.request_cancel(job_id)  # too late: nothing changes

    assert written.count(status_key(job_id)) == 3
    assert aws.status(job_id)["status"] == "SUCCEEDED"
