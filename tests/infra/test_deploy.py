"""`cloudburst deploy` / `destroy` against moto's server (the image push is stubbed: moto's
ECR has no registry to push layers to, so the stub records an image manifest instead)."""

from __future__ import annotations

import json
import re
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
    named = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["w"]}])
    group = (named["SecurityGroups"] or [None])[0] or ec2.create_security_group(
        GroupName="w", Description="w", VpcId=vpc["VpcId"]
    )
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
    # named by CloudFormation: <stack>-<logical id>-<random>, nobody can take it first
    assert outputs[stages.OUTPUT_BUCKET].startswith("cloudburst-dev-jobbucket-")
    assert outputs[stages.OUTPUT_TABLE] == "cloudburst-dev"
    assert outputs[stages.OUTPUT_CLUSTER] == "cloudburst-dev"
    assert ":task-definition/cloudburst-dev-worker:" in outputs[stages.OUTPUT_TASK_DEFINITION]
    # moto's CloudFormation makes no AWS::SecretsManager::Secret, so that output is missing
    text = summary(done, REGION)
    assert f"aws s3 cp my-manifest.json s3://{outputs[stages.OUTPUT_BUCKET]}/manifests/" in text
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


# -- what a real account hits: a failed first create, a redeploy after destroy, every flag ----


def _as_aws_leaves_a_failed_create(stack_name: str) -> None:
    """moto answers a failing CreateStack with the error and leaves the stack
    CREATE_IN_PROGRESS; CloudFormation rolls it back to ROLLBACK_COMPLETE, which a stack
    that was never created stays in until it is deleted. Put the stack where AWS would."""
    from moto.cloudformation.models import cloudformation_backends

    backend = cloudformation_backends["123456789012"][REGION]
    [stack] = [s for s in backend.stacks.values() if s.name == stack_name]
    stack.status = "ROLLBACK_COMPLETE"


def test_a_failed_first_create_is_deleted_and_the_next_deploy_creates_the_stage(
    aws, packager, tmp_path
):
    sqs = aws.client("sqs", region_name=REGION)
    taken = sqs.create_queue(QueueName="cloudburst-dev-sweeper-dlq")["QueueUrl"]
    chosen = in_existing_subnets(aws, tmp_path)  # (moto deletes a made VPC out of order)
    with pytest.raises(StackError, match="QueueAlreadyExists"):
        run_deploy(chosen, aws, RecordedImages(aws), packager, lambda _: None, 0.2)
    _as_aws_leaves_a_failed_create("cloudburst-dev")
    sqs.delete_queue(QueueUrl=taken)

    lines: list[str] = []
    done = run_deploy(chosen, aws, RecordedImages(aws), packager, lines.append, 0.2)

    assert done.result == "created"
    assert any("ROLLBACK_COMPLETE: it was never created; deleting it" in line for line in lines)
    # a create cannot keep a previous value: a fresh secret was sent
    assert _parameters(aws)["WebhookSigningSecret"].startswith("whsec_")


def test_a_stack_still_in_progress_is_refused_with_what_to_do(aws, packager, tmp_path):
    run_deploy(options(tmp_path), aws, RecordedImages(aws), packager, lambda _: None, 0.2)
    from moto.cloudformation.models import cloudformation_backends

    stacks = cloudformation_backends["123456789012"][REGION].stacks.values()
    [stack] = [s for s in stacks if s.name == "cloudburst-dev"]
    stack.status = "UPDATE_IN_PROGRESS"

    with pytest.raises(StackError, match="UPDATE_IN_PROGRESS; wait for it to finish"):
        run_deploy(options(tmp_path), aws, RecordedImages(aws), packager, lambda _: None, 0.2)


def test_a_stage_deploys_again_after_destroy_kept_its_bucket(aws, packager, tmp_path):
    first = run_deploy(
        in_existing_subnets(aws, tmp_path), aws, RecordedImages(aws), packager, lambda _: None, 0.2
    )
    kept = first.outputs[stages.OUTPUT_BUCKET]
    lines: list[str] = []
    destroy("dev", REGION, aws, delete_data=False, say=lines.append, poll_seconds=0.2)

    again = run_deploy(
        in_existing_subnets(aws, tmp_path), aws, RecordedImages(aws), packager, lambda _: None, 0.2
    )

    assert again.result == "created"
    assert again.outputs[stages.OUTPUT_BUCKET] != kept
    buckets = [b["Name"] for b in aws.client("s3", region_name=REGION).list_buckets()["Buckets"]]
    assert kept in buckets
    assert any("a new deploy of this stage makes a new bucket" in line for line in lines)


def test_every_flag_reaches_its_parameter_and_is_kept_when_not_repeated(aws, packager, tmp_path):
    flags = in_existing_subnets(aws, tmp_path)
    flags.assign_public_ip = True
    flags.alarm_email = "ops@example.com"
    flags.permissions_boundary = "arn:aws:iam::123456789012:policy/boundary"
    flags.architecture = "arm64"
    lines: list[str] = []

    run_deploy(flags, aws, RecordedImages(aws), packager, lines.append, 0.2)

    given = _parameters(aws)
    assert given["AssignPublicIp"] == "true"
    assert given["AlarmEmail"] == "ops@example.com"
    assert given["PermissionsBoundary"] == "arn:aws:iam::123456789012:policy/boundary"
    assert given["WorkerArchitecture"] == "arm64"
    # (moto shows a CommaDelimitedList as a Python list's repr)
    assert re.findall(r"subnet-\w+", given["SubnetIds"]) == flags.subnets
    assert given["SecurityGroupId"] == flags.security_group
    assert any("Spot run on demand" in line for line in lines)
    assert any("alarms go to ops@example.com" in line for line in lines)

    # the next deploy names only what it changes (a new image): the flags stay
    images = RecordedImages(aws)
    images.version = "2"
    repeat = in_existing_subnets_again(flags, tmp_path)
    updated = run_deploy(repeat, aws, images, packager, lambda _: None, 0.2)

    assert updated.result == "updated"
    kept = _parameters(aws)
    for key in ("AssignPublicIp", "AlarmEmail", "PermissionsBoundary"):
        assert kept[key] == given[key], key


def in_existing_subnets_again(flags: DeployOptions, tmp_path: Path) -> DeployOptions:
    return DeployOptions(
        stage="dev",
        region=REGION,
        architecture=flags.architecture,
        subnets=flags.subnets,
        security_group=flags.security_group,
        work_dir=tmp_path / "dist",
    )


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"subnets": ["subnet-1"]}, "--subnets needs --security-group"),
        ({"security_group": "sg-1"}, "--security-group goes with --subnets"),
        ({"assign_public_ip": True}, "--assign-public-ip goes with --subnets"),
        ({"alarm_email": "not-an-address"}, "is not an e-mail address"),
        ({"permissions_boundary": "boundary"}, "is not a managed policy ARN"),
    ],
)
def test_options_that_would_deploy_a_broken_stage_are_refused_before_any_call(
    tmp_path, changes, refusal
):
    from cloudburst.deploy.deploy import DeployError

    chosen = options(tmp_path)
    for key, value in changes.items():
        setattr(chosen, key, value)

    class NoAws:
        def client(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("no AWS call expected")

    with pytest.raises(DeployError, match=refusal):
        run_deploy(chosen, NoAws(), RecordedImages.__new__(RecordedImages), None, print)  # type: ignore[arg-type]


def test_deploy_says_what_aws_refused_without_a_traceback(monkeypatch, capsys):
    from cloudburst.cli import main

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    code = main(["deploy", "--stage", "dev", "--region", REGION])

    err = capsys.readouterr().err
    assert code == 1
    assert "cloudburst deploy: AWS refused:" in err
    assert "Traceback" not in err


def test_the_cli_refuses_subnets_without_a_security_group_before_calling_aws(monkeypatch, capsys):
    from cloudburst.cli import main

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there

    code = main(["deploy", "--stage", "dev", "--region", REGION, "--subnets", "subnet-1"])

    err = capsys.readouterr().err
    assert code == 1
    assert "--subnets needs --security-group" in err
