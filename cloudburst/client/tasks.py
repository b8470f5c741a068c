"""``tasks`` and ``cleanup``: this deployment's worker tasks, and stopping them.

Only tasks the pipeline launched are ever listed or stopped: ``startedBy`` must name a
CloudBurst job and batch (``cloudburst/<job>/<batch>``) and the task must carry the tag
``CreatedBy=cloudburst`` (both set by :mod:`chalicelib.adapters.ecs`). Tasks still being
provisioned count too (``desiredStatus`` RUNNING covers PROVISIONING and PENDING), which
the earlier cleanup missed; every page of ListTasks is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.adapters.ecs import describe, running_task_arns
from chalicelib.events import parse_started_by

CREATED_BY = ("CreatedBy", "cloudburst")


@dataclass(frozen=True)
class WorkerTask:
    task_arn: str
    job_id: str
    batch_number: int
    status: str
    started_at: str | None
    cpu: str | None
    memory: str | None
    capacity_provider: str | None
    tags: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        """The earlier ``list_running_tasks`` entry, plus the job and batch."""
        return {
            "task_arn": self.task_arn,
            "status": self.status,
            "started_at": self.started_at,
            "public_ip": None,  # tasks need no public address: nothing connects to them
            "tags": [{"key": k, "value": v} for k, v in sorted(self.tags.items())],
            "job_id": self.job_id,
            "batch_number": self.batch_number,
            "cpu": self.cpu,
            "memory": self.memory,
            "capacity_provider": self.capacity_provider,
        }


@dataclass(frozen=True)
class StopResult:
    stopped: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]  # (task arn, error)

    def as_dict(self) -> dict[str, Any]:
        """The earlier ``cleanup_all_tasks`` result."""
        return {
            "success": not self.failed,
            "message": f"Terminated {len(self.stopped)} tasks, {len(self.failed)} failed",
            "terminated_count": len(self.stopped),
            "failed_count": len(self.failed),
            "terminated_tasks": list(self.stopped),
            "failed_tasks": [{"task_arn": arn, "error": error} for arn, error in self.failed],
        }


def list_worker_tasks(ecs: Any, cluster: str, job_id: str | None = None) -> list[WorkerTask]:
    """The deployment's worker tasks that have not stopped, of one job or of all."""
    arns = running_task_arns(ecs, cluster)
    tasks: list[WorkerTask] = []
    for task in describe(ecs, cluster, arns, include=["TAGS"]).values():
        worker = _worker_task(task)
        if worker is not None and (job_id is None or worker.job_id == job_id):
            tasks.append(worker)
    tasks.sort(key=lambda t: (t.job_id, t.batch_number, t.task_arn))
    return tasks


def stop_worker_tasks(
    ecs: Any, cluster: str, tasks: Sequence[WorkerTask], reason: str
) -> StopResult:
    """StopTask each one; a task that cannot be stopped is reported, not raised."""
    from botocore.exceptions import ClientError

    stopped: list[str] = []
    failed: list[tuple[str, str]] = []
    for task in tasks:
        try:
            ecs.stop_task(cluster=cluster, task=task.task_arn, reason=f"CloudBurst: {reason}"[:255])
        except ClientError as exc:
            error = exc.response["Error"]
            failed.append((task.task_arn, f"{error['Code']}: {error.get('Message', '')}"))
        else:
            stopped.append(task.task_arn)
    return StopResult(tuple(stopped), tuple(failed))


def _worker_task(task: dict[str, Any]) -> WorkerTask | None:
    ref = parse_started_by(task.get("startedBy"))
    tags = {t["key"]: t.get("value", "") for t in task.get("tags", []) if "key" in t}
    if ref is None or tags.get(CREATED_BY[0]) != CREATED_BY[1]:
        return None
    started = task.get("startedAt") or task.get("createdAt")
    return WorkerTask(
        task_arn=task["taskArn"],
        job_id=ref[0],
        batch_number=ref[1],
        status=str(task.get("lastStatus", "UNKNOWN")),
        started_at=started.isoformat() if isinstance(started, datetime) else started,
        cpu=task.get("cpu"),
        memory=task.get("memory"),
        capacity_provider=task.get("capacityProviderName"),
        tags=tags,
    )
