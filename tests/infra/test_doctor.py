"""`cloudburst doctor` against a stage deployed to moto's server.

moto serves STS, CloudFormation, ECS, ECR, EC2, SQS, EventBridge and CloudWatch; it has no
Fargate quotas, no Lambda account settings and no IAM policy simulation, so those come from
botocore ``Stubber``s or a small simulator answering in the services' own shapes. What
moto's CloudFormation skips (rules, the secret, a task definition's roles) is made or
reported as CloudFormation would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from cloudburst.deploy.deploy import DeployOptions
from cloudburst.deploy.deploy import deploy as run_deploy
from cloudburst.deploy.deployer_policy import deployer_policy
from cloudburst.deploy.doctor import (
    FARGATE_ON_DEMAND_VCPU,
    FARGATE_SPOT_VCPU,
    caller_principal,
    run_doctor,
    simulation_requests,
)

from .conftest import REGION, RecordedImages

BOUNDARY = "arn:aws:iam::123456789012:policy/boundary"


class SimulatingIam:
    """moto's IAM (roles are real) with IAM's policy simulator, which moto lacks, answering
    ``decision`` for every call (``denied`` names calls answered ``implicitDeny``)."""

    def __init__(self, iam: Any, decision: str, denied: tuple[str, ...] = ()) -> None:
        self.iam = iam
        self.decision = decision
        self.denied = denied

    def get_role(self, **kwargs: Any) -> Any:
        return self.iam.get_role(**kwargs)

    def simulate_principal_policy(self, **kwargs: Any) -> dict[str, Any]:
        return {
            "EvaluationResults": [
                {
                    "EvalActionName": action,
                    "EvalDecision": "implicitDeny" if action in self.denied else self.decision,
                }
                for action in kwargs["ActionNames"]
            ]
        }


class ReportingSecret:
    """moto's CloudFormation makes no AWS::SecretsManager::Secret: the fixture makes it
    through the API, and this adds the output CloudFormation would report for it."""

    def __init__(self, cloudformation: Any, secret_arn: str) -> None:
        self.cloudformation = cloudformation
        self.secret_arn = secret_arn

    def describe_stacks(self, **kwargs: Any) -> Any:
        answer = self.cloudformation.describe_stacks(**kwargs)
        for stack in answer["Stacks"]:
            if stack["StackName"] == "cloudburst-dev":
                stack.setdefault("Outputs", []).append(
                    {"OutputKey": "WebhookSecretArn", "OutputValue": self.secret_arn}
                )
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cloudformation, name)


class TaskDefinitionWithRoles:
    """moto's CloudFormation drops a task definition's TaskRoleArn and ExecutionRoleArn;
    this answers with the stack's worker roles in them, as ECS would."""

    def __init__(self, ecs: Any, cloudformation: Any) -> None:
        self.ecs = ecs
        self.roles = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in cloudformation.list_stack_resources(StackName="cloudburst-dev")[
                "StackResourceSummaries"
            ]
            if r["ResourceType"] == "AWS::IAM::Role"
        }

    def describe_task_definition(self, **kwargs: Any) -> Any:
        answer = self.ecs.describe_task_definition(**kwargs)
        task = answer["taskDefinition"]
        for field, logical in (
            ("taskRoleArn", "WorkerTaskRole"),
            ("executionRoleArn", "WorkerExecutionRole"),
        ):
            name = self.roles[logical].rsplit("/", 1)[-1]
            task.setdefault(field, f"arn:aws:iam::123456789012:role/{name}")
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ecs, name)


class Stubs:
    """Stubbed clients for what moto does not serve; the rest are moto's."""

    def __init__(
        self,
        session: Any,
        *,
        quota: float,
        unreserved: int,
        decision: str,
        denied: tuple[str, ...] = (),
        secret_arn: str = "",
    ) -> None:
        self.session = session
        self.made: dict[str, Any] = {}
        quotas = self._stub("service-quotas")
        for code in (FARGATE_ON_DEMAND_VCPU, FARGATE_SPOT_VCPU):
            quotas.add_response(
                "get_service_quota",
                {"Quota": {"QuotaCode": code, "Value": quota}},
                {"ServiceCode": "fargate", "QuotaCode": code},
            )
        self._stub("lambda").add_response(
            "get_account_settings",
            {"AccountLimit": {"UnreservedConcurrentExecutions": unreserved}},
        )
        self.made["iam"] = SimulatingIam(
            session.client("iam", region_name=REGION), decision, denied
        )
        cloudformation = session.client("cloudformation", region_name=REGION)
        self.made["cloudformation"] = (
            ReportingSecret(cloudformation, secret_arn) if secret_arn else cloudformation
        )
        self.made["ecs"] = TaskDefinitionWithRoles(
            session.client("ecs", region_name=REGION), cloudformation
        )

    def _stub(self, name: str) -> Stubber:
        client = self.session.client(name, region_name=REGION)
        stubber = Stubber(client)
        stubber.activate()
        self.made[name] = client
        return stubber

    def __call__(self, name: str) -> Any:
        return self.made.get(name) or self.session.client(name, region_name=REGION)


@pytest.fixture
def deployed(aws, packager, tmp_path: Path) -> Any:
    options = DeployOptions(stage="dev", region=REGION, work_dir=tmp_path / "dist")
    done = run_deploy(options, aws, RecordedImages(aws), packager, lambda _: None, 0.2)
    # moto's CloudFormation skips AWS::EC2::SubnetRouteTableAssociation: make the template's
    # associations through the API, so the subnets use the route table with the gateway
    ec2 = aws.client("ec2", region_name=REGION)
    [public] = [
        t
        for t in ec2.describe_route_tables()["RouteTables"]
        if any(r.get("GatewayId", "").startswith("igw-") for r in t["Routes"])
    ]
    for subnet in done.outputs["WorkerSubnets"].split(","):
        ec2.associate_route_table(RouteTableId=public["RouteTableId"], SubnetId=subnet)
    _make_what_moto_skips(aws)
    return aws


def _make_what_moto_skips(aws: Any) -> None:
    """The rules (SAM functions) and the secret, as CloudFormation would have made them."""
    cfn = aws.client("cloudformation", region_name=REGION)
    template = cfn.get_template(StackName="cloudburst-dev", TemplateStage="Original")
    body = template["TemplateBody"]
    body = json.loads(body) if isinstance(body, str) else body
    events = aws.client("events", region_name=REGION)
    sqs = aws.client("sqs", region_name=REGION)
    for logical_id, resource in body["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        [event] = resource["Properties"]["Events"].values()
        name = event["Properties"].get("RuleName") or event["Properties"]["Name"]
        if "Schedule" in event["Properties"]:
            events.put_rule(Name=name, ScheduleExpression=event["Properties"]["Schedule"])
        else:
            events.put_rule(Name=name, EventPattern=json.dumps({"source": ["aws.s3"]}))
        queue = sqs.get_queue_url(QueueName=f"{name.replace('_', '-')}-dlq")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        events.put_targets(
            Rule=name,
            Targets=[
                {
                    "Id": f"{logical_id}Target",
                    "Arn": f"arn:aws:lambda:{REGION}:123456789012:function:{name}",
                    "DeadLetterConfig": {"Arn": queue_arn["Attributes"]["QueueArn"]},
                }
            ],
        )


@pytest.fixture
def secret_arn(deployed) -> str:
    made = deployed.client("secretsmanager", region_name=REGION).create_secret(
        Name="cloudburst-dev/webhook-signing-secret", SecretString="whsec_x"
    )
    return str(made["ARN"])


def doctor(clients: Any) -> tuple[bool, list[str]]:
    lines: list[str] = []
    ok = run_doctor("dev", REGION, clients, lines.append)
    return ok, lines


def test_a_fresh_deployment_passes_every_check(deployed, secret_arn):
    needed = 10 * 2  # dev's cap of 10 tasks at the default profile's 2 vCPU

    ok, lines = doctor(
        Stubs(deployed, quota=needed, unreserved=1000, decision="allowed", secret_arn=secret_arn)
    )

    assert ok, "\n".join(lines)
    names = [line.split(":")[0] for line in lines]
    assert names == [
        "PASS  credentials",
        "PASS  stack",
        "PASS  deployer permissions",
        "PASS  region",
        "PASS  worker image",
        "PASS  worker roles",
        "PASS  network",
        "PASS  security group",
        "PASS  webhook secret",
        "PASS  rules",
        "PASS  dead letters",
        "PASS  Lambda errors",
        "PASS  Fargate On-Demand vCPU quota",
        "PASS  Fargate Spot vCPU quota",
        "PASS  Lambda concurrency",
        "PASS  Lambda permissions",
        "PASS  architecture",
    ]


def test_quotas_are_sized_to_the_deployed_cap_at_the_default_profile(deployed, secret_arn):
    ok, lines = doctor(
        Stubs(deployed, quota=19, unreserved=1000, decision="allowed", secret_arn=secret_arn)
    )

    assert not ok
    text = "\n".join(lines)
    assert "FAIL  Fargate On-Demand vCPU quota: 19 vCPU: 9 standard (2 vCPU) tasks" in text
    assert f"--quota-code {FARGATE_ON_DEMAND_VCPU} --desired-value 20" in text


def test_small_quotas_and_denied_calls_fail_with_how_to_fix_them(deployed, secret_arn):
    ok, lines = doctor(
        Stubs(
            deployed,
            quota=6,
            unreserved=10,
            decision="implicitDeny",
            secret_arn=secret_arn,
        )
    )

    assert not ok
    text = "\n".join(lines)
    assert "FAIL  Fargate On-Demand vCPU quota" in text
    assert "FAIL  Lambda permissions: denied: " in text
    assert "OnManifestUploadedRole s3:GetObject" in text
    assert "FAIL  deployer permissions: arn:aws:sts::123456789012:user/moto lacks" in text
    assert "cloudburst deploy --print-policy" in text
    assert "FAIL  worker roles" in text
    assert "may not ecr:BatchGetImage" in text
    assert "PASS  Lambda concurrency" in text  # dev caps tasks at 10


def test_what_would_stop_a_job_at_runtime_fails_with_its_fix(deployed, secret_arn):
    events = deployed.client("events", region_name=REGION)
    events.disable_rule(Name="cloudburst-dev-on_manifest_uploaded")
    sqs = deployed.client("sqs", region_name=REGION)
    queue = sqs.get_queue_url(QueueName="cloudburst-dev-sweeper-dlq")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="{}")
    ec2 = deployed.client("ec2", region_name=REGION)
    [group] = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["*WorkerSecurityGroup*"]}]
    )["SecurityGroups"]
    ec2.revoke_security_group_egress(
        GroupId=group["GroupId"], IpPermissions=group["IpPermissionsEgress"]
    )
    deployed.client("secretsmanager", region_name=REGION).delete_secret(SecretId=secret_arn)

    ok, lines = doctor(
        Stubs(deployed, quota=1e6, unreserved=1000, decision="allowed", secret_arn=secret_arn)
    )

    text = "\n".join(lines)
    assert not ok
    assert "FAIL  rules: cloudburst-dev-on_manifest_uploaded is DISABLED" in text
    assert "aws events enable-rule --name cloudburst-dev-on_manifest_uploaded" in text
    assert "FAIL  dead letters: 1 in cloudburst-dev-sweeper-dlq" in text
    assert f"FAIL  security group: {group['GroupId']} lets no HTTPS out" in text
    assert "--protocol tcp --port 443 --cidr 0.0.0.0/0" in text
    assert "FAIL  webhook secret" in text
    assert "aws secretsmanager restore-secret" in text


def test_an_aws_error_is_a_fail_line_not_a_traceback(deployed, secret_arn):
    stubs = Stubs(deployed, quota=1e6, unreserved=1000, decision="allowed", secret_arn=secret_arn)
    refusing = deployed.client("lambda", region_name=REGION)
    stubber = Stubber(refusing)
    stubber.add_client_error(
        "get_account_settings", service_error_code="AccessDeniedException", service_message="no"
    )
    stubber.activate()
    stubs.made["lambda"] = refusing

    ok, lines = doctor(stubs)

    assert not ok
    [line] = [line for line in lines if line.startswith("FAIL  Lambda concurrency")]
    assert "AccessDeniedException: no" in line
    assert "allow GetAccountSettings" in line


def test_an_arm64_stage_says_spot_runs_on_demand_and_needs_no_spot_quota(aws, packager, tmp_path):
    options = DeployOptions(
        stage="dev", region=REGION, architecture="arm64", work_dir=tmp_path / "dist"
    )
    run_deploy(options, aws, RecordedImages(aws), packager, lambda _: None, 0.2)

    _ok, lines = doctor(Stubs(aws, quota=1e6, unreserved=1000, decision="allowed"))

    text = "\n".join(lines)
    assert "PASS  Fargate Spot vCPU quota: not used: arm64 workers run on demand" in text
    assert "PASS  architecture: arm64: jobs that ask for Spot run (and are priced) on demand" in (
        text
    )


def test_the_caller_is_simulated_as_the_role_behind_its_session():
    assert (
        caller_principal("arn:aws:sts::123456789012:assumed-role/Deployer/ci-run-7")
        == "arn:aws:iam::123456789012:role/Deployer"
    )
    assert caller_principal("arn:aws:iam::123456789012:user/ana") == (
        "arn:aws:iam::123456789012:user/ana"
    )
    assert caller_principal("arn:aws:iam::123456789012:root") is None


def test_each_deployer_statement_is_simulated_on_a_resource_it_names():
    requests = simulation_requests(deployer_policy(BOUNDARY), REGION, "123456789012")

    by_first_action = {actions[0]: (resource, context) for actions, resource, context in requests}
    resource, context = by_first_action["iam:CreateRole"]
    assert resource == "arn:aws:iam::123456789012:role/cloudburst-x"
    assert context == [
        {
            "ContextKeyName": "iam:PermissionsBoundary",
            "ContextKeyValues": [BOUNDARY],
            "ContextKeyType": "string",
        }
    ]
    resource, _ = by_first_action["cloudformation:CreateStack"]
    assert resource == f"arn:aws:cloudformation:{REGION}:123456789012:stack/cloudburst-x/x"


def test_no_stack_says_to_deploy(aws):
    ok, lines = doctor(lambda name: aws.client(name, region_name=REGION))

    assert not ok
    assert lines[1].startswith("FAIL  stack: cloudburst-dev not found in eu-west-1")
    assert "fix: cloudburst deploy --stage dev --region eu-west-1" in lines[1]
