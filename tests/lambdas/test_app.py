"""The Chalice wiring: handlers registered with the documented patterns, invoked by Chalice."""

from __future__ import annotations

from chalice.app import CloudWatchEventConfig, ScheduledEventConfig
from chalice.test import Client

from .conftest import BUCKET, Aws, submit_while_fargate_has_no_capacity


def test_the_app_declares_both_eventbridge_rules_and_a_sweeper(aws: Aws):
    import app

    sources = {source.name: source for source in app.app.event_sources}
    patterns = {
        name: source.event_pattern
        for name, source in sources.items()
        if isinstance(source, CloudWatchEventConfig)
    }

    assert patterns["on_manifest_uploaded"]["detail"] == {
        "bucket": {"name": [BUCKET]},
        "object": {"key": [{"wildcard": "manifests/*.json"}]},
    }
    assert patterns["on_manifest_uploaded"]["detail-type"] == ["Object Created"]
    assert patterns["on_task_state_change"]["detail"]["lastStatus"] == ["STOPPED"]
    sweeper = sources["sweeper"]
    assert isinstance(sweeper, ScheduledEventConfig)
    assert sweeper.schedule_expression.to_string() == "rate(1 minute)"


def test_chalice_invokes_the_sweeper_which_starts_a_waiting_batch(aws: Aws):
    import app

    job_id = submit_while_fargate_has_no_capacity(aws)

    with Client(app.app) as client:
        event = client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
        )
        client.lambda_.invoke("sweeper", event)

    assert [b.status for b in aws.svc().store.list_batches(job_id)] == ["RUNNING"]


def test_chalice_invokes_the_manifest_handler_end_to_end(aws: Aws):
    import app

    aws.put_assets(["one"])
    event = aws.upload_manifest(["one"])

    with Client(app.app, stage_name="local") as client:
        client.lambda_.invoke("on_manifest_uploaded", event)

    [task] = aws.tasks()
    assert task["startedBy"].startswith("cloudburst/ep1-")


def test_a_malformed_event_is_logged_and_dropped(aws: Aws, caplog):
    import app

    with Client(app.app, stage_name="local") as client:
        event = client.events.generate_cw_event(
            source="aws.ecs",
            detail_type="ECS Task State Change",
            detail={"nope": 1},
            resources=[],
        )
        client.lambda_.invoke("on_task_state_change", event)

    assert "unexpected ECS event shape; dropped" in [r.getMessage() for r in caplog.records]
    assert aws.tasks() == []
