"""The worker's task role policy (in the stage's template) allows every S3 call a resumed
batch makes, and reaches only that stage's bucket."""

from __future__ import annotations

import fnmatch
from typing import Any

import botocore.client
import pytest
from cloudburst_worker.__main__ import main

from chalicelib.contracts import batch_spec_key, output_key
from cloudburst.deploy.intrinsics import resolve
from cloudburst.deploy.names import resource_names
from cloudburst.deploy.template import infra_template

from .conftest import BUCKET, JOB_ID, Media, make_spec, scene_with_assets

STAGES = ("local", "dev", "prod")
ACCOUNT, REGION = "123456789012", "eu-west-1"
# API operations whose IAM actions are named differently
ACTIONS = {
    "HeadObject": "s3:GetObject",
    "ListObjectsV2": "s3:ListBucket",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
}


def test_the_task_role_policy_allows_every_call_of_a_resumed_batch(
    s3: Any, media: Media, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a retried batch: one scene's MP4 is already in S3, one is still to render
    scenes = [scene_with_assets(s3, media, "scene_001"), scene_with_assets(s3, media, "scene_002")]
    spec = make_spec(scenes)
    s3.put_object(Bucket=BUCKET, Key=batch_spec_key(JOB_ID, 1), Body=spec.model_dump_json())
    s3.put_object(Bucket=BUCKET, Key=output_key(JOB_ID, "scene_001"), Body=b"\0" * 2048)

    # when the worker runs it, recording every S3 call (transfers run on their own threads)
    calls: set[str] = set()
    original = botocore.client.BaseClient._make_api_call

    def record(self: Any, operation: str, params: dict[str, Any]) -> Any:
        calls.add(operation)
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    code = main({"BATCH_SPEC": f"s3://{BUCKET}/{batch_spec_key(JOB_ID, 1)}"}, s3=s3)
    monkeypatch.undo()

    # then every call is allowed by each stage's task role policy
    assert code == 0
    needed = {ACTIONS.get(operation, f"s3:{operation}") for operation in calls}
    assert {"s3:GetObject", "s3:PutObject"} <= needed
    for stage in STAGES:
        policy = task_role_policy(stage)
        allowed = {
            action
            for statement in policy["Statement"]
            if statement["Effect"] == "Allow"
            for action in statement["Action"]
        }
        missing = sorted(a for a in needed if not any(fnmatch.fnmatch(a, p) for p in allowed))
        assert missing == [], f"the {stage} task role lacks {missing}"


def task_role_policy(stage: str) -> dict[str, Any]:
    role = infra_template(stage, [])["Resources"]["WorkerTaskRole"]["Properties"]
    [policy] = role["Policies"]
    return resolve(policy["PolicyDocument"], resource_names(stage, account=ACCOUNT, region=REGION))


@pytest.mark.parametrize("stage", STAGES)
def test_each_task_role_policy_is_limited_to_its_stages_bucket(stage: str) -> None:
    bucket = resource_names(stage, account=ACCOUNT, region=REGION)["JobBucket"]
    policy = task_role_policy(stage)
    resources = {statement["Resource"] for statement in policy["Statement"]}
    assert resources == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}
