"""`cloudburst deploy` / `destroy` against moto's server (the image push is stubbed: moto's
ECR has no registry to push layers to, so the stub records an image manifest instead)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cloudburst import stage as stages
from cloudburst.deploy.deploy import DeployOptions, destroy, new_webhook_secret, summary
from cloudburst.deploy.deploy import deploy as run_deploy
from cloudburst.deploy.stacks import StackError, first_failure

from .conftest import REGION, RecordedImages


def options(tmp_path: Path) -> DeployOptions:
    return DeployOptions(stage="dev", region=REGION, work_dir=tmp_path / "dist")


def in_existing_subnets(aws: Any, tmp_path: Path) -> DeployOptions:
    """Options that place workers in moto's default VPC (the user's own network).

    moto's DeleteStack removes a template-made VPC before its subnets and fails, so the
    destroy tests deploy into existing subnets.
    """
    ec2 = aws.client("ec2", region_name=REGION)
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])
    group = ec2.create_security_group(GroupName="w", Description="w", VpcId=vpc["VpcId"])
    return DeployOptions(
        stage="dev",
        region=REGION,
        subnets=[s["SubnetId"] for s in subnets["Subnets"]][:2],
        security_group=group["GroupId"],
        work_dir=tmp_path / "dist",
    )


def test_deploy_creates_both_stacks_and_prints_what_a_user_needs(aws, packager, tmp_path):
    lines: list[str] = []

    done = run_deploy(options(tmp_path), aws, RecordedImages(aws), packager, lines.append, 0.2)

    assert done.result == "created"
    outputs = done.outputs
    assert outputs[stages.OUTPUT_BUCKET] == "cloudburst-dev-123456789012-eu-west-1"
    assert outputs[stages.OUTPUT_TABLE] == "cloudburst-dev"
    assert outputs[stages.OUTPUT_CLUSTER] == "cloudburst-dev"
    assert ":task-definition/cloudburst-dev-worker:" in outputs[stages.OUTPUT_TASK_DEFINITION]
    # moto's CloudFormation makes no AWS::SecretsManager::Secret, so that output is missing
    text = summary(done, REGION)
    assert (
        "aws s3 cp my-manifest.json s3://cloudburst-dev-123456789012-eu-west-1/manifests/" in text
    )
    assert any("cloudburst-dev: creating" in line for line in lines)
    cfn = aws.client("cloudformation", region_name=REGION)
    stack = cfn.describe_stacks(StackName="cloudburst-dev")["Stacks"][0]
    parameters = {p["ParameterKey"]: p.get("ParameterValue") for p in stack["Parameters"]}
    assert parameters["WorkerImage"].endswith(":x86_64-11111111111111111111")
    # the Lambdas' code went to the artefact bucket under a content key
    functions = json.loads(json.dumps(cfn.get_template(StackName="cloudburst-dev")["TemplateBody"]))
    body = functions if isinstance(functions, dict) else json.loads(functions)
    [code] = {json.dumps(r["Properties"]["CodeUri"]) for r in _functions(body)}
    assert json.loads(code)["Key"].startswith("dev/lambda-")
    # stage resolution reads the same outputs
    resolved = stages.resolve("dev", REGION, cloudformation=cfn)
    assert resolved.bucket == outputs[stages.OUTPUT_BUCKET]


def test_deploying_again_with_nothing_changed_changes_nothing(aws, packager, tmp_path):
    images = RecordedImages(aws)
    run_deploy(options(tmp_path), aws, images, packager, lambda _: None, 0.2)
    cfn = aws.client("cloudformation", region_name=REGION)
    events_before = _event_count(cfn, "cloudburst-dev")

    again = run_deploy(options(tmp_path), aws, images, packager, lambda _: None, 0.2)

    assert again.result == "unchanged"
    assert _event_count(cfn, "cloudburst-dev") == events_before


def test_a_new_image_updates_the_stack_and_keeps_the_generated_secret(aws, packager, tmp_path):
    images = RecordedImages(aws)
    run_deploy(options(tmp_path), aws, images, packager, lambda _: None, 0.2)
    secret_before = _parameters(aws)["WebhookSigningSecret"]

    images.version = "2"
    lines: list[str] = []
    updated = run_deploy(options(tmp_path), aws, images, packager, lines.append, 0.2)

    assert updated.result == "updated"
    # the update's own events are shown, not the creation's again
    events = [line for line in lines if line.startswith("  ") and "cloudburst-dev (" in line]
    assert any("UPDATE_COMPLETE" in line for line in events), lines
    assert not any("CREATE_" in line for line in events), lines
    assert updated.image.endswith(":x86_64-22222222222222222222")
    parameters = _parameters(aws)
    assert parameters["WorkerImage"] == updated.image
    # (moto echoes NoEcho values; CloudFormation would answer "****")
    assert parameters["WebhookSigningSecret"] == secret_before
    assert secret_before.startswith("whsec_")


def test_a_failed_update_says_why_and_leaves_the_stack_as_it_was(aws, packager, tmp_path):
    run_deploy(options(tmp_path), aws, RecordedImages(aws), packager, lambda _: None, 0.2)
    before = aws.client("cloudformation", region_name=REGION).describe_stacks(
        StackName="cloudburst-dev"
    )["Stacks"][0]["Outputs"]
    # a queue the update would create already exists outside the stack
    aws.client("sqs", region_name=REGION).create_queue(QueueName="cloudburst-dev-taken")
    packager.edits.append(
        lambda t: t["Resources"].update(
            {
                "Taken": {
                    "Type": "AWS::SQS::Queue",
                    "Properties": {"QueueName": "cloudburst-dev-taken", "DelaySeconds": 5},
                }
            }
        )
    )

    with pytest.raises(StackError, match="QueueAlreadyExists"):
        run_deploy(options(tmp_path), aws, RecordedImages(aws), packager, lambda _: None, 0.2)

    after = aws.client("cloudformation", region_name=REGION).describe_stacks(
        StackName="cloudburst-dev"
    )["Stacks"][0]["Outputs"]
    assert after == before


def test_destroy_keeps_the_bucket_and_its_objects_unless_asked(aws, packager, tmp_path):
    done = run_deploy(
        in_existing_subnets(aws, tmp_path), aws, RecordedImages(aws), packager, lambda _: None, 0.2
    )
    bucket = done.outputs[stages.OUTPUT_BUCKET]
    s3 = aws.client("s3", region_name=REGION)
    s3.put_object(Bucket=bucket, Key="outputs/job/job.json", Body=b"{}")
    cfn = aws.client("cloudformation", region_name=REGION)

    destroy("dev", REGION, aws, delete_data=False, say=lambda _: None, poll_seconds=0.2)

    assert [s["StackName"] for s in _live_stacks(cfn)] == []
    assert s3.get_object(Bucket=bucket, Key="outputs/job/job.json")["Body"].read() == b"{}"


def test_destroy_with_delete_data_removes_every_version_and_the_bucket(aws, packager, tmp_path):
    done = run_deploy(
        in_existing_subnets(aws, tmp_path), aws, RecordedImages(aws), packager, lambda _: None, 0.2
    )
    bucket = done.outputs[stages.OUTPUT_BUCKET]
    s3 = aws.client("s3", region_name=REGION)
    for body in (b"1", b"2"):
        s3.put_object(Bucket=bucket, Key="manifests/a.json", Body=body)

    destroy("dev", REGION, aws, delete_data=True, say=lambda _: None, poll_seconds=0.2)

    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_the_first_failure_is_the_cause_not_the_cancellations_after_it():
    def event(resource: str, status: str, reason: str = "") -> dict[str, Any]:
        return {
            "LogicalResourceId": resource,
            "ResourceStatus": status,
            "ResourceStatusReason": reason,
            "Timestamp": datetime.now(UTC),
        }

    newest_first = [
        event("cloudburst-dev", "UPDATE_ROLLBACK_COMPLETE"),
        event("JobTable", "UPDATE_FAILED", "Resource update cancelled"),
        event("Cluster", "UPDATE_FAILED", "Resource handler returned message: quota exceeded"),
        event("Cluster", "UPDATE_IN_PROGRESS"),
    ]

    first = first_failure(newest_first)

    assert first is not None
    assert (first["LogicalResourceId"], first["ResourceStatusReason"]) == (
        "Cluster",
        "Resource handler returned message: quota exceeded",
    )


def test_a_generated_webhook_secret_has_the_standard_webhooks_form():
    from standardwebhooks import Webhook

    secret = new_webhook_secret()

    assert secret.startswith("whsec_")
    assert len(secret) == 6 + 44
    Webhook(secret)  # accepts it


def _functions(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]


def _event_count(cfn: Any, name: str) -> int:
    return sum(
        len(page["StackEvents"])
        for page in cfn.get_paginator("describe_stack_events").paginate(StackName=name)
    )


def _live_stacks(cfn: Any) -> list[dict[str, Any]]:
    return [s for s in cfn.list_stacks()["StackSummaries"] if s["StackStatus"] != "DELETE_COMPLETE"]


def test_destroy_asks_for_the_stage_name_and_deletes_nothing_without_it(aws, monkeypatch, capsys):
    from cloudburst.cli import main

    monkeypatch.setattr("builtins.input", lambda prompt: "prod")

    assert main(["destroy", "--stage", "dev", "--region", REGION]) == 1

    assert "not confirmed; nothing deleted" in capsys.readouterr().out


def _parameters(aws: Any) -> dict[str, str]:
    cfn = aws.client("cloudformation", region_name=REGION)
    stack = cfn.describe_stacks(StackName="cloudburst-dev")["Stacks"][0]
    return {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack["Parameters"]}
