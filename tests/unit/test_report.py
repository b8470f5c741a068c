from datetime import UTC, datetime

import pytest

from chalicelib.contracts import SceneResult
from chalicelib.report import build_job_report, job_outcome
from chalicelib.store import BatchView, JobView

JOB = JobView(
    job_id="ep1-x",
    status="RUNNING",
    manifest_bucket="b",
    manifest_key="manifests/ep1.json",
    created_at="2026-11-25T10:00:00+00:00",
    total_scenes=3,
    batches_total=2,
    tasks_used=2,
)


def batch(number, names, stopped, billed, cost, vcpu=2):
    return BatchView(
        job_id="ep1-x",
        batch_number=number,
        status="SUCCEEDED",
        scene_names=names,
        spec_key=f"jobs/ep1-x/batches/{number:04d}.json",
        stopped_at=stopped,
        task_arn=f"arn:aws:ecs:us-east-1:1:task/c/{number}",
        billed_seconds=billed,
        cost_usd=cost,
        vcpu=vcpu,
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
        batch(1, ["b", "a"], "2026-11-25T10:02:00+00:00", 120, 0.01),
        batch(2, ["c"], "2026-11-25T10:01:00+00:00", 60, 0.005),
    ]
    results = {"a": result("a", 60), "b": result("b", 60), "c": result("c", 30)}

    report = build_job_report(JOB, batches, results, datetime(2026, 11, 25, 10, 3, tzinfo=UTC))

    assert [s["scene_name"] for s in report["scenes"]] == ["a", "b", "c"]
    assert report["total_duration"] == 120.0
    assert report["total_cost_usd"] == pytest.approx(0.015)
    assert report["efficiency"] == {
        "speedup_factor": 1.25,
        "processing_efficiency": pytest.approx(100 * 150 / (120 * 2 + 60 * 2), abs=0.1),
        "cost_per_scene": pytest.approx(0.005),
    }
    assert report["success"] is True
    assert report["tasks_used"] == 2


@pytest.mark.parametrize(
    ("ok", "total", "outcome"),
    [(3, 3, "SUCCEEDED"), (1, 3, "PARTIAL"), (0, 3, "FAILED"), (0, 0, "FAILED")],
)
def test_job_outcome(ok, total, outcome):
    assert job_outcome(ok, total) == outcome
