"""What a user following a job sees: scenes as they finish, the reasons of any outcome, one
count in every document, and the job an upload started found from the upload alone."""

from __future__ import annotations

import json

from chalicelib.contracts import upload_pointer_key
from chalicelib.events import ObjectCreatedEvent
from chalicelib.model import JobStatus
from chalicelib.usecases import reactions

SCENES = ["scene_001", "scene_002", "scene_003"]
FONT_ERROR = "no installed font can draw '🎬'"


def start_one_task_job(aws) -> tuple[str, dict]:
    aws.put_assets(SCENES)
    job_id = aws.submit(SCENES, scenes_per_batch=10, min_scenes_per_batch=1)
    [task] = aws.tasks()
    return job_id, task


def test_scenes_count_as_their_result_records_arrive_not_when_the_task_ends(aws):
    job_id, _ = start_one_task_job(aws)
    assert aws.status(job_id)["eta_seconds"] is None  # no scene done: no rate yet

    aws.report_scenes(job_id, {"scene_001": "succeeded"})

    status = aws.status(job_id)
    assert status["status"] == "RUNNING"
    assert (status["scenes_succeeded"], status["scenes_failed"], status["total_scenes"]) == (
        1, 0, 3,
    )  # fmt: skip
    assert status["tasks_running"] == 1
    assert status["eta_seconds"] is not None


def test_a_redelivered_result_event_changes_nothing(aws):
    job_id, _ = start_one_task_job(aws)
    [event] = aws.report_scenes(job_id, {"scene_002": "failed"})
    before = aws.svc.jobs.get_batch(job_id, 1)

    reactions.scene_reported(ObjectCreatedEvent.model_validate(event), aws.svc)

    assert aws.svc.jobs.get_batch(job_id, 1) == before
    assert (before.reported_succeeded, before.reported_failed) == (0, 1)
    status = aws.status(job_id)
    assert (status["scenes_succeeded"], status["scenes_failed"]) == (0, 1)


def test_a_scene_failed_then_rendered_by_a_retry_counts_once_as_succeeded(aws):
    job_id, _ = start_one_task_job(aws)
    aws.report_scenes(job_id, {"scene_001": "failed"})

    aws.report_scenes(job_id, {"scene_001": "succeeded"})

    status = aws.status(job_id)
    assert (status["scenes_succeeded"], status["scenes_failed"]) == (1, 0)


def test_the_task_ending_takes_over_the_count_without_counting_twice(aws):
    job_id, task = start_one_task_job(aws)
    aws.report_scenes(job_id, dict.fromkeys(SCENES, "succeeded"))

    aws.stop(task)

    status = aws.status(job_id)
    assert (status["status"], status["scenes_succeeded"], status["total_scenes"]) == (
        "SUCCEEDED", 3, 3,
    )  # fmt: skip
    assert status["eta_seconds"] is None


def test_a_result_record_after_the_job_ended_leaves_the_final_status(aws):
    job_id, task = start_one_task_job(aws)
    aws.write_results(job_id, dict.fromkeys(SCENES, "succeeded"))
    aws.stop(task)
    final = aws.status(job_id)

    aws.report_scenes(job_id, {"scene_001": "succeeded"})

    assert aws.status(job_id) == final


def test_a_partial_jobs_status_document_names_why_its_scene_failed(aws):
    job_id, task = start_one_task_job(aws)
    aws.write_results(job_id, {"scene_001": "succeeded", "scene_002": "succeeded"})
    aws.write_results(job_id, {"scene_003": "failed"})
    record = json.loads(aws.documents.read(f"jobs/{job_id}/results/scene_003.json"))
    record["error"] = FONT_ERROR
    aws.documents.put(f"jobs/{job_id}/results/scene_003.json", json.dumps(record))

    aws.stop(task, exit_code=1)

    status = aws.status(job_id)
    assert status["status"] == "PARTIAL"
    assert status["errors"] == [f"scene_003: {FONT_ERROR}"]
    assert status["errors_total"] == 1
    assert aws.job(job_id).errors == [f"scene_003: {FONT_ERROR}"]


def test_a_cancelled_jobs_status_says_why_and_counts_as_its_report_does(aws):
    job_id, task = start_one_task_job(aws)
    aws.report_scenes(job_id, {"scene_001": "succeeded"})

    aws.request_cancel(job_id, reason="wrong slides")
    aws.stop(task, exit_code=None, stop_code="UserInitiated", reason="wrong slides")

    status, report = aws.status(job_id), aws.report(job_id)
    assert status["status"] == report["status"] == "CANCELLED"
    assert (status["scenes_succeeded"], status["scenes_failed"], status["total_scenes"]) == (
        report["successful_scenes"], report["failed_scenes"], report["total_scenes"],
    )  # fmt: skip
    assert (report["successful_scenes"], report["failed_scenes"]) == (1, 2)
    assert status["errors_total"] == 2
    assert all("scene_00" in error for error in status["errors"])


def test_a_rejected_job_counts_the_scenes_its_manifest_listed(aws):
    job_id = aws.submit(SCENES)  # no assets: every scene's files are missing

    status, report = aws.status(job_id), aws.report(job_id)
    assert status["status"] == "REJECTED"
    assert (status["total_scenes"], status["scenes_succeeded"], status["scenes_failed"]) == (
        3, 0, 3,
    )  # fmt: skip
    assert (report["total_scenes"], report["failed_scenes"]) == (3, 3)


def test_the_upload_points_at_its_job_from_the_key_and_version_id(aws):
    aws.put_assets(SCENES)
    event = aws.upload_manifest(SCENES, key="manifests/dupA.json")
    version = event["detail"]["object"]["version-id"]

    job_id = aws.deliver(event)

    pointer = json.loads(aws.documents.read(upload_pointer_key("manifests/dupA.json", version)))
    assert job_id.startswith("dupA-")  # the name keeps its case
    assert pointer["job_id"] == job_id
    assert pointer["status_key"] == f"outputs/{job_id}/status.json"
    assert aws.status(job_id)["status"] == JobStatus.RUNNING


def test_a_rejected_upload_points_at_its_job_too(aws):
    event = aws.upload_raw(b"{not json", key="manifests/broken.json")

    job_id = aws.deliver(event)

    version = event["detail"]["object"]["version-id"]
    pointer = json.loads(aws.documents.read(upload_pointer_key("manifests/broken.json", version)))
    assert pointer["job_id"] == job_id
    assert aws.status(job_id)["status"] == "REJECTED"
