"""Manifest uploaded → job planned, batch specs written, one Fargate task per batch; or a
rejected job with every reason, told to the manifest's own webhook."""

from __future__ import annotations

import threading

from chalicelib.contracts import BatchSpec, batch_spec_key
from chalicelib.model import BatchStatus, JobStatus, WebhookState

SCENES = ["scene_001", "scene_002", "scene_003", "scene_004"]


def test_an_upload_becomes_a_job_with_one_task_per_batch(aws):
    aws.put_assets(SCENES)

    job_id = aws.submit(
        SCENES, scenes_per_batch=2, max_parallel_tasks=2, config_priority=5, language="english"
    )

    job = aws.job(job_id)
    assert (job.status, job.total_scenes, job.batches_total) == (JobStatus.RUNNING, 4, 2)
    batches = aws.batches(job_id)
    assert [(b.batch_number, b.status, b.scene_count) for b in batches] == [
        (1, BatchStatus.RUNNING, 2),
        (2, BatchStatus.RUNNING, 2),
    ]
    spec = BatchSpec.model_validate(aws.documents.get_json(batch_spec_key(job_id, 1)))
    assert [s.scene_name for s in spec.scenes] == ["scene_001", "scene_002"]
    assert spec.scenes[0].image_uri == f"s3://{aws.bucket}/inputs/ep1/scene_001.png"
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
        {"name": "BATCH_SPEC", "value": f"s3://{aws.bucket}/jobs/{job_id}/batches/0001.json"},
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


def test_each_spec_reads_its_assets_at_the_version_they_had_when_the_job_was_accepted(aws):
    # given four scenes, the first picture uploaded twice before the job
    aws.put_assets(SCENES)
    picture = aws.put("inputs/ep1/scene_001.png", b"png, corrected")

    job_id = aws.submit(SCENES, scenes_per_batch=2, max_parallel_tasks=2)
    # and uploaded once more while the job runs
    aws.put("inputs/ep1/scene_001.png", b"png, next week's")

    # then each batch's spec pins exactly its own inputs, at the version intake saw
    first, second = (
        BatchSpec.model_validate(aws.documents.get_json(batch_spec_key(job_id, n))) for n in (1, 2)
    )
    uri = f"s3://{aws.bucket}/inputs/ep1/scene_001.png"
    assert first.asset_versions[uri] == picture
    assert aws.documents.read_version(uri, picture) == b"png, corrected"
    assert sorted(first.asset_versions) == sorted(first.input_uris())
    assert sorted(second.asset_versions) == sorted(second.input_uris())
    assert uri not in second.asset_versions


def test_an_accepted_job_has_a_status_document_at_once(aws):
    aws.put_assets(SCENES)

    job_id = aws.submit(SCENES, scenes_per_batch=2, max_parallel_tasks=2)

    status = aws.status(job_id)
    assert status["status"] == "RUNNING"
    assert (status["total_scenes"], status["batches_total"], status["tasks_running"]) == (4, 2, 2)
    assert (status["batches_waiting"], status["scenes_succeeded"], status["cost_usd"]) == (0, 0, 0)
    assert status["report_key"] is None


def test_the_same_event_three_times_is_one_job_and_one_set_of_tasks(aws):
    aws.put_assets(SCENES)
    event = aws.upload_manifest(SCENES, scenes_per_batch=2, max_parallel_tasks=2)

    job_ids = {aws.deliver(event) for _ in range(3)}

    assert len(job_ids) == 1
    assert len(aws.tasks()) == 2


def test_concurrent_deliveries_of_one_upload_leave_one_running_task_per_batch(aws):
    aws.put_assets(SCENES)
    event = aws.upload_manifest(SCENES, scenes_per_batch=2, max_parallel_tasks=2)
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            aws.deliver(event)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # the design's promise: whatever the race, each batch ends up with one task running (a
    # duplicate launch loses the batch's conditional write and stops its own task)
    assert errors == []
    [job_id] = {t["startedBy"].split("/")[1] for t in aws.tasks()}
    for batch in aws.batches(job_id):
        running = [
            t for t in aws.cluster.running() if t.started_by.endswith(f"/{batch.batch_number:04d}")
        ]
        assert batch.status is BatchStatus.RUNNING
        assert [t.task_arn for t in running] == [batch.task_arn]


def test_uploading_the_key_again_later_is_a_new_job(aws):
    aws.put_assets(SCENES)
    first = aws.submit(SCENES, scenes_per_batch=4, max_parallel_tasks=1)

    second = aws.submit(SCENES, scenes_per_batch=4, max_parallel_tasks=1)

    assert first != second
    assert first.startswith("ep1-")
    assert second.startswith("ep1-")
    assert aws.job(first).status is aws.job(second).status is JobStatus.RUNNING
    assert len(aws.tasks()) == 2


def rejected(aws, event: dict) -> tuple[str, dict]:
    job_id = aws.deliver(event)
    assert aws.job(job_id).status is JobStatus.REJECTED
    return job_id, aws.report(job_id)


def test_missing_assets_reject_the_job_naming_every_one(aws):
    aws.put_assets(SCENES[:3])

    job_id, report = rejected(aws, aws.upload_manifest(SCENES))

    assert report["status"] == "REJECTED"
    assert report["success"] is False
    assert report["errors"] == [
        f"scene 'scene_004' audio_path: s3://{aws.bucket}/inputs/ep1/scene_004.mp3 does not exist",
        f"scene 'scene_004' image_path: s3://{aws.bucket}/inputs/ep1/scene_004.png does not exist",
    ]
    assert (report["total_scenes"], report["failed_scenes"]) == (4, 4)
    assert aws.job(job_id).errors == report["errors"]
    assert aws.tasks() == []
    [delivery] = aws.receiver.wait_for(1, timeout=5)
    assert delivery.type == "job.rejected"
    assert delivery.body["data"]["errors"] == report["errors"]
    assert aws.status(job_id)["webhook"] == {"state": "DELIVERED", "attempts": 1, "error": None}
    assert aws.report(job_id)["webhook"]["state"] == "DELIVERED"


def test_many_missing_assets_in_one_folder_are_all_found(aws):
    names = [f"s{i:04d}" for i in range(40)]
    aws.put_assets(names[:-3])

    _, report = rejected(aws, aws.upload_manifest(names))

    assert len(report["errors"]) == 6
    assert all("does not exist" in error for error in report["errors"])


def test_unreadable_json_is_rejected_with_the_position(aws):
    _, report = rejected(aws, aws.upload_raw(b'{"scenes": [}'))

    assert report["errors"] == ["manifest is not valid JSON: Expecting value at line 1 column 13"]
    assert aws.receiver.deliveries == []  # no readable webhook_url and no default set


def test_a_manifest_rejected_for_its_content_is_told_to_its_own_webhook(aws):
    aws.put_assets(["ok"])
    event = aws.upload_manifest(["ok", "ok", ".."], colour="red")

    job_id, report = rejected(aws, event)

    assert "scene names must be unique; repeated: 'ok'" in report["errors"]
    assert report["total_scenes"] == 3
    [delivery] = aws.receiver.wait_for(1, timeout=5)
    assert (delivery.type, delivery.body["data"]["job_id"]) == ("job.rejected", job_id)


def test_unsafe_and_duplicate_scene_names_are_rejected_without_any_task(aws):
    aws.put_assets(["ok"])

    _, report = rejected(aws, aws.upload_manifest(["ok", "ok", ".."]))

    assert "scene names must be unique; repeated: 'ok'" in report["errors"]
    assert any("must not contain '..'" in error for error in report["errors"])
    assert aws.tasks() == []


def test_a_rejected_upload_redelivered_sends_one_webhook(aws):
    event = aws.upload_manifest(["missing"])

    aws.deliver(event)
    aws.deliver(event)

    assert len(aws.receiver.wait_for(1, timeout=5)) == 1
    assert len(aws.receiver.deliveries) == 1
    assert aws.job(aws.deliver(event)).webhook_state is WebhookState.DELIVERED


def test_batches_beyond_the_deployment_cap_wait_pending(aws, with_settings):
    with_settings(aws, max_running_tasks=3)
    aws.put_assets(SCENES)

    job_id = aws.submit(SCENES, scenes_per_batch=1, max_parallel_tasks=4, min_scenes_per_batch=1)

    statuses = [b.status for b in aws.batches(job_id)]
    assert statuses == ["RUNNING", "RUNNING", "RUNNING", "PENDING"]
    assert aws.svc.slots.taken() == 3
    assert len(aws.tasks()) == 3
    assert (aws.status(job_id)["tasks_running"], aws.status(job_id)["batches_waiting"]) == (3, 1)


def test_a_schema_error_and_a_missing_asset_are_reported_together(aws):
    aws.put_assets(["ok"])

    _, report = rejected(aws, aws.upload_manifest(["ok", "gone"], colour="red"))

    assert report["errors"] == [
        "colour: unknown field (not part of manifest v1)",
        f"scene 'gone' audio_path: s3://{aws.bucket}/inputs/ep1/gone.mp3 does not exist",
        f"scene 'gone' image_path: s3://{aws.bucket}/inputs/ep1/gone.png does not exist",
    ]
