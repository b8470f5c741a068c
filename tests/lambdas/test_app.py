"""The Chalice wiring: handlers registered with the documented patterns, invoked by Chalice."""

from __future__ import annotations

from chalice.test import Client

from .conftest import BUCKET, Aws


def test_the_app_declares_both_eventbridge_rules(aws: Aws):
    import app

    patterns = {source.name: source.event_pattern for source in app.app.event_sources}

    assert patterns["on_manifest_uploaded"]["detail"] == {
        "bucket": {"name": [BUCKET]},
        "object": {"key": [{"wildcard": "manifests/*.json"}]},
    }
    assert patterns["on_manifest_uploaded"]["detail-type"] == ["Object Created"]
    assert patterns["on_task_state_change"]["detail"]["lastStatus"] == ["STOPPED"]


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
