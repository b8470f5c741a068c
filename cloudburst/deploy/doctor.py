"""``cloudburst doctor --stage S``: the checks a user's first failed job would otherwise make.

One line per check, ``PASS`` or ``FAIL``, and every failure says how to fix it. Each check
is a function of a few boto3 clients and the stage's names, so a test can run it alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.settings import DEFAULT_MAX_RUNNING_TASKS, ENV
from cloudburst import stage as stages
from cloudburst.deploy.policies import LAMBDA_CALLS
from cloudburst.deploy.template import LARGEST_PROFILE_VCPU, infra_digest
from cloudburst.stage import resource_prefix

# Service Quotas codes (service "fargate"), as `aws service-quotas
# list-aws-default-service-quotas --service-code fargate` lists them.
FARGATE_ON_DEMAND_VCPU = "L-3032A538"  # Fargate On-Demand vCPU resource count
FARGATE_SPOT_VCPU = "L-36FBB829"  # Fargate Spot vCPU resource count
LAMBDA_CONCURRENCY = "L-B99A9384"  # Lambda: Concurrent executions
ENDPOINT_SERVICES = ("s3", "ecr.api", "ecr.dkr", "logs")
PROJECT_DIR = Path(__file__).resolve().parents[2]

Clients = Callable[[str], Any]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{'PASS' if self.ok else 'FAIL'}  {self.name}: {self.detail}"
        return text if self.ok else f"{text}\n      fix: {self.fix}"


@dataclass(frozen=True)
class StageFacts:
    """What the checks need to know about the deployed stage (from its stack)."""

    stage: str
    region: str
    account: str
    outputs: dict[str, str]
    parameters: dict[str, str]
    roles: dict[str, str]  # logical id → role ARN, for every IAM role of the stack


def run_doctor(stage: str, region: str, clients: Clients, say: Callable[[str], None]) -> bool:
    """Run every check, print one line each; True when all pass."""
    checks: list[Check] = []
    identity = check_credentials(clients, region)
    checks.append(identity)
    if identity.ok:
        stack_check, facts = check_stack(clients, stage, region)
        checks.append(stack_check)
        if facts is not None:
            max_tasks = max_running_tasks(stage)
            checks += [
                check_image(clients, facts),
                check_network(clients, facts),
                *check_fargate_quotas(clients, max_tasks),
                check_lambda_concurrency(clients, max_tasks),
                check_lambda_permissions(clients, facts),
            ]
    for check in checks:
        say(check.line())
    return all(check.ok for check in checks)


def check_credentials(clients: Clients, region: str) -> Check:
    try:
        identity = clients("sts").get_caller_identity()
    except (ClientError, BotoCoreError) as exc:
        return Check(
            "credentials",
            False,
            str(exc),
            "configure AWS credentials (aws configure, AWS_PROFILE or a role) and try again",
        )
    return Check("credentials", True, f"{identity['Arn']} in {region}")


def check_stack(clients: Clients, stage: str, region: str) -> tuple[Check, StageFacts | None]:
    cfn = clients("cloudformation")
    name = stages.stack_name(stage)
    deploy_fix = f"cloudburst deploy --stage {stage} --region {region}"
    try:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError:
        return Check("stack", False, f"{name} not found in {region}", deploy_fix), None
    status = stack["StackStatus"]
    account = stack["StackId"].split(":")[4]
    facts = StageFacts(
        stage=stage,
        region=region,
        account=account,
        outputs={o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
        parameters={p["ParameterKey"]: p.get("ParameterValue", "") for p in stack["Parameters"]},
        roles=_roles(cfn, name, account),
    )
    if not status.endswith("_COMPLETE") or "ROLLBACK" in status:
        return Check("stack", False, f"{name} is {status}", deploy_fix), facts
    body = cfn.get_template(StackName=name, TemplateStage="Original")["TemplateBody"]
    template = json.loads(body) if isinstance(body, str) else body
    deployed = template.get("Metadata", {}).get("CloudBurst", {}).get("InfraDigest")
    if deployed != infra_digest(stage):
        return (
            Check(
                "stack",
                False,
                f"{name} was deployed from another checkout (infra {deployed})",
                deploy_fix,
            ),
            facts,
        )
    return Check("stack", True, f"{name} {status}, matches this checkout"), facts


def check_image(clients: Clients, facts: StageFacts) -> Check:
    arn = facts.outputs.get(stages.OUTPUT_TASK_DEFINITION)
    fix = f"cloudburst deploy --stage {facts.stage} (builds and pushes the image)"
    if not arn:
        return Check("worker image", False, "the stack reports no task definition", fix)
    task = clients("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"]
    image = task["containerDefinitions"][0]["image"]
    architecture = task.get("runtimePlatform", {}).get("cpuArchitecture", "X86_64")
    repository, _, tag = image.split("/", 1)[1].partition(":")
    try:
        clients("ecr").describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except ClientError as exc:
        return Check("worker image", False, f"{image}: {exc.response['Error']['Code']}", fix)
    built_for = tag.split("-", 1)[0].replace("_", "").upper()
    if built_for != architecture.replace("_", "").upper():
        detail = f"{image} was built for {built_for}, the task runs {architecture}"
        return Check("worker image", False, detail, fix + " with the matching --arch")
    return Check("worker image", True, f"{image} ({architecture})")


def check_network(clients: Clients, facts: StageFacts) -> Check:
    """Each worker subnet must reach ECR, S3 and CloudWatch Logs: an internet gateway with
    public IPs, a NAT gateway, or VPC endpoints for all four services."""
    ec2 = clients("ec2")
    subnets = [s for s in facts.outputs.get("WorkerSubnets", "").split(",") if s]
    made_vpc = not facts.parameters.get("SubnetIds", "").strip("[]'\" ")
    public_ip = made_vpc or facts.parameters.get("AssignPublicIp") == "true"
    fix = (
        "route 0.0.0.0/0 to an internet gateway and deploy with public IPs, or to a NAT "
        f"gateway, or add VPC endpoints for {', '.join(ENDPOINT_SERVICES)}"
    )
    if not subnets:
        return Check("network", False, "the stack reports no worker subnets", fix)
    stuck = []
    for subnet in ec2.describe_subnets(SubnetIds=subnets)["Subnets"]:
        if not _way_out(ec2, subnet, public_ip, facts.region):
            stuck.append(subnet["SubnetId"])
    if stuck:
        return Check("network", False, f"no way out from {', '.join(stuck)}", fix)
    return Check("network", True, f"{len(subnets)} subnet(s) reach ECR, S3 and Logs")


def check_fargate_quotas(clients: Clients, max_tasks: int) -> list[Check]:
    quotas = clients("service-quotas")
    needed = max_tasks * LARGEST_PROFILE_VCPU
    found = []
    for label, code in (("On-Demand", FARGATE_ON_DEMAND_VCPU), ("Spot", FARGATE_SPOT_VCPU)):
        name = f"Fargate {label} vCPU quota"
        try:
            value = quotas.get_service_quota(ServiceCode="fargate", QuotaCode=code)["Quota"][
                "Value"
            ]
        except ClientError as exc:
            found.append(Check(name, False, exc.response["Error"]["Code"], "allow GetServiceQuota"))
            continue
        detail = f"{value:.0f} vCPU for {max_tasks} tasks x {LARGEST_PROFILE_VCPU} vCPU = {needed}"
        fix = (
            "aws service-quotas request-service-quota-increase --service-code fargate"
            f" --quota-code {code} --desired-value {needed}"
            " (or lower CLOUDBURST_MAX_RUNNING_TASKS)"
        )
        found.append(Check(name, value >= needed, detail, fix))
    return found


def check_lambda_concurrency(clients: Clients, max_tasks: int) -> Check:
    """Tasks that stop together invoke the completion Lambda together (up to the task cap)."""
    limit = clients("lambda").get_account_settings()["AccountLimit"]
    free = int(limit["UnreservedConcurrentExecutions"])
    needed = min(max_tasks, 100)
    fix = (
        "aws service-quotas request-service-quota-increase --service-code lambda"
        f" --quota-code {LAMBDA_CONCURRENCY} --desired-value {max(needed * 2, 100)}"
    )
    return Check("Lambda concurrency", free >= needed, f"{free} unreserved, {needed} needed", fix)


def check_lambda_permissions(clients: Clients, facts: StageFacts) -> Check:
    """Simulate every call the code makes (policies.LAMBDA_CALLS) against each Lambda role."""
    iam = clients("iam")
    names = _arns(facts)
    lambda_roles = {k: v for k, v in facts.roles.items() if not k.startswith("Worker")}
    denied: list[str] = []
    # a call on a resource the stack does not report cannot be simulated: say which
    calls = [c for c in LAMBDA_CALLS if c[1] == "*" or names[_placeholder(c[1])]]
    skipped = sorted({call[0] for call in LAMBDA_CALLS if call not in calls})
    for logical, role in sorted(lambda_roles.items()):
        for action, resource, context in calls:
            entries = [
                {
                    "ContextKeyName": key,
                    "ContextKeyValues": [value.format(**names)],
                    "ContextKeyType": "string",
                }
                for key, value in context.items()
            ]
            result = iam.simulate_principal_policy(
                PolicySourceArn=role,
                ActionNames=[action],
                ResourceArns=[resource.format(**names)],
                ContextEntries=entries,
            )["EvaluationResults"][0]
            if result["EvalDecision"] != "allowed":
                denied.append(f"{logical} {action}")
    fix = f"cloudburst deploy --stage {facts.stage} (the template carries the policies)"
    if denied:
        return Check("Lambda permissions", False, "denied: " + ", ".join(denied), fix)
    detail = f"{len(lambda_roles)} role(s) allow all {len(calls)} calls"
    if skipped:
        detail += f" (not simulated, the stack names no resource for: {', '.join(skipped)})"
    return Check("Lambda permissions", bool(lambda_roles), detail, fix)


def max_running_tasks(stage: str) -> int:
    """The stage's task cap, from .chalice/config.json (what the Lambdas are given)."""
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    env = dict(config.get("environment_variables", {}))
    env.update(config.get("stages", {}).get(stage, {}).get("environment_variables", {}))
    return int(env.get(ENV["max_running_tasks"], DEFAULT_MAX_RUNNING_TASKS))


# -- helpers -----------------------------------------------------------------------------------
def _placeholder(resource: str) -> str:
    """The name a LAMBDA_CALLS resource starts from: "{bucket_arn}/x" → "bucket_arn"."""
    return resource[1:].split("}", 1)[0]


def _roles(cfn: Any, name: str, account: str) -> dict[str, str]:
    """Logical id → ARN of every role in the stack (a role's physical id is its name)."""
    roles: dict[str, str] = {}
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=name):
        for resource in page["StackResourceSummaries"]:
            if resource["ResourceType"] == "AWS::IAM::Role":
                physical = resource["PhysicalResourceId"]
                if not physical.startswith("arn:"):
                    physical = f"arn:aws:iam::{account}:role/{physical}"
                roles[resource["LogicalResourceId"]] = physical
    return roles


def _arns(facts: StageFacts) -> dict[str, str]:
    region, account = facts.region, facts.account
    bucket = facts.outputs.get(stages.OUTPUT_BUCKET, "")
    table = facts.outputs.get(stages.OUTPUT_TABLE, "")
    cluster = facts.outputs.get(stages.OUTPUT_CLUSTER, "")
    return {
        "bucket_arn": f"arn:aws:s3:::{bucket}",
        "table_arn": f"arn:aws:dynamodb:{region}:{account}:table/{table}",
        "cluster_arn": f"arn:aws:ecs:{region}:{account}:cluster/{cluster}",
        "task_arn": f"arn:aws:ecs:{region}:{account}:task/{cluster}/0123456789abcdef",
        "task_definition_arn": facts.outputs.get(stages.OUTPUT_TASK_DEFINITION, ""),
        "task_role_arn": facts.roles.get("WorkerTaskRole", ""),
        "execution_role_arn": facts.roles.get("WorkerExecutionRole", ""),
        "secret_arn": facts.outputs.get(stages.OUTPUT_SECRET, ""),
        # the sweeper redrives every handler's queue, each named <prefix>-<handler>-dlq
        "dead_letter_queue_arn": (
            f"arn:aws:sqs:{region}:{account}:{resource_prefix(facts.stage)}"
            "-on-manifest-uploaded-dlq"
        ),
    }


def _way_out(ec2: Any, subnet: dict[str, Any], public_ip: bool, region: str) -> bool:
    vpc = subnet["VpcId"]
    tables = (
        ec2.describe_route_tables(
            Filters=[{"Name": "association.subnet-id", "Values": [subnet["SubnetId"]]}]
        )["RouteTables"]
        or ec2.describe_route_tables(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc]},
                {"Name": "association.main", "Values": ["true"]},
            ]
        )["RouteTables"]
    )
    for table in tables:
        for route in table.get("Routes", []):
            if route.get("DestinationCidrBlock") != "0.0.0.0/0":
                continue
            if route.get("NatGatewayId"):
                return True
            if route.get("GatewayId", "").startswith("igw-") and public_ip:
                return True
    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])
    services = {e["ServiceName"] for e in endpoints["VpcEndpoints"]}
    return all(f"com.amazonaws.{region}.{s}" in services for s in ENDPOINT_SERVICES)
