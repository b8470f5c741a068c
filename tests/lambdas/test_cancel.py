"""A user's cancel request stops that job only: its tasks stopped, its waiting batches never
launched, the MP4s made kept, the cost of what ran counted, a signed job.cancelled sent."""

from __future__ import annotations

from chalicelib.model import BatchStatus, JobStatus

SCENES = ["scene_001", "scene_002", "scene_003", "scene_004"]


def test_cancelling_mid_job_stops_its_tasks_and_never_launches_its_waiting_batches(
    aws, with_settings
):
    with_settings(aws, max_running_tasks=2)
    aws.put_assets([*SCENES, "other"])
    job_id = aws.submit(SCENES, scenes_per_batch=1, max_parallel_tasks=4, min_scenes_per_batch=1)
    other = aws.deliver(aws.upload_manifest(["other"], key="manifests/other.json"))
    running = aws.tasks_by_batch()
    assert [b.status for b in aws.batches(job_id)] == ["RUNNING", "RUNNING", "PENDING", "PENDING"]
    aws.write_results(job_id, {"scene_001": "succeeded"})

    aws.request_cancel(job_id, "wrong voice")

    assert aws.status(job_id)["cancel_requested"] is True
    described = {t["taskArn"]: t for t in aws.tasks()}
    assert {described[t["taskArn"]]["desiredStatus"] for t in running.values()} == {"STOPPED"}
    assert (
        described[running[1]["taskArn"]]["stoppedReason"]
        == "CloudBurst: job cancelled: wrong voice"
    )
    assert [b.status for b in aws.batches(job_id)][2:] == [BatchStatus.CANCELLED] * 2
    # the stopped tasks' events end their batches (no retry); the freed slots go elsewhere
    aws.stop(running[1], stop_code="UserInitiated", exit_code=143)
    aws.stop(running[2], stop_code="UserInitiated", exit_code=143)

    report = aws.report(job_id)
    assert (report["status"], report["cancel_reason"]) == ("CANCELLED", "wrong voice")
    assert (report["successful_scenes"], report["failed_scenes"]) == (1, 3)
    assert report["outputs"] == [f"outputs/{job_id}/scene_001.mp4"]
    assert report["total_cost_usd"] > 0
    assert report["tasks_used"] == 2
    [delivery] = aws.receiver.wait_for(1, timeout=5)
    assert (delivery.type, delivery.body["data"]["job_id"]) == ("job.cancelled", job_id)
    assert aws.status(job_id)["status"] == "CANCELLED"
    assert [b.status for b in aws.batches(other)] == [BatchStatus.RUNNING]
    assert aws.job(other).status is JobStatus.RUNNING


def test_a_job_with_only_waiting_batches_is_cancelled_at_once(aws):
    job_id = aws.submit_while_fargate_has_no_capacity()

    aws.request_cancel(job_id)

    assert aws.job(job_id).status is JobStatus.CANCELLED
    assert aws.report(job_id)["cancel_reason"] == "cancelled by the user"
    assert aws.tasks() == []
    assert [d.type for d in aws.receiver.wait_for(1, timeout=5)] == ["job.cancelled"]


def test_cancelling_twice_or_after_the_end_changes_nothing(aws):
    job_id = aws.submit_while_fargate_has_no_capacity()
    aws.request_cancel(job_id, "first")

    aws.request_cancel(job_id, "second")
    aws.request_cancel("no-such-job-000000000000")

    assert aws.report(job_id)["cancel_reason"] == "first"
    assert len(aws.receiver.wait_for(1, timeout=5)) == 1
    assert aws.status(job_id)["webhook"]["attempts"] == 1


def test_a_launch_racing_the_cancel_stops_its_own_task(aws):
    aws.put_assets(["one"])
    job_id = aws.submit_while_fargate_has_no_capacity()
    # given the cancel marks the job while a sweeper is about to launch its batch
    assert aws.svc.jobs.request_cancel(job_id, "late")

    aws.sweep()

    assert aws.tasks() == []
    assert aws.job(job_id).status is JobStatus.CANCELLED
