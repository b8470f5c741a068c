from dataclasses import replace
from datetime import UTC, datetime

import pytest

from chalicelib.contracts import SceneResult
from chalicelib.model import (
    Batch,
    BatchStatus,
    Job,
    JobStatus,
    Progress,
    SceneCounts,
    scenes_status,
)
from chalicelib.report import (
    WEBHOOK_BODY_LIMIT,
    build_job_report,
    build_rejection_report,
    build_status,
    scene_entry,
    scene_reason,
    webhook_data,
)

JOB = Job(
    job_id="ep1-x",
    status=JobStatus.RUNNING,
    manifest_bucket="b",
    manifest_key="manifests/ep1.json",
    created_at="2026-11-25T10:00:00+00:00",
    total_scenes=3,
    batches_total=2,
    metadata={"ticket": "T-1"},
)


def batch(number, stopped, billed, cost, vcpu=2, **changes):
    return Batch(
        job_id="ep1-x",
        batch_number=number,
        status=BatchStatus.SUCCEEDED,
        scene_count=2,
        spec_key=f"jobs/ep1-x/batches/{number:04d}.json",
        queued_at=JOB.created_at,
        stopped_at=stopped,
        task_arn=f"arn:aws:ecs:us-east-1:1:task/c/{number}",
        billed_seconds=billed,
        cost_usd=cost,
        vcpu=vcpu,
        **changes,
    )


def result(name, render_seconds, status="succeeded"):
    return SceneResult(
        job_id="ep1-x",
        batch_number=1,
        attempt=1,
        scene_name=name,
        status=status,
        output_key=f"outputs/ep1-x/{name}.mp4",
        bytes=10,
        duration_seconds=5,
        render_seconds=render_seconds,
    )


def test_the_report_computes_every_efficiency_field():
    batches = [
        batch(1, "2026-11-25T10:02:00+00:00", 120, 0.01, scenes_succeeded=2),
        batch(2, "2026-11-25T10:01:00+00:00", 60, 0.005, cost_estimated=True, scenes_succeeded=1),
    ]
    scenes = [
        scene_entry("b", batches[0], result("b", 60)),
        scene_entry("a", batches[0], result("a", 60)),
        scene_entry("c", batches[1], result("c", 30)),
    ]

    report = build_job_report(
        JOB, JobStatus.SUCCEEDED, batches, scenes, datetime(2026, 11, 25, 10, 3, tzinfo=UTC)
    )

    assert [s["scene_name"] for s in report["scenes"]] == ["a", "b", "c"]
    assert [t["scenes"] for t in report["task_results"]] == [["a", "b"], ["c"]]
    assert report["total_duration"] == 120.0
    assert report["total_cost_usd"] == pytest.approx(0.015)
    assert report["cost_estimated"] is True
    assert report["efficiency"] == {
        "speedup_factor": 1.25,
        "processing_efficiency": pytest.approx(100 * 150 / (120 * 2 + 60 * 2), abs=0.1),
        "cost_per_scene": pytest.approx(0.005),
    }
    assert report["success"] is True
    assert report["tasks_used"] == 2
    assert report["metadata"] == {"ticket": "T-1"}


def test_a_scene_without_a_record_carries_its_batchs_reason():
    stopped = batch(1, None, 0, 0.0, stopped_reason="Your Spot Task was interrupted.")

    entry = scene_entry("a", stopped, None)

    assert entry["status"] == "failed"
    assert entry["error"] == (
        "the task stopped before it reported this scene (Your Spot Task was interrupted.)"
    )


def test_a_rejection_counts_the_scenes_the_manifest_listed():
    at = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)

    rejected = replace(JOB, status=JobStatus.REJECTED, total_scenes=7)

    report = build_rejection_report(rejected, ["scenes[0].image_path: missing"], at)

    assert (report["status"], report["total_scenes"], report["failed_scenes"]) == (
        "REJECTED", 7, 7,
    )  # fmt: skip


def test_the_webhook_body_stays_small_at_any_job_size():
    huge = {
        "job_id": "ep1-x",
        "status": "PARTIAL",
        "total_scenes": 10_000,
        "outputs": [f"outputs/ep1-x/scene-{i:05d}.mp4" for i in range(9_000)],
        "errors": [f"scene-{i:05d}: {'x' * 600}" for i in range(1_000)],
        "scenes": [{"scene_name": f"scene-{i:05d}"} for i in range(10_000)],
    }

    data = webhook_data(huge, "https://example.com/job.json?signature=abc")

    assert len(repr(data).encode()) < WEBHOOK_BODY_LIMIT
    assert data["errors_total"] == 1_000
    assert data["report_url"] == "https://example.com/job.json?signature=abc"
    assert "scenes" not in data
    assert all(len(error) <= 500 for error in data["errors"])


def test_the_status_document_says_what_a_user_follows():
    progress = Progress(
        scenes=SceneCounts(total=3, succeeded=2, failed=0),
        batches_total=2,
        batches_final=1,
        batches_waiting=0,
        tasks_running=1,
        tasks_used=2,
        cost_usd=0.0012345678901,
        cost_estimated=False,
    )

    status = build_status(JOB, progress, datetime(2026, 11, 25, 10, 1, tzinfo=UTC))

    assert status["status"] == "RUNNING"
    assert (status["batches_final"], status["tasks_running"], status["scenes_succeeded"]) == (
        1, 1, 2,
    )  # fmt: skip
    assert status["cost_usd"] == 0.00123457
    assert status["eta_seconds"] == 30.0  # 2 of 3 scenes in 60 s: one more at that rate
    assert status["webhook"] == {"state": None, "attempts": 0, "error": None}
    assert (status["report_key"], status["cancel_requested"]) == (None, False)


@pytest.mark.parametrize(
    ("ok", "total", "outcome"),
    [(3, 3, "SUCCEEDED"), (1, 3, "PARTIAL"), (0, 3, "FAILED"), (0, 0, "FAILED")],
)
def test_scenes_decide_the_outcome(ok, total, outcome):
    assert scenes_status(ok, total) == outcome


def test_a_report_link_is_promised_no_longer_than_its_signing_credentials_last():
    from chalicelib.report import TEMPORARY_LINK_SECONDS, report_link_seconds

    day = 24 * 3600
    assert report_link_seconds(day, temporary=False, credentials_left=None) == day
    assert report_link_seconds(day, temporary=True, credentials_left=5400.7) == 5400
    # a Lambda's credentials come without an expiry to read
    assert report_link_seconds(day, temporary=True, credentials_left=None) == (
        TEMPORARY_LINK_SECONDS
    )
    assert report_link_seconds(day, temporary=True, credentials_left=-3) == 0


def test_the_webhook_says_when_its_report_link_expires():
    from chalicelib.report import webhook_data

    report = {"job_id": "j", "errors": [], "outputs": []}

    data = webhook_data(report, "https://example.com/x", "2026-12-06T05:00:00Z")

    assert data["report_url_expires_at"] == "2026-12-06T05:00:00Z"


@pytest.mark.parametrize(
    ("name", "error", "listed"),
    [
        # the worker's reasons name their scene: listed as they are, not named twice
        (
            "s2",
            "scene 's2': render failed: the JPEG file is damaged",
            "scene 's2': render failed: the JPEG file is damaged",
        ),
        (
            'it"s',
            "scene 'it\"s' took longer than its 600 s limit",
            "scene 'it\"s' took longer than its 600 s limit",
        ),
        ("it's", 'scene "it\'s": unsafe scene name', 'scene "it\'s": unsafe scene name'),
        # a reason that does not is prefixed with the scene it belongs to
        (
            "s3",
            "the task stopped before it was rendered",
            "s3: the task stopped before it was rendered",
        ),
        ("s4", "scene 's40': other scene", "s4: scene 's40': other scene"),
    ],
)
def test_each_failed_scene_is_named_once_in_the_jobs_errors(name: str, error: str, listed: str):
    assert scene_reason(name, error) == listed
