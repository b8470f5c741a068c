"""The Lambdas' IAM policy (.chalice/policy-<stage>.json) allows every AWS call they make.

Chalice's policy generator reads only app.py, and every AWS call lives in chalicelib, so the
policy is written by hand; this test runs the use cases against moto, records each API call
they make, and checks the policy allows its IAM action.
"""

from __future__ import annotations

import fnmatch
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.client
import pytest

CHALICE = Path(__file__).resolve().parents[2] / ".chalice"
STAGES = ("local", "dev", "prod")
# API operations whose IAM actions are named differently, or that need more than one.
ACTIONS = {
    ("s3", "HeadObject"): ["s3:GetObject"],
    ("s3", "ListObjectsV2"): ["s3:ListBucket"],
    ("dynamodb", "TransactWriteItems"): ["dynamodb:UpdateItem"],  # we only transact updates
    ("ecs", "RunTask"): ["ecs:RunTask", "ecs:TagResource", "iam:PassRole"],
}


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> set[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    original = botocore.client.BaseClient._make_api_call

    def record(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if _called_from_chalicelib():  # not the test's own setup and checks
            name = operation
            if operation == "GetObject" and "VersionId" in params:
                name = "GetObjectVersion"  # IAM authorises reading a version apart
            seen.add((self.meta.service_model.endpoint_prefix, name))
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    return seen


def _called_from_chalicelib() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if f"{os.sep}chalicelib{os.sep}" in frame.f_code.co_filename:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def allowed(policy: dict[str, Any], action: str) -> bool:
    for statement in policy["Statement"]:
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else actions
        if statement["Effect"] == "Allow" and any(fnmatch.fnmatch(action, a) for a in actions):
            return True
    return False


def test_the_policy_allows_every_call_of_a_job_with_a_retry_a_sweep_and_a_webhook_retry(
    aws_dynamo, calls: set[tuple[str, str]]
):
    aws = aws_dynamo
    scenes = ["scene_001", "scene_002", "scene_003", "scene_004"]
    aws.put_assets(scenes)
    # a job whose first batch is interrupted by Spot and retried, a second one, a third cancelled
    job_id = aws.submit(scenes, scenes_per_batch=2, max_parallel_tasks=2, config_priority=5)
    tasks = aws.tasks_by_batch()
    aws.put_assets(["late"])
    aws.deliver(aws.upload_manifest(["late"], key="manifests/late.json"))
    aws.request_cancel(aws.deliver(aws.upload_manifest(["late"], key="manifests/gone.json")))
    aws.write_results(job_id, {"scene_001": "succeeded"})
    aws.stop(tasks[1], exit_code=None, stop_code="SpotInterruption")
    # it finishes while the webhook receiver is down, and the sweeper retries the webhook
    aws.write_results(job_id, dict.fromkeys(scenes, "succeeded"))
    retry = aws.svc.jobs.get_batch(job_id, 1)
    [retry_task] = [t for t in aws.tasks() if t["taskArn"] == retry.task_arn]
    aws.receiver.stop()
    aws.stop(retry_task)
    aws.stop(tasks[2])
    aws.sweep(now=datetime.now(UTC) + timedelta(minutes=2))
    # the second job's task hangs: the sweeper checks it with ECS and stops it
    assert aws.sweep(now=datetime.now(UTC) + timedelta(hours=7))["stopped_overtime"] == 1

    needed = {a for call in calls for a in ACTIONS.get(call, [f"{call[0]}:{call[1]}"])}
    assert {"ecs:DescribeTasks", "ecs:StopTask", "ecs:ListTasks", "dynamodb:Query"} <= needed
    assert {"s3:ListBucket", "s3:GetObjectVersion"} <= needed
    for stage in STAGES:
        policy = json.loads((CHALICE / f"policy-{stage}.json").read_text())
        missing = sorted(action for action in needed if not allowed(policy, action))
        assert missing == [], f"policy-{stage}.json lacks {missing}"


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_policy_names_that_stages_bucket_and_nothing_broader(stage: str):
    config = json.loads((CHALICE / "config.json").read_text())
    bucket = config["stages"][stage]["environment_variables"]["CLOUDBURST_BUCKET"]
    policy = json.loads((CHALICE / f"policy-{stage}.json").read_text())
    s3_resources = {
        resource
        for statement in policy["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str)
                       else statement["Action"])
        if action.startswith("s3:")
        for resource in ([statement["Resource"]] if isinstance(statement["Resource"], str)
                         else statement["Resource"])
    }  # fmt: skip
    assert s3_resources == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}
    assert config["autogen_policy"] is False
