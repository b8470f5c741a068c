from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from local_helpers import wait_until

from cloudburst.local import LocalStack

pytestmark = pytest.mark.xdist_group("local-stack")

WORKER_EXITS_3 = (
    sys.executable,
    "-c",
    "import os, sys; print('spec', os.environ['BATCH_SPEC'], os.environ['AWS_ENDPOINT_URL']);"
    " sys.exit(3)",
)
WORKER_SLEEPS = (sys.executable, "-c", "import time; time.sleep(60)")


def run_task(stack: LocalStack, env: dict[str, str] | None = None, *, spot: bool = False) -> str:
    """RunTask the way the launcher does: awsvpc, task-level size, env overrides."""
    assert stack.resources is not None
    placement: dict[str, Any] = (
        {"capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]}
        if spot
        else {"launchType": "FARGATE"}
    )
    response = stack.client("ecs").run_task(
        cluster=stack.resources.cluster,
        taskDefinition=stack.resources.task_definition_arn,
        **placement,
        startedBy="job-abc",
        group="cloudburst:job-abc",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": [stack.resources.subnet_id],
                "securityGroups": [stack.resources.security_group_id],
            }
        },
        overrides={
            "cpu": "1024",
            "memory": "2048",
            "containerOverrides": [
                {
                    "name": "worker",
                    "environment": [
                        {"name": k, "value": v}
                        for k, v in (
                            env or {"BATCH_SPEC": "s3://b/jobs/x/batches/0001.json"}
                        ).items()
                    ],
                }
            ],
        },
    )
    return str(response["tasks"][0]["taskArn"])


def stopped_events() -> list[dict[str, Any]]:
    import local_fake_app

    return local_fake_app.received("task")


def test_run_task_becomes_a_worker_process_and_a_stopped_event(
    fake_stack_factory: Callable[..., LocalStack],
) -> None:
    stack = fake_stack_factory(worker_command=WORKER_EXITS_3)

    task_arn = run_task(stack)

    events = wait_until(stopped_events)
    assert len(events) == 1  # the RUNNING event is put too, but the app's rule drops it
    event = events[0]
    detail = event["detail"]
    assert event["source"] == "aws.ecs"
    assert event["detail-type"] == "ECS Task State Change"
    assert event["resources"] == [task_arn]
    assert event["account"] == "123456789012"
    assert event["region"] == "us-east-1"
    assert datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    assert detail["taskArn"] == task_arn
    assert detail["lastStatus"] == "STOPPED"
    assert detail["desiredStatus"] == "STOPPED"
    assert detail["stopCode"] == "EssentialContainerExited"
    assert detail["containers"][0]["exitCode"] == 3
    assert detail["containers"][0]["name"] == "worker"
    assert (detail["cpu"], detail["memory"]) == ("1024", "2048")
    assert detail["startedBy"] == "job-abc"
    assert detail["group"] == "cloudburst:job-abc"
    assert detail["launchType"] == "FARGATE"
    assert "tags" not in detail
    assert detail["version"] == 3  # PENDING 1 → RUNNING 2 → STOPPED 3
    put = [e["lastStatus"] for e in stack.fargate.tasks[task_arn].events]
    assert put == ["RUNNING", "STOPPED"]
    stamps = [
        datetime.fromisoformat(detail[k])
        for k in ("createdAt", "pullStartedAt", "pullStoppedAt", "startedAt", "stoppedAt")
    ]
    assert stamps == sorted(stamps)
    assert detail["stoppedAt"].endswith("Z")

    task = stack.client("ecs").describe_tasks(cluster=stack.resources.cluster, tasks=[task_arn])
    described = task["tasks"][0]
    assert described["lastStatus"] == "STOPPED"
    assert described["stopCode"] == "EssentialContainerExited"
    assert described["containers"][0]["exitCode"] == 3
    assert described["version"] == 3
    log_text = stack.fargate.tasks[task_arn].log_path.read_text()
    assert "spec s3://b/jobs/x/batches/0001.json " + stack.endpoint in log_text


def test_stop_task_kills_the_worker_and_reports_user_initiated(
    fake_stack_factory: Callable[..., LocalStack],
) -> None:
    stack = fake_stack_factory(worker_command=WORKER_SLEEPS)
    task_arn = run_task(stack)
    wait_until(lambda: stack.fargate.running())

    stack.client("ecs").stop_task(
        cluster=stack.resources.cluster, task=task_arn, reason="job cancelled"
    )

    detail = wait_until(stopped_events)[0]["detail"]
    assert detail["stopCode"] == "UserInitiated"
    assert detail["stoppedReason"] == "job cancelled"
    assert detail["containers"][0]["exitCode"] == 143  # SIGTERM inside a container
    assert stack.fargate.running() == []


def test_a_worker_that_cannot_start_is_task_failed_to_start(
    fake_stack_factory: Callable[..., LocalStack],
) -> None:
    stack = fake_stack_factory(worker_command=("/nonexistent/cloudburst-worker",))

    run_task(stack)

    detail = wait_until(stopped_events)[0]["detail"]
    assert detail["stopCode"] == "TaskFailedToStart"
    assert "exitCode" not in detail["containers"][0]
    assert "CannotStartContainerError" in detail["stoppedReason"]


def test_stopping_the_stack_ends_running_workers(
    fake_stack_factory: Callable[..., LocalStack],
) -> None:
    stack = fake_stack_factory(worker_command=WORKER_SLEEPS)
    run_task(stack)
    processes = [t.process for t in wait_until(lambda: stack.fargate.running())]

    stack.stop()

    assert all(p is not None and p.poll() is not None for p in processes)


def test_a_task_stopped_before_it_started_is_still_reported_stopped(
    fake_stack_factory: Callable[..., LocalStack],
) -> None:
    stack = fake_stack_factory(worker_command=WORKER_SLEEPS)
    stack.fargate.stop()  # hold the stand-in so StopTask wins the race
    task_arn = run_task(stack)
    stack.client("ecs").stop_task(
        cluster=stack.resources.cluster, task=task_arn, reason="cancelled early"
    )

    stack.fargate.start()

    detail = wait_until(stopped_events)[0]["detail"]
    assert detail["taskArn"] == task_arn
    assert detail["stopCode"] == "UserInitiated"
    assert detail["stoppedReason"] == "cancelled early"
    assert "exitCode" not in detail["containers"][0]
    assert stack.fargate.tasks[task_arn].process is None  # no worker ever ran


def test_a_spot_task_reports_its_capacity_provider(
    fake_stack_factory: Callable[..., LocalStack],
) -> None:
    stack = fake_stack_factory(worker_command=(sys.executable, "-c", "pass"))

    run_task(stack, spot=True)

    detail = wait_until(stopped_events)[0]["detail"]
    assert detail["capacityProviderName"] == "FARGATE_SPOT"
    assert detail["launchType"] == "FARGATE"
    assert detail["containers"][0]["exitCode"] == 0


def test_after_a_restart_a_task_that_was_running_runs_again_and_a_stopped_one_stays_put(
    fake_stack_factory: Callable[..., LocalStack], tmp_path: Path
) -> None:
    # first run: sleeps (the stack stops meanwhile); second run: the batch is done, exit 0
    worker = (
        sys.executable,
        "-c",
        "import os, sys, time; mark = os.environ.get('MARK')\n"
        "if not mark: sys.exit(3)\n"
        "if os.path.exists(mark): sys.exit(0)\n"
        "open(mark, 'w').close(); time.sleep(60)",
    )
    first = fake_stack_factory(persist=True, worker_command=worker)
    finished = run_task(first)
    wait_until(stopped_events)
    running = run_task(first, {"BATCH_SPEC": "s3://b/k.json", "MARK": str(tmp_path / "mark")})
    wait_until(lambda: (tmp_path / "mark").exists())
    first.stop()

    second = fake_stack_factory(persist=True, worker_command=worker)

    [event] = wait_until(stopped_events)
    assert event["detail"]["taskArn"] == running
    assert event["detail"]["containers"][0]["exitCode"] == 0
    assert second.fargate is not None
    assert finished not in second.fargate.tasks  # reported in the first run; left alone
    described = second.client("ecs").describe_tasks(cluster=second.cluster, tasks=[finished])
    assert described["tasks"][0]["containers"][0]["exitCode"] == 3
