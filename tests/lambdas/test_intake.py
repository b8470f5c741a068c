"""Manifest uploaded → job planned, batch specs written, one Fargate task per batch."""

from __future__ import annotations

import json
import threading

import pytest

from chalicelib.contracts import BatchSpec, report_key
from chalicelib.events import ObjectCreatedEvent
from chalicelib.service import submit_manifest

from .conftest import BUCKET, Aws

SCENES = ["scene_001", "scene_002", "scene_003", "scene_004"]


def submit(aws: Aws, event: dict) -> str:
    return submit_manifest(ObjectCreatedEvent.model_validate(event), aws.svc())


def test_an_upload_becomes_a_job_with_one_task_per_batch(aws: Aws):
    aws.put_assets(SCENES)
    event = aws.upload_manifest(
        SCENES, scenes_per_batch=2, max_parallel_tasks=2, config_priority=5, language="english"
    )

    job_id = submit(aws, event)

    job = aws.svc().store.get_job(job_id)
    assert job is not None
    assert (job.status, job.total_scenes, job.batches_total, job.tasks_running) == (
        "RUNNING",
        4,
        2,
        2,
    )
    batches = aws.svc().store.list_batches(job_id)
    assert [(b.batch_number, b.status, b.scene_names) for b in batches] == [
        (1, "RUNNING", ["scene_001", "scene_002"]),
        (2, "RUNNING", ["scene_003", "scene_004"]),
    ]
    spec = BatchSpec.model_validate_json(
        aws.s3.get_object(Bucket=BUCKET, Key=f"jobs/{job_id}/batches/0001.json")["Body"].read()
    )
    assert spec.scenes[0].image_uri == f"s3://{BUCKET}/inputs/ep1/scene_001.png"
    assert spec.options.language == "english"
    assert spec.vcpu == 1
    tasks = sorted(aws.tasks(), key=lambda t: t["startedBy"])
    assert len(tasks) == 2
    first = tasks[0]
    assert first["startedBy"] == f"cloudburst/{job_id}/0001"
    assert first["group"] == f"cloudburst:{job_id}"
    assert first["overrides"]["cpu"] == "1024"
    assert first["overrides"]["memory"] == "2048"
    environment = first["overrides"]["containerOverrides"][0]["environment"]
    assert environment == [
        {"name": "BATCH_SPEC", "value": f"s3://{BUCKET}/jobs/{job_id}/batches/0001.json"},
        {"name": "CLOUDBURST_ATTEMPT", "value": "1"},
    ]
    tags = {tag["key"]: tag["value"] for tag in first["tags"]}
    assert tags == {
        "CreatedBy": "cloudburst",
        "Purpose": "video-generation",
        "Job": job_id,
        "Batch": "1",
        "Language": "english",
    }


def test_the_same_event_three_times_is_one_job_and_one_set_of_tasks(aws: Aws):
    aws.put_assets(SCENES)
    event = aws.upload_manifest(SCENES, scenes_per_batch=2, max_parallel_tasks=2)

    job_ids = {submit(aws, event) for _ in range(3)}

    assert len(job_ids) == 1
    assert len(aws.tasks()) == 2


def test_concurrent_deliveries_of_one_upload_start_one_set_of_tasks(aws: Aws):
    aws.put_assets(SCENES)
    event = aws.upload_manifest(SCENES, scenes_per_batch=2, max_parallel_tasks=2)
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            submit(aws, event)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(aws.tasks()) == 2


def test_uploading_the_key_again_later_is_a_new_job(aws: Aws):
    aws.put_assets(SCENES)
    first = submit(aws, aws.upload_manifest(SCENES, scenes_per_batch=4, max_parallel_tasks=1))

    second = submit(aws, aws.upload_manifest(SCENES, scenes_per_batch=4, max_parallel_tasks=1))

    assert first != second
    assert first.startswith("ep1-")
    assert second.startswith("ep1-")
    jobs = aws.svc().store.jobs_for_manifest(BUCKET, "manifests/ep1.json")
    assert {job.job_id for job in jobs} == {first, second}
    assert len(aws.tasks()) == 2


def rejected(aws: Aws, event: dict) -> tuple[str, dict]:
    job_id = submit(aws, event)
    job = aws.svc().store.get_job(job_id)
    assert job is not None
    assert job.status == "REJECTED"
    report = json.loads(aws.s3.get_object(Bucket=BUCKET, Key=report_key(job_id))["Body"].read())
    return job_id, report


def test_missing_assets_reject_the_job_naming_every_one(aws: Aws):
    aws.put_assets(SCENES[:3])

    job_id, report = rejected(aws, aws.upload_manifest(SCENES))

    assert report["status"] == "REJECTED"
    assert report["success"] is False
    assert report["errors"] == [
        f"scene 'scene_004' audio_path: s3://{BUCKET}/inputs/ep1/scene_004.mp3 does not exist",
        f"scene 'scene_004' image_path: s3://{BUCKET}/inputs/ep1/scene_004.png does not exist",
    ]
    assert aws.svc().store.get_job(job_id).errors == report["errors"]  # type: ignore[union-attr]
    assert aws.tasks() == []
    [delivery] = aws.receiver.wait_for(1, timeout=5)
    assert delivery.type == "job.rejected"
    assert delivery.body["data"]["errors"] == report["errors"]


def test_many_missing_assets_in_one_folder_are_all_found(aws: Aws):
    names = [f"s{i:04d}" for i in range(40)]
    aws.put_assets(names[:-3])

    _, report = rejected(aws, aws.upload_manifest(names))

    assert len(report["errors"]) == 6
    assert all("does not exist" in error for error in report["errors"])


def test_unreadable_json_is_rejected_with_the_position(aws: Aws):
    _, report = rejected(aws, aws.upload_raw(b'{"scenes": [}'))

    assert report["errors"] == ["manifest is not valid JSON: Expecting value at line 1 column 13"]
    [delivery] = aws.receiver.wait_for(0, timeout=0) or [None]
    assert delivery is None  # no webhook_url in an unreadable manifest and no default set


def test_unsafe_and_duplicate_scene_names_are_rejected_without_any_task(aws: Aws):
    aws.put_assets(["ok"])

    _, report = rejected(aws, aws.upload_manifest(["ok", "ok", ".."]))

    assert "scene names must be unique; repeated: 'ok'" in report["errors"]
    assert any("must not contain '..'" in error for error in report["errors"])
    assert aws.tasks() == []


def test_a_rejected_upload_redelivered_sends_one_webhook(aws: Aws):
    event = aws.upload_manifest(["missing"])

    submit(aws, event)
    submit(aws, event)

    assert len(aws.receiver.wait_for(1, timeout=5)) == 1
    assert len(aws.receiver.deliveries) == 1


def test_batches_beyond_the_deployment_cap_wait_pending(aws: Aws, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CLOUDBURST_MAX_RUNNING_TASKS", "3")
    from .conftest import _reset_caches

    _reset_caches()
    aws.put_assets(SCENES)

    job_id = submit(
        aws,
        aws.upload_manifest(
            SCENES, scenes_per_batch=1, max_parallel_tasks=4, min_scenes_per_batch=1
        ),
    )

    statuses = [b.status for b in aws.svc().store.list_batches(job_id)]
    assert statuses == ["RUNNING", "RUNNING", "RUNNING", "PENDING"]
    assert aws.svc().store.running_tasks() == 3
    assert len(aws.tasks()) == 3


def test_a_schema_error_and_a_missing_asset_are_reported_together(aws: Aws):
    aws.put_assets(["ok"])

    _, report = rejected(aws, aws.upload_manifest(["ok", "gone"], colour="red"))

    assert report["errors"] == [
        "colour: unknown field (not part of manifest v1)",
        f"scene 'gone' audio_path: s3://{BUCKET}/inputs/ep1/gone.mp3 does not exist",
        f"scene 'gone' image_path: s3://{BUCKET}/inputs/ep1/gone.png does not exist",
    ]
