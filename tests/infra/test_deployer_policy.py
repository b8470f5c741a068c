"""`cloudburst deploy --print-policy` is sufficient and minimal, held against what the
CloudFormation handlers of every resource type in the expanded templates declare (the
registry schemas cfn-lint bundles), not against hope: moto enforces no IAM at all."""

from __future__ import annotations

import fnmatch
import json
from functools import cache
from pathlib import Path
from typing import Any

import cfnlint
import pytest

from cloudburst.deploy.deployer_policy import DIRECT_CALLS, EXCLUDED, deployer_policy
from cloudburst.deploy.repository import bootstrap_template

SCHEMAS = Path(cfnlint.__file__).parent / "data" / "schemas"
HANDLERS = ("create", "read", "update", "delete")
ACCOUNT, REGION = "123456789012", "eu-west-1"
BOUNDARY = "arn:aws:iam::123456789012:policy/cloudburst-boundary"

# An ARN of each resource type as CloudFormation names it for stage dev.
_SAMPLES = {
    "AWS::CloudWatch::Alarm": "arn:aws:cloudwatch:{r}:{a}:alarm:cloudburst-dev-sweeper-errors",
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{r}:{a}:table/cloudburst-dev",
    "AWS::EC2::InternetGateway": "arn:aws:ec2:{r}:{a}:internet-gateway/igw-0abc",
    "AWS::EC2::Route": "arn:aws:ec2:{r}:{a}:route-table/rtb-0abc",
    "AWS::EC2::RouteTable": "arn:aws:ec2:{r}:{a}:route-table/rtb-0abc",
    "AWS::EC2::SecurityGroup": "arn:aws:ec2:{r}:{a}:security-group/sg-0abc",
    "AWS::EC2::Subnet": "arn:aws:ec2:{r}:{a}:subnet/subnet-0abc",
    "AWS::EC2::SubnetRouteTableAssociation": "arn:aws:ec2:{r}:{a}:route-table/rtb-0abc",
    "AWS::EC2::VPC": "arn:aws:ec2:{r}:{a}:vpc/vpc-0abc",
    "AWS::EC2::VPCEndpoint": "arn:aws:ec2:{r}:{a}:vpc-endpoint/vpce-0abc",
    "AWS::EC2::VPCGatewayAttachment": "arn:aws:ec2:{r}:{a}:internet-gateway/igw-0abc",
    "AWS::ECR::Repository": "arn:aws:ecr:{r}:{a}:repository/cloudburst-dev-worker",
    "AWS::ECS::Cluster": "arn:aws:ecs:{r}:{a}:cluster/cloudburst-dev",
    "AWS::ECS::TaskDefinition": "arn:aws:ecs:{r}:{a}:task-definition/cloudburst-dev-worker:7",
    "AWS::Events::Rule": "arn:aws:events:{r}:{a}:rule/cloudburst-dev-sweeper",
    "AWS::IAM::Role": "arn:aws:iam::{a}:role/cloudburst-dev-SweeperRole-1A2B3C",
    "AWS::Lambda::EventInvokeConfig": "arn:aws:lambda:{r}:{a}:function:cloudburst-dev-sweeper",
    "AWS::Lambda::Function": "arn:aws:lambda:{r}:{a}:function:cloudburst-dev-sweeper",
    "AWS::Lambda::Permission": "arn:aws:lambda:{r}:{a}:function:cloudburst-dev-sweeper",
    "AWS::Logs::LogGroup": "arn:aws:logs:{r}:{a}:log-group:/aws/lambda/cloudburst-dev-sweeper",
    "AWS::S3::Bucket": "arn:aws:s3:::cloudburst-dev-jobbucket-1a2b3c4d5e6f",
    "AWS::S3::BucketPolicy": "arn:aws:s3:::cloudburst-dev-jobbucket-1a2b3c4d5e6f",
    "AWS::SNS::Subscription": "arn:aws:sns:{r}:{a}:cloudburst-dev-alarms:0a1b-2c3d",
    "AWS::SNS::Topic": "arn:aws:sns:{r}:{a}:cloudburst-dev-alarms",
    "AWS::SQS::Queue": "arn:aws:sqs:{r}:{a}:cloudburst-dev-sweeper-dlq",
    "AWS::SQS::QueuePolicy": "arn:aws:sqs:{r}:{a}:cloudburst-dev-sweeper-dlq",
    "AWS::SecretsManager::Secret": (
        "arn:aws:secretsmanager:{r}:{a}:secret:cloudburst-dev/webhook-signing-secret-AbCdEf"
    ),
}
# Calls that act on a role or an object, whatever the type whose handler makes them.
_OTHER_SERVICE = {
    "iam:PassRole": "arn:aws:iam::{a}:role/cloudburst-dev-worker-task-{r}",
    "iam:GetRole": "arn:aws:iam::{a}:role/cloudburst-dev-worker-task-{r}",
    "iam:CreateServiceLinkedRole": (
        "arn:aws:iam::{a}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"
    ),
    "s3:GetObject": "arn:aws:s3:::cloudburst-dev-bootstrap-artifactbucket-1a2b/dev/lambda.zip",
    "s3:GetObjectVersion": (
        "arn:aws:s3:::cloudburst-dev-bootstrap-artifactbucket-1a2b/dev/lambda.zip"
    ),
    "s3:DeleteObject": "arn:aws:s3:::cloudburst-dev-jobbucket-1a2b3c4d5e6f/jobs/x",
}


@cache
def _schema_index() -> dict[str, str]:
    return dict(json.loads((SCHEMAS / "providers" / "us-east-1.json").read_text()))


def handler_permissions(resource_type: str) -> set[str]:
    """What the type's create/read/update/delete handlers declare they may call."""
    schema = json.loads(
        (SCHEMAS / "resources" / f"{_schema_index()[resource_type]}.json").read_text()
    )
    handlers = schema.get("handlers", {})
    return {a for h in HANDLERS for a in handlers.get(h, {}).get("permissions", [])}


def allowed(policy: dict[str, Any], action: str, resource: str) -> bool:
    """Some Allow statement names the action and a resource pattern matching ``resource``
    (conditions are checked by the tests that need them)."""
    for statement in policy["Statement"]:
        actions = statement["Action"]
        resources = statement["Resource"]
        actions = [actions] if isinstance(actions, str) else actions
        resources = [resources] if isinstance(resources, str) else resources
        if any(fnmatch.fnmatch(action.lower(), a.lower()) for a in actions) and any(
            fnmatch.fnmatchcase(resource, r) for r in resources
        ):
            return True
    return False


def sample_arn(resource_type: str, action: str) -> str:
    """What the action acts on: an object, a role, or else the resource of the type."""
    return _OTHER_SERVICE.get(action, _SAMPLES[resource_type]).format(r=REGION, a=ACCOUNT)


def excluded(resource_type: str, action: str) -> bool:
    return action in EXCLUDED or f"{resource_type} {action}" in EXCLUDED


def resource_types(expanded: dict[str, dict[str, Any]]) -> set[str]:
    templates = [*expanded.values(), bootstrap_template("dev")]
    return {r["Type"] for t in templates for r in t["Resources"].values()}


def policy_actions(policy: dict[str, Any]) -> set[str]:
    return {a for s in policy["Statement"] for a in s["Action"]}


@pytest.mark.parametrize("boundary", [None, BOUNDARY])
def test_the_policy_allows_every_call_the_handlers_make_but_the_excluded_ones(expanded, boundary):
    policy = deployer_policy(boundary)
    missing = sorted(
        f"{resource_type} {action} on {sample_arn(resource_type, action)}"
        for resource_type in resource_types(expanded)
        for action in handler_permissions(resource_type)
        if not excluded(resource_type, action)
        and not allowed(policy, action, sample_arn(resource_type, action))
        and not (boundary and action == "iam:DeleteRolePermissionsBoundary")
    )

    assert missing == []


def test_the_policy_allows_nothing_no_handler_and_no_command_needs(expanded):
    needed = {a for t in resource_types(expanded) for a in handler_permissions(t)}
    needed |= set(DIRECT_CALLS)

    assert sorted(policy_actions(deployer_policy()) - needed) == []


def test_every_exclusion_is_a_real_handler_permission_with_a_reason(expanded):
    declared = {(t, a) for t in resource_types(expanded) for a in handler_permissions(t)}
    for key, reason in EXCLUDED.items():
        resource_type, _, action = key.rpartition(" ")
        assert any(
            a == action and (not resource_type or t == resource_type) for t, a in declared
        ), key
        assert len(reason) > 10, key
        assert not allowed(deployer_policy(), action, "*") or resource_type, key


def test_the_ecs_service_linked_role_may_be_created_and_no_other():
    [statement] = [
        s for s in deployer_policy()["Statement"] if "iam:CreateServiceLinkedRole" in s["Action"]
    ]

    assert statement["Condition"] == {"StringEquals": {"iam:AWSServiceName": "ecs.amazonaws.com"}}
    assert "ecs.amazonaws.com/AWSServiceRoleForECS" in statement["Resource"]


def test_nothing_is_deleted_or_deregistered_on_any_resource():
    for statement in deployer_policy()["Statement"]:
        destructive = [
            a
            for a in statement["Action"]
            if a.split(":")[1].startswith(("Delete", "Deregister", "Detach", "Revoke"))
        ]
        if not destructive:
            continue
        assert statement["Resource"] != "*", statement["Sid"]
        if statement["Resource"] == "arn:aws:ec2:*:*:*":
            assert "aws:ResourceTag/aws:cloudformation:stack-name" in json.dumps(
                statement["Condition"]
            )


def test_with_a_boundary_roles_can_be_made_or_changed_only_under_it():
    policy = deployer_policy(BOUNDARY)
    writes = [s for s in policy["Statement"] if "iam:CreateRole" in s["Action"]]

    [statement] = writes
    assert set(statement["Action"]) >= {"iam:CreateRole", "iam:PutRolePolicy"}
    assert statement["Condition"] == {"StringEquals": {"iam:PermissionsBoundary": BOUNDARY}}
    assert "iam:DeleteRolePermissionsBoundary" not in policy_actions(policy)
    assert "iam:AttachRolePolicy" not in policy_actions(policy)


def test_every_role_the_stack_creates_carries_the_boundary_parameter(expanded):
    for template in expanded.values():
        roles = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
        assert len(roles) >= 6
        for logical_id, role in roles.items():
            assert role["Properties"]["PermissionsBoundary"] == {
                "Fn::If": [
                    "HasPermissionsBoundary",
                    {"Ref": "PermissionsBoundary"},
                    {"Ref": "AWS::NoValue"},
                ]
            }, logical_id


def test_print_policy_prints_the_boundary_policy(capsys):
    from cloudburst.cli import main

    assert main(["deploy", "--print-policy", "--permissions-boundary", BOUNDARY]) == 0

    printed = json.loads(capsys.readouterr().out)
    assert printed == deployer_policy(BOUNDARY)
