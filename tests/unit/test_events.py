"""Event models read the documented shapes; job ids are deterministic per upload."""

from datetime import UTC, datetime

from chalicelib.events import (
    ObjectCreatedEvent,
    TaskStateChangeEvent,
    event_from_described_task,
    parse_started_by,
    started_by,
    task_stopped_pattern,
)


def s3_event(
    key="manifests/Episode 1.json", version_id="null", sequencer="0065A1B2C3D4E5F607", event_id="e1"
):
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-11-25T10:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:s3:::cloudburst-local"],
        "detail": {
            "version": "0",
            "bucket": {"name": "cloudburst-local"},
            "object": {
                "key": key,
                "size": 512,
                "etag": "abc",
                "version-id": version_id,
                "sequencer": sequencer,
            },
            "request-id": "R",
            "requester": "123456789012",
            "reason": "PutObject",
        },
    }


def test_redeliveries_of_one_upload_share_a_job_id():
    first = ObjectCreatedEvent.model_validate(s3_event(event_id="a"))
    again = ObjectCreatedEvent.model_validate(s3_event(event_id="b"))

    assert first.job_id() == again.job_id()
    assert first.job_id().startswith("Episode-1-")  # the name keeps its case


def test_a_new_upload_of_the_same_key_gets_a_new_job_id():
    first = ObjectCreatedEvent.model_validate(s3_event(sequencer="0065A1B2C3D4E5F607"))
    second = ObjectCreatedEvent.model_validate(s3_event(sequencer="0065A1B2C3D4E5F699"))

    assert first.job_id() != second.job_id()


def test_a_versioned_bucket_identifies_uploads_by_version_id():
    event = ObjectCreatedEvent.model_validate(s3_event(version_id="3HL4kqtJlcpXroDTDmJ"))

    assert event.upload_identity() == "v:3HL4kqtJlcpXroDTDmJ"


def test_job_ids_are_safe_for_started_by_and_tags():
    event = ObjectCreatedEvent.model_validate(s3_event(key="manifests/第一集 (final)!.json"))

    job_id = event.job_id()

    assert job_id.replace("-", "").isalnum()
    assert parse_started_by(started_by(job_id, 12)) == (job_id, 12)


def test_a_stopped_task_event_is_read_with_its_timestamps_and_exit_code():
    event = TaskStateChangeEvent.model_validate(
        {
            "version": "0",
            "id": "x",
            "detail-type": "ECS Task State Change",
            "source": "aws.ecs",
            "account": "123456789012",
            "time": "2026-11-25T10:05:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:ecs:us-east-1:123456789012:task/cloudburst/abc"],
            "detail": {
                "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/cloudburst",
                "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/cloudburst/abc",
                "lastStatus": "STOPPED",
                "desiredStatus": "STOPPED",
                "version": 4,
                "cpu": "2048",
                "memory": "4096",
                "startedBy": "cloudburst/ep1-0123456789ab/0003",
                "capacityProviderName": "FARGATE_SPOT",
                "stopCode": "SpotInterruption",
                "stoppedReason": "Your Spot Task was interrupted.",
                "pullStartedAt": "2026-11-25T10:00:01.123Z",
                "stoppedAt": "2026-11-25T10:04:59.5Z",
                "containers": [{"name": "worker", "exitCode": 143, "lastStatus": "STOPPED"}],
                "attributes": [{"name": "ecs.cpu-architecture", "value": "arm64"}],
                "overrides": {"containerOverrides": []},
            },
        }
    )

    assert event.batch_ref() == ("ep1-0123456789ab", 3)
    assert event.is_spot
    assert event.architecture == "arm64"
    assert event.exit_code("worker") == 143
    assert event.detail.version == 4
    assert (event.detail.stopped_at - event.detail.pull_started_at).total_seconds() == 298.377


def test_started_by_of_other_services_is_not_ours():
    assert parse_started_by("ecs-svc/123") is None
    assert parse_started_by(None) is None
    assert parse_started_by("cloudburst/job/notanumber") is None


def test_the_stopped_pattern_matches_our_cluster_by_name_in_any_account():
    pattern = task_stopped_pattern("cloudburst")

    assert pattern["detail"]["clusterArn"] == [{"wildcard": "arn:aws:ecs:*:*:cluster/cloudburst"}]
    assert pattern["detail"]["lastStatus"] == ["STOPPED"]


def test_a_described_task_becomes_the_stopped_event_it_should_have_been():
    # DescribeTasks' Task, as the Lambdas' clients return it (timestamps left as epoch text)
    task = {
        "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/cloudburst/abc",
        "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/cloudburst",
        "lastStatus": "STOPPED",
        "version": 5,
        "cpu": "2048",
        "memory": "4096",
        "startedBy": started_by("ep1-0123456789ab", 3),
        "capacityProviderName": "FARGATE_SPOT",
        "stopCode": "SpotInterruption",
        "stoppedReason": "Your Spot Task was interrupted.",
        "pullStartedAt": "1764064800.5",
        "stoppedAt": "1764064900.25",
        "containers": [{"name": "worker", "lastStatus": "STOPPED"}],
        "attributes": [{"name": "ecs.cpu-architecture", "value": "arm64"}],
    }
    at = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    event = event_from_described_task(task, region="us-east-1", account="123456789012", at=at)

    assert event.batch_ref() == ("ep1-0123456789ab", 3)
    assert (event.detail.stop_code, event.detail.version, event.is_spot) == (
        "SpotInterruption", 5, True,
    )  # fmt: skip
    assert event.architecture == "arm64"
    assert event.exit_code("worker") is None
    assert event.detail.pull_started_at == datetime(2025, 11, 25, 10, 0, 0, 500000, tzinfo=UTC)
    assert event.detail.stopped_at is not None
    assert (event.detail.stopped_at - event.detail.pull_started_at).total_seconds() == 99.75


def test_a_cancel_request_names_a_job_whose_name_kept_its_case():
    upload = ObjectCreatedEvent.model_validate(s3_event(key="cancel/dupA-0123456789ab.json"))
    other = ObjectCreatedEvent.model_validate(s3_event(key="cancel/../x.json"))

    assert (upload.cancelled_job_id(), other.cancelled_job_id()) == ("dupA-0123456789ab", None)


def test_a_result_records_key_names_its_job_and_scene_and_nothing_else_does():
    def reported(key):
        return ObjectCreatedEvent.model_validate(s3_event(key=key)).reported_scene()

    assert reported("jobs/dupA-0123456789ab/results/scene_001.json") == (
        "dupA-0123456789ab", "scene_001",
    )  # fmt: skip
    assert reported("jobs/j/summaries/0001.json") is None
    assert reported("manifests/results/x.json") is None
    assert reported("jobs/j/results/a/b.json") is None
