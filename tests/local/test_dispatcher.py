from __future__ import annotations

import sys
from collections.abc import Callable

import pytest
from local_helpers import wait_until

from cloudburst.local import LocalStack

pytestmark = pytest.mark.xdist_group("local-stack")


def test_manifest_upload_reaches_only_the_matching_handler(
    fake_stack_factory: Callable[..., LocalStack],
) -> None:
    stack = fake_stack_factory()
    import local_fake_app

    s3 = stack.client("s3")

    s3.put_object(Bucket=stack.bucket, Key="manifests/job-1.json", Body=b"{}")
    s3.put_object(Bucket=stack.bucket, Key="inputs/image.png", Body=b"png")

    events = wait_until(lambda: local_fake_app.received("manifest"))
    assert stack.wait_until_quiet(timeout=10)
    events = local_fake_app.received("manifest")
    assert [e["detail"]["object"]["key"] for e in events] == ["manifests/job-1.json"]
    assert events[0]["detail"]["bucket"]["name"] == stack.bucket
    assert local_fake_app.received("task") == []


def test_a_failing_handler_gets_redelivered(
    fake_stack_factory: Callable[..., LocalStack],
) -> None:
    stack = fake_stack_factory()
    import local_fake_app

    stack.client("s3").put_object(Bucket=stack.bucket, Key="manifests/fails-once.json", Body=b"{}")

    wait_until(lambda: local_fake_app.received("manifest"), timeout=15)
    assert local_fake_app.ATTEMPTS["manifests/fails-once.json"] == 2
    assert set(stack.dead_letters().values()) == {0}


def test_a_handler_that_keeps_failing_lands_in_the_dead_letter_queue(
    fake_stack_factory: Callable[..., LocalStack],
) -> None:
    stack = fake_stack_factory(max_receives=2)
    import local_fake_app

    stack.client("s3").put_object(
        Bucket=stack.bucket, Key="manifests/always-fails.json", Body=b"{}"
    )

    wait_until(lambda: stack.dead_letters()["on_manifest_uploaded"] == 1, timeout=15)
    assert local_fake_app.ATTEMPTS["manifests/always-fails.json"] == 2
    assert local_fake_app.received("manifest") == []


def test_handlers_see_the_local_stage_environment(
    fake_stack_factory: Callable[..., LocalStack],
) -> None:
    import os

    stack = fake_stack_factory()
    assert os.environ["AWS_ENDPOINT_URL"] == stack.endpoint
    assert os.environ["CLOUDBURST_STAGE"] == "local"
    assert os.environ["CLOUDBURST_ALLOW_LOOPBACK_WEBHOOKS"] == "true"
    assert os.environ["CLOUDBURST_WEBHOOK_URL"] == stack.receiver.url
    assert os.environ["CLOUDBURST_SUBNETS"].startswith("subnet-")
    stack.stop()
    assert os.environ.get("AWS_ENDPOINT_URL") != stack.endpoint
    assert "local_fake_app" not in sys.modules  # the process gets its modules back


def test_a_schedule_runs_its_handler_with_a_scheduled_event(
    fake_stack_factory: Callable[..., LocalStack],
) -> None:
    stack = fake_stack_factory(schedule_seconds=0.2)
    import local_fake_app

    event = wait_until(lambda: local_fake_app.received("schedule"))[0]
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["resources"][0].endswith(":rule/cloudburst-local-sweeper")
    assert [r.schedule_seconds for r in stack.routes if r.name == "sweeper"] == [0.2]


def test_the_app_rate_is_kept_unless_overridden(
    fake_stack_factory: Callable[..., LocalStack],
) -> None:
    stack = fake_stack_factory()

    assert [r.schedule_seconds for r in stack.routes if r.name == "sweeper"] == [300.0]
    assert {r.name for r in stack.routes if r.event_pattern} == {
        "on_manifest_uploaded",
        "on_task_state_change",
    }


def test_a_second_stack_in_the_same_process_is_refused(
    fake_stack_factory: Callable[..., LocalStack],
) -> None:
    from cloudburst.local.stack import StackError

    first = fake_stack_factory()

    with pytest.raises(StackError, match="already runs in this process"):
        fake_stack_factory()
    assert first.client("s3").list_buckets()["Buckets"]  # the first one is untouched
