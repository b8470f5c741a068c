"""`cloudburst doctor` against a stage deployed to moto's server.

moto serves STS, CloudFormation, ECS, ECR and EC2; it has no Fargate quotas, no Lambda
account settings and no IAM policy simulation, so those three clients are botocore
``Stubber``s answering in the services' own response shapes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from cloudburst.deploy.deploy import DeployOptions
from cloudburst.deploy.deploy import deploy as run_deploy
from cloudburst.deploy.doctor import (
    FARGATE_ON_DEMAND_VCPU,
    FARGATE_SPOT_VCPU,
    max_running_tasks,
    run_doctor,
)
from cloudburst.deploy.policies import LAMBDA_CALLS

from .conftest import REGION, RecordedImages


class Stubs:
    """Stubbed clients for what moto does not serve; the rest are moto's."""

    def __init__(self, session: Any, *, quota: float, unreserved: int, decision: str) -> None:
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
        iam = self._stub("iam")
        for _ in range(4 * len(LAMBDA_CALLS)):  # at most: four Lambda roles, every call
            iam.add_response(
                "simulate_principal_policy",
                {
                    "EvaluationResults": [
                        {"EvalActionName": "s3:GetObject", "EvalDecision": decision}
                    ]
                },
                {
                    "PolicySourceArn": ANY,
                    "ActionNames": ANY,
                    "ResourceArns": ANY,
                    "ContextEntries": ANY,
                },
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
    return aws


def doctor(clients: Any) -> tuple[bool, list[str]]:
    lines: list[str] = []
    ok = run_doctor("dev", REGION, clients, lines.append)
    return ok, lines


def test_a_fresh_deployment_passes_every_check(deployed):
    needed = max_running_tasks("dev") * 16

    ok, lines = doctor(Stubs(deployed, quota=needed, unreserved=1000, decision="allowed"))

    assert ok, "\n".join(lines)
    names = [line.split(":")[0] for line in lines]
    assert names == [
        "PASS  credentials",
        "PASS  stack",
        "PASS  worker image",
        "PASS  network",
        "PASS  Fargate On-Demand vCPU quota",
        "PASS  Fargate Spot vCPU quota",
        "PASS  Lambda concurrency",
        "PASS  Lambda permissions",
    ]
    # moto's CloudFormation makes no secret, so that one call cannot be simulated here
    assert (
        "not simulated, the stack names no resource for: secretsmanager:GetSecretValue"
        in (lines[-1])
    )


def test_small_quotas_and_a_denied_call_fail_with_how_to_fix_them(deployed):
    ok, lines = doctor(Stubs(deployed, quota=6, unreserved=10, decision="implicitDeny"))

    assert not ok
    text = "\n".join(lines)
    assert "FAIL  Fargate On-Demand vCPU quota" in text
    assert f"--quota-code {FARGATE_ON_DEMAND_VCPU} --desired-value 160" in text
    assert "FAIL  Lambda permissions: denied: " in text
    assert "OnManifestUploadedRole s3:GetObject" in text
    assert "PASS  Lambda concurrency" in text  # dev caps tasks at 10


def test_a_missing_image_and_a_subnet_with_no_way_out_fail(deployed):
    ecr = deployed.client("ecr", region_name=REGION)
    [image] = ecr.list_images(repositoryName="cloudburst-dev-worker")["imageIds"]
    ecr.batch_delete_image(repositoryName="cloudburst-dev-worker", imageIds=[image])
    ec2 = deployed.client("ec2", region_name=REGION)
    for table in ec2.describe_route_tables()["RouteTables"]:
        for route in table["Routes"]:
            if route.get("DestinationCidrBlock") == "0.0.0.0/0":
                ec2.delete_route(
                    RouteTableId=table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0"
                )

    ok, lines = doctor(Stubs(deployed, quota=1e6, unreserved=1000, decision="allowed"))

    text = "\n".join(lines)
    assert not ok
    assert "FAIL  worker image" in text
    assert "FAIL  network: no way out from subnet-" in text
    assert "fix: route 0.0.0.0/0 to an internet gateway" in text


def test_no_stack_says_to_deploy(aws):
    ok, lines = doctor(lambda name: aws.client(name, region_name=REGION))

    assert not ok
    assert lines[1].startswith("FAIL  stack: cloudburst-dev not found in eu-west-1")
    assert "fix: cloudburst deploy --stage dev --region eu-west-1" in lines[1]
