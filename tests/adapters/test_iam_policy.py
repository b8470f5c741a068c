"""The Lambdas' IAM policy (in the stage's template) allows every AWS call they make.

Chalice's policy generator reads only app.py, and every AWS call lives in chalicelib, so the
policy is written by hand in ``cloudburst/deploy/policies.py`` and merged into each function's
role by the template; this test runs the use cases against moto, records each API call they
make, and checks the policy allows its IAM action.
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

from chalicelib.events import ObjectCreatedEvent
from chalicelib.usecases import reactions
from cloudburst.deploy.functions import FunctionSpec
from cloudburst.deploy.intrinsics import resolve
from cloudburst.deploy.names import resource_names
from cloudburst.deploy.policies import LAMBDA_CALLS
from cloudburst.deploy.template import infra_template

CHALICE = Path(__file__).resolve().parents[2] / ".chalice"
STAGES = ("local", "dev", "prod")
ACCOUNT, REGION = "123456789012", "eu-west-1"
SWEEPER = FunctionSpec("sweeper", "Sweeper", "SweeperEvent", None, "rate(1 minute)")
# API operations whose IAM actions are named differently, or that need more than one.
ACTIONS = {
    ("s3", "HeadObject"): ["s3:GetObject"],
    ("s3", "ListObjectsV2"): ["s3:ListBucket"],
    ("s3", "ListObjectVersions"): ["s3:ListBucketVersions"],
    # a scene counted on its batch: its own item put, the batch's counters updated
    ("dynamodb", "TransactWriteItems"): ["dynamodb:PutItem", "dynamodb:UpdateItem"],
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


def stage_policy(stage: str) -> dict[str, Any]:
    """The policy a function's role gets in ``stage``'s template, names resolved."""
    template = infra_template(stage, [SWEEPER])
    policies = template["Resources"]["SweeperRole"]["Properties"]["Policies"]
    # (the role's other policy only sends its on-failure records to its own queue)
    [policy] = [p for p in policies if p["PolicyName"] == "SweeperPolicy"]
    names = resource_names(stage, account=ACCOUNT, region=REGION)
    return resolve(policy["PolicyDocument"], names)


def allowed(policy: dict[str, Any], action: str) -> bool:
    for statement in policy["Statement"]:
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else actions
        if statement["Effect"] == "Allow" and any(fnmatch.fnmatch(action, a) for a in actions):
            return True
    return False


def test_the_policy_allows_every_call_of_a_job_with_a_retry_a_sweep_and_a_webhook_retry(
    aws_dynamo, calls: set[tuple[str, str]], with_settings
):
    aws = aws_dynamo
    # an upload whose event ended in its rule's dead-letter queue, redriven by the sweeper
    queue = aws.sqs.create_queue(QueueName="cloudburst-local-on-manifest-uploaded-dlq")
    with_settings(aws, dead_letter_queues=[queue["QueueUrl"]])
    aws.put_assets(["lost"])
    lost = aws.upload_manifest(["lost"], key="manifests/lost.json")
    aws.sqs.send_message(QueueUrl=queue["QueueUrl"], MessageBody=json.dumps(lost))
    scenes = ["scene_001", "scene_002", "scene_003", "scene_004"]
    aws.put_assets(scenes)
    # a job whose first batch is interrupted by Spot and retried, a second one, a third cancelled
    job_id = aws.submit(scenes, scenes_per_batch=2, max_parallel_tasks=2, config_priority=5)
    tasks = aws.tasks_by_batch()
    aws.put_assets(["late"])
    aws.deliver(aws.upload_manifest(["late"], key="manifests/late.json"))
    aws.request_cancel(aws.deliver(aws.upload_manifest(["late"], key="manifests/gone.json")))
    aws.write_results(job_id, {"scene_001": "succeeded"})
    record = aws.load_event(
        "s3_object_created",
        detail={
            "bucket": {"name": aws.bucket},
            "object": {"key": f"jobs/{job_id}/results/scene_001.json", "size": 1},
        },
    )  # the worker's result record, announced as it is written
    reactions.scene_reported(ObjectCreatedEvent.model_validate(record), aws.svc)
    assert aws.status(job_id)["scenes_succeeded"] == 1
    aws.stop(tasks[1], exit_code=None, stop_code="SpotInterruption")
    # it finishes while the webhook receiver is down, and the sweeper retries the webhook
    aws.write_results(job_id, dict.fromkeys(scenes, "succeeded"))
    retry = aws.svc.jobs.get_batch(job_id, 1)
    [retry_task] = [t for t in aws.tasks() if t["taskArn"] == retry.task_arn]
    aws.receiver.stop()
    aws.stop(retry_task)
    aws.stop(tasks[2])
    aws.sweep(now=datetime.now(UTC) + timedelta(minutes=2))
    # the second and the redriven jobs' tasks hang: the sweeper checks them with ECS, stops them
    assert aws.sweep(now=datetime.now(UTC) + timedelta(hours=7))["stopped_overtime"] == 2

    needed = {a for call in calls for a in ACTIONS.get(call, [f"{call[0]}:{call[1]}"])}
    assert {"ecs:DescribeTasks", "ecs:StopTask", "ecs:ListTasks", "dynamodb:Query"} <= needed
    assert {"s3:ListBucketVersions", "s3:GetObjectVersion", "sqs:ReceiveMessage"} <= needed
    # `cloudburst doctor` simulates this list against the deployed roles: it must cover them
    assert sorted(needed - {action for action, _, _ in LAMBDA_CALLS}) == []
    for stage in STAGES:
        missing = sorted(action for action in needed if not allowed(stage_policy(stage), action))
        assert missing == [], f"the {stage} template's Lambda policy lacks {missing}"


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_policy_names_that_stages_bucket_and_nothing_broader(stage: str):
    bucket = resource_names(stage, account=ACCOUNT, region=REGION)["JobBucket"]
    policy = stage_policy(stage)
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
    assert bucket.startswith(f"cloudburst-{stage}-")
    # chalice's own policy file is a deny-all placeholder: the template's policy replaces it
    config = json.loads((CHALICE / "config.json").read_text())
    assert config["autogen_policy"] is False
    placeholder = json.loads((CHALICE / config["stages"][stage]["iam_policy_file"]).read_text())
    assert {s["Effect"] for s in placeholder["Statement"]} == {"Deny"}
