"""ECS adapter: one Fargate task per batch through RunTask.

Every call names its job (``startedBy``, ``group``, tags) so operations can find and stop
exactly our tasks, and carries a ``clientToken`` derived from job/batch/attempt so a
retried RunTask never starts a second task.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.contracts import ATTEMPT_ENV, BATCH_SPEC_ENV
from chalicelib.events import event_from_described_task, parse_started_by, started_by
from chalicelib.ports import Launch, TaskRequest, TaskState
from chalicelib.pricing import spot_available
from chalicelib.settings import Settings

# Client errors that no retry will fix: the batch fails with the reason instead.
_PERMANENT_ERRORS = {
    "InvalidParameterException",
    "ClientException",
    "AccessDeniedException",
    "ClusterNotFoundException",
    "PlatformUnknownException",
}


class EcsTasks:
    """The :class:`chalicelib.ports.Tasks` of one cluster, through its ECS client."""

    def __init__(self, client: Any, settings: Settings) -> None:
        self._ecs = client
        self._settings = settings

    def launch(self, request: TaskRequest) -> Launch:
        return launch(
            self._ecs,
            run_task_request(self._settings, request),
        )

    def stop(self, task_arn: str, reason: str) -> None:
        stop(self._ecs, self._settings.cluster, task_arn, reason)

    def describe(self, task_arns: Sequence[str], at: datetime) -> dict[str, TaskState]:
        found = describe(self._ecs, self._settings.cluster, list(task_arns))
        return {arn: self._state(arn, task, at) for arn, task in found.items()}

    def ours_running(self) -> dict[str, str]:
        return our_running_tasks(self._ecs, self._settings.cluster)

    def _state(self, arn: str, task: dict[str, Any], at: datetime) -> TaskState:
        if task.get("lastStatus") != "STOPPED":
            return TaskState(arn)
        account = arn.split(":")[4]  # arn:aws:ecs:<region>:<account>:task/…
        event = event_from_described_task(
            task, region=self._settings.region, account=account, at=at
        )
        return TaskState(arn, stopped=event)


def client_token(job_id: str, batch_number: int, attempt: int) -> str:
    """≤ 64 ASCII characters, stable for one attempt of one batch."""
    return hashlib.sha256(f"{job_id}/{batch_number}/{attempt}".encode()).hexdigest()[:64]


def run_task_request(settings: Settings, task: TaskRequest) -> dict[str, Any]:
    """The RunTask arguments for one batch (pure, so tests compare them)."""
    environment = [
        {"name": BATCH_SPEC_ENV, "value": task.spec_uri},
        {"name": ATTEMPT_ENV, "value": str(task.attempt)},
    ]
    environment += [{"name": k, "value": v} for k, v in sorted(settings.worker_environment.items())]
    request: dict[str, Any] = {
        "cluster": settings.cluster,
        "taskDefinition": settings.task_definition,
        "count": 1,
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": settings.subnets,
                "securityGroups": settings.security_groups,
                "assignPublicIp": "ENABLED" if settings.assign_public_ip else "DISABLED",
            }
        },
        "overrides": {
            "cpu": task.profile.cpu_units,
            "memory": task.profile.memory_mib,
            "containerOverrides": [{"name": settings.container_name, "environment": environment}],
        },
        "startedBy": started_by(task.job_id, task.batch_number),
        "group": f"cloudburst:{task.job_id}",
        "enableECSManagedTags": True,
        "tags": [
            {"key": "CreatedBy", "value": "cloudburst"},
            {"key": "Purpose", "value": "video-generation"},
            {"key": "Job", "value": task.job_id},
            {"key": "Batch", "value": str(task.batch_number)},
            {"key": "Language", "value": task.language},
        ],
        "clientToken": client_token(task.job_id, task.batch_number, task.attempt),
    }
    if task.spot and spot_available(settings.architecture):  # no Fargate Spot for arm64
        request["capacityProviderStrategy"] = [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    else:
        request["launchType"] = "FARGATE"
    return request


def launch(ecs: Any, request: dict[str, Any]) -> Launch:
    """Run one task; say whether a failure is worth retrying later."""
    try:
        response = ecs.run_task(**request)
    except ClientError as exc:
        error = exc.response["Error"]
        reason = f"RunTask failed: {error['Code']}: {error.get('Message', '')}".strip()
        return Launch(None, retryable=error["Code"] not in _PERMANENT_ERRORS, reason=reason)
    tasks = response.get("tasks", [])
    if tasks:
        return Launch(tasks[0]["taskArn"])
    failures = response.get("failures", [])
    detail = "; ".join(f"{f.get('reason')} {f.get('detail') or ''}".strip() for f in failures)
    # RunTask failures are capacity or placement trouble (RESOURCE:*, AGENT): try again later.
    return Launch(None, retryable=True, reason=f"RunTask started no task: {detail or 'no reason'}")


def stop(ecs: Any, cluster: str, task_arn: str, reason: str) -> None:
    """Stop a task we do not want (its STOPPED event is then ignored: no batch waits for it)."""
    ecs.stop_task(cluster=cluster, task=task_arn, reason=f"CloudBurst: {reason}")


_DESCRIBE_LIMIT = 100  # DescribeTasks takes at most 100 tasks


def describe(
    ecs: Any, cluster: str, task_arns: list[str], include: Sequence[str] = ()
) -> dict[str, dict[str, Any]]:
    """{task arn: task} for the tasks ECS still knows (it forgets stopped ones in ~1 h)."""
    found: dict[str, dict[str, Any]] = {}
    extra = {"include": list(include)} if include else {}
    for start in range(0, len(task_arns), _DESCRIBE_LIMIT):
        chunk = task_arns[start : start + _DESCRIBE_LIMIT]
        for task in ecs.describe_tasks(cluster=cluster, tasks=chunk, **extra)["tasks"]:
            found[task["taskArn"]] = task
    return found


def running_task_arns(ecs: Any, cluster: str) -> list[str]:
    """Every task of the cluster that is meant to run (starting or running)."""
    return [
        arn
        for page in ecs.get_paginator("list_tasks").paginate(
            cluster=cluster, desiredStatus="RUNNING"
        )
        for arn in page["taskArns"]
    ]


def our_running_tasks(ecs: Any, cluster: str) -> dict[str, str]:
    """{task arn: startedBy} of the cluster's tasks that CloudBurst started and that are
    meant to run (starting or running); other services' tasks are never listed."""
    return {
        arn: task.get("startedBy", "")
        for arn, task in describe(ecs, cluster, running_task_arns(ecs, cluster)).items()
        if parse_started_by(task.get("startedBy")) is not None
    }
