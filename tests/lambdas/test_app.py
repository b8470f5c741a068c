"""The Chalice wiring: handlers registered with the documented patterns, invoked by Chalice."""

from __future__ import annotations

import pytest
from chalice.app import CloudWatchEventConfig, ScheduledEventConfig
from chalice.test import Client

from chalicelib.model import BatchStatus, JobStatus


@pytest.fixture
def app(aws):
    """The app module, its handlers running on the test's services."""
    import app as module

    module.use_services(aws.svc)
    yield module
    module.use_services(None)


def test_the_app_declares_its_eventbridge_rules_and_a_sweeper(aws, app):
    sources = {source.name: source for source in app.app.event_sources}
    patterns = {
        name: source.event_pattern
        for name, source in sources.items()
        if isinstance(source, CloudWatchEventConfig)
    }

    assert patterns["on_manifest_uploaded"]["detail"] == {
        "bucket": {"name": [aws.bucket]},
        "object": {"key": [{"wildcard": "manifests/*.json"}]},
    }
    assert patterns["on_manifest_uploaded"]["detail-type"] == ["Object Created"]
    assert patterns["on_cancel_requested"]["detail"] == {
        "bucket": {"name": [aws.bucket]},
        "object": {"key": [{"wildcard": "cancel/*.json"}]},
    }
    assert patterns["on_scene_reported"]["detail"] == {
        "bucket": {"name": [aws.bucket]},
        "object": {"key": [{"wildcard": "jobs/*/results/*.json"}]},
    }
    assert patterns["on_task_state_change"]["detail"]["lastStatus"] == ["STOPPED"]
    sweeper = sources["sweeper"]
    assert isinstance(sweeper, ScheduledEventConfig)
    assert sweeper.schedule_expression.to_string() == "rate(1 minute)"


def test_chalice_invokes_the_sweeper_which_starts_a_waiting_batch(aws, app, load_event):
    job_id = aws.submit_while_fargate_has_no_capacity()

    with Client(app.app) as client:
        client.lambda_.invoke("sweeper", load_event("scheduled_event"))

    assert [b.status for b in aws.batches(job_id)] == [BatchStatus.RUNNING]


def test_chalice_invokes_the_manifest_handler_end_to_end(aws, app):
    aws.put_assets(["one"])
    event = aws.upload_manifest(["one"])

    with Client(app.app, stage_name="local") as client:
        client.lambda_.invoke("on_manifest_uploaded", event)

    [task] = aws.tasks()
    assert task["startedBy"].startswith("cloudburst/ep1-")


def test_chalice_invokes_the_cancel_handler(aws, app):
    aws.put_assets(["one"])
    job_id = aws.submit_while_fargate_has_no_capacity()
    event = aws.upload_raw(b'{"reason": "wrong slides"}', key=f"cancel/{job_id}.json")

    with Client(app.app, stage_name="local") as client:
        client.lambda_.invoke("on_cancel_requested", event)

    assert aws.job(job_id).status is JobStatus.CANCELLED
    assert aws.report(job_id)["cancel_reason"] == "wrong slides"


def test_chalice_invokes_the_scene_reported_handler(aws, app):
    aws.put_assets(["one", "two"])
    job_id = aws.submit(["one", "two"], min_scenes_per_batch=1)
    aws.write_results(job_id, {"two": "succeeded"})
    event = aws.created_event(f"jobs/{job_id}/results/two.json", b"{}")

    with Client(app.app, stage_name="local") as client:
        client.lambda_.invoke("on_scene_reported", event)

    assert aws.status(job_id)["scenes_succeeded"] == 1


def test_a_malformed_event_is_logged_and_dropped(aws, app, caplog, load_event):
    event = load_event("ecs_task_stopped_fargate", detail={"taskArn": None, "clusterArn": None})

    with Client(app.app, stage_name="local") as client:
        client.lambda_.invoke("on_task_state_change", event)

    assert "unexpected ECS event shape; dropped" in [r.getMessage() for r in caplog.records]
    assert aws.tasks() == []


def test_a_deployed_stage_without_subnets_or_secret_refuses_at_its_first_event(
    aws, monkeypatch, caplog, load_event
):
    import app as module

    monkeypatch.setenv("CLOUDBURST_STAGE", "dev")
    monkeypatch.delenv("CLOUDBURST_SUBNETS")
    module.use_services(None)

    with pytest.raises(module.IncompleteSettings) as refused:
        module.sweeper(load_event("scheduled_event"), None)

    assert "CLOUDBURST_SUBNETS" in str(refused.value)
    assert "CLOUDBURST_WEBHOOK_SECRET_ARN" in str(refused.value)
    [line] = [r for r in caplog.records if r.getMessage().startswith("settings incomplete")]
    assert line.levelname == "ERROR"
