"""``tasks``/``cleanup`` see and stop only this deployment's worker tasks (moto ECS)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from chalicelib.events import started_by
from cloudburst.client.tasks import list_worker_tasks, stop_worker_tasks
from cloudburst.local.bootstrap import default_network
from tests.client.conftest import CLUSTER, REGION


@pytest.fixture
def network(s3: Any) -> dict[str, Any]:
    """moto's default VPC, as the local stack places its tasks (RunTask awsvpc needs it)."""
    subnet, group = default_network(boto3.client("ec2", region_name=REGION))
    return {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}}


@pytest.fixture
def ecs(network: dict[str, Any]) -> Any:
    client = boto3.client("ecs", region_name=REGION)
    client.network = network  # type: ignore[attr-defined]
    client.create_cluster(clusterName=CLUSTER)
    client.register_task_definition(
        family="cloudburst-worker",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="1024",
        memory="2048",
        containerDefinitions=[{"name": "worker", "image": "worker:latest", "memory": 2048}],
    )
    return client


def run(ecs: Any, started: str | None, tags: dict[str, str]) -> str:
    extra: dict[str, Any] = {"startedBy": started} if started else {}
    response = ecs.run_task(
        cluster=CLUSTER,
        taskDefinition="cloudburst-worker",
        launchType="FARGATE",
        networkConfiguration=ecs.network,
        tags=[{"key": k, "value": v} for k, v in tags.items()],
        **extra,
    )
    return str(response["tasks"][0]["taskArn"])


def ours(job_id: str, batch: int) -> dict[str, str]:
    return {
        "CreatedBy": "cloudburst",
        "Purpose": "video-generation",
        "Job": job_id,
        "Batch": str(batch),
    }


def test_only_tasks_the_pipeline_launched_are_listed_and_by_job(ecs: Any) -> None:
    # given two jobs' tasks, a task of another service and one merely claiming our tag
    a1 = run(ecs, started_by("ep1-aaaaaaaaaaaa", 1), ours("ep1-aaaaaaaaaaaa", 1))
    a2 = run(ecs, started_by("ep1-aaaaaaaaaaaa", 2), ours("ep1-aaaaaaaaaaaa", 2))
    b1 = run(ecs, started_by("ep2-bbbbbbbbbbbb", 1), ours("ep2-bbbbbbbbbbbb", 1))
    run(ecs, "web/deploy-42", {"CreatedBy": "someone-else"})
    run(ecs, None, {"CreatedBy": "cloudburst"})

    # when the deployment's tasks are listed, all and for one job
    every = list_worker_tasks(ecs, CLUSTER)
    first_job = list_worker_tasks(ecs, CLUSTER, "ep1-aaaaaaaaaaaa")

    # then only ours appear, each naming its job and batch
    assert sorted(t.task_arn for t in every) == sorted([a1, a2, b1])
    assert [(t.job_id, t.batch_number) for t in first_job] == [
        ("ep1-aaaaaaaaaaaa", 1),
        ("ep1-aaaaaaaaaaaa", 2),
    ]
    entry = first_job[0].as_dict()
    assert {"task_arn", "status", "started_at", "public_ip", "tags"} <= entry.keys()
    assert {"key": "CreatedBy", "value": "cloudburst"} in entry["tags"]


def test_cleanup_of_one_job_leaves_the_other_jobs_tasks_running(ecs: Any) -> None:
    a1 = run(ecs, started_by("ep1-aaaaaaaaaaaa", 1), ours("ep1-aaaaaaaaaaaa", 1))
    b1 = run(ecs, started_by("ep2-bbbbbbbbbbbb", 1), ours("ep2-bbbbbbbbbbbb", 1))

    result = stop_worker_tasks(
        ecs, CLUSTER, list_worker_tasks(ecs, CLUSTER, "ep1-aaaaaaaaaaaa"), "test"
    )

    assert result.as_dict()["terminated_count"] == 1
    assert result.as_dict()["message"] == "Terminated 1 tasks, 0 failed"
    described = ecs.describe_tasks(cluster=CLUSTER, tasks=[a1, b1])["tasks"]
    desired = {t["taskArn"]: t["desiredStatus"] for t in described}
    assert desired == {a1: "STOPPED", b1: "RUNNING"}
    assert [t.task_arn for t in list_worker_tasks(ecs, CLUSTER)] == [b1]
