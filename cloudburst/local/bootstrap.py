"""Create, in a fresh moto, the AWS resources the deployed stack would get from CloudFormation.

One function per resource so each stays readable and the benchmark can reuse them; every
call is idempotent enough for a restart against a reset moto.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.table import TTL_ATTRIBUTE, table_definition

# Not under "cloudburst": that name is the Lambdas' powertools logger (its level, its JSON).
log = logging.getLogger("cloudburst-local.bootstrap")

ACCOUNT_ID = "123456789012"  # moto's default account for any dummy credentials
TASK_FAMILY = "cloudburst-worker"
CONTAINER_NAME = "worker"
WORKER_CPU = "1024"
WORKER_MEMORY = "2048"


@dataclass(frozen=True)
class LocalResources:
    """What the Lambdas and the Fargate stand-in need to know about the bootstrapped account."""

    region: str
    bucket: str
    table: str
    cluster: str
    cluster_arn: str
    task_definition_arn: str
    container_name: str
    subnet_id: str
    security_group_id: str


def bootstrap(
    clients: Callable[[str], Any],
    *,
    region: str,
    bucket: str,
    table: str,
    cluster: str,
) -> LocalResources:
    """Create bucket, table, cluster, task definition, network; ``clients(name)`` gives clients."""
    create_bucket(clients("s3"), bucket, region)
    create_table(clients("dynamodb"), table)
    subnet_id, security_group_id = default_network(clients("ec2"))
    ecs = clients("ecs")
    cluster_arn = create_cluster(ecs, cluster)
    task_definition_arn = register_task_definition(ecs)
    return LocalResources(
        region=region,
        bucket=bucket,
        table=table,
        cluster=cluster,
        cluster_arn=cluster_arn,
        task_definition_arn=task_definition_arn,
        container_name=CONTAINER_NAME,
        subnet_id=subnet_id,
        security_group_id=security_group_id,
    )


def create_bucket(s3: Any, bucket: str, region: str) -> None:
    """The bucket with EventBridge notifications on: uploads reach the app's rules like in AWS."""
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    # Versioned as every stage's bucket is: an upload's version id names its job, so a
    # re-upload of the same key is a new job whose id the client knows at once.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )


def create_table(dynamodb: Any, table: str) -> None:
    """The job table exactly as ``chalicelib.adapters.table`` defines it, plus its TTL attribute."""
    try:
        dynamodb.create_table(**table_definition(table))
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    dynamodb.get_waiter("table_exists").wait(
        TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    dynamodb.update_time_to_live(
        TableName=table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )


def default_network(ec2: Any) -> tuple[str, str]:
    """A subnet of moto's default VPC and a security group in it (RunTask awsvpc needs both)."""
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise RuntimeError("moto has no default VPC; cannot place Fargate tasks")
    vpc_id = vpcs[0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    subnet_id = sorted(s["SubnetId"] for s in subnets)[0]
    groups = ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "group-name", "Values": ["cloudburst-worker"]},
        ]
    )["SecurityGroups"]
    if groups:
        return subnet_id, groups[0]["GroupId"]
    created = ec2.create_security_group(
        GroupName="cloudburst-worker",
        Description="CloudBurst worker tasks (egress only)",
        VpcId=vpc_id,
    )
    return subnet_id, created["GroupId"]


def create_cluster(ecs: Any, cluster: str) -> str:
    response = ecs.create_cluster(
        clusterName=cluster, capacityProviders=["FARGATE", "FARGATE_SPOT"]
    )
    return str(response["cluster"]["clusterArn"])


def register_task_definition(ecs: Any) -> str:
    """One task definition; RunTask overrides set cpu/memory per job (``config_priority``)."""
    response = ecs.register_task_definition(
        family=TASK_FAMILY,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu=WORKER_CPU,
        memory=WORKER_MEMORY,
        runtimePlatform={"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
        containerDefinitions=[
            {
                "name": CONTAINER_NAME,
                "image": "cloudburst-worker:local",
                "essential": True,
                # moto answers 500 on RunTask without a container-level memory.
                "memory": int(WORKER_MEMORY),
                "command": ["python", "-m", "cloudburst_worker"],
            }
        ],
    )
    return str(response["taskDefinition"]["taskDefinitionArn"])
