"""Create, in a fresh moto, the resources a deployed stage gets — from the template itself.

The bucket, table, cluster and task definition are made from the ``local`` stage's
CloudFormation properties (``cloudburst.deploy.template``), so the demo runs what production
deploys. Properties that moto's ``create_*`` calls do not take (or that CloudFormation
would set through another API) are applied through that API, each with a comment saying why.

The bucket is created last: anything that uploads the moment the bucket answers must find
the rules, queues, table and cluster ready. Every call is idempotent enough for a restart.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.contracts import MANIFESTS_PREFIX
from cloudburst.deploy import network
from cloudburst.deploy.intrinsics import resolve
from cloudburst.deploy.names import CONTAINER_NAME, TASK_DEFINITION, resource_names
from cloudburst.deploy.template import ARM64, infra_template

# Not under "cloudburst": that name is the Lambdas' powertools logger (its level, its JSON).
log = logging.getLogger("cloudburst-local.bootstrap")

ACCOUNT_ID = "123456789012"  # moto's default account for any dummy credentials
STAGE = "local"
TASK_FAMILY = "cloudburst-local-worker"
LOCAL_IMAGE = "cloudburst-worker:local"
MANIFEST_PREFIX = MANIFESTS_PREFIX


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
    """Table, network, cluster, task definition, then the bucket (``clients(name)`` gives each)."""
    properties = LocalTemplate(region=region, bucket=bucket, table=table, cluster=cluster)
    create_table(clients("dynamodb"), properties.of("JobTable"))
    subnet_id, security_group_id = default_network(clients("ec2"))
    ecs = clients("ecs")
    cluster_arn = create_cluster(ecs, properties.of("Cluster"))
    task_definition_arn = register_task_definition(ecs, properties.of(TASK_DEFINITION))
    if create_bucket(clients("s3"), properties.of("JobBucket"), region):
        replay_early_uploads(clients("s3"), clients("events"), bucket, region)
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


class LocalTemplate:
    """The ``local`` stage's template with names, parameters and conditions resolved."""

    def __init__(self, *, region: str, bucket: str, table: str, cluster: str) -> None:
        self.template = infra_template(STAGE, [])
        names: dict[str, Any] = resource_names(
            STAGE, account=ACCOUNT_ID, region=region, bucket=bucket, table=table, cluster=cluster
        )
        for name, parameter in self.template["Parameters"].items():
            names[name] = parameter.get("Default")
        names["WorkerImage"] = LOCAL_IMAGE
        names["LogRetentionDays"] = 1
        self.names = names
        self.conditions = {network.CREATE_NETWORK: False, ARM64: False}
        # the stack's own names win over the template's account-and-region-unique ones
        self.names_of = {
            "JobBucket": ("BucketName", bucket),
            "JobTable": ("TableName", table),
            "Cluster": ("ClusterName", cluster),
        }

    def of(self, logical_id: str) -> dict[str, Any]:
        properties = resolve(
            self.template["Resources"][logical_id]["Properties"], self.names, self.conditions
        )
        assert isinstance(properties, dict)
        if logical_id in self.names_of:
            key, name = self.names_of[logical_id]
            properties[key] = name
        return properties


def create_table(dynamodb: Any, properties: dict[str, Any]) -> None:
    """The job table exactly as the template (and so ``table_definition``) defines it."""
    ttl = properties.pop("TimeToLiveSpecification")
    properties.pop("PointInTimeRecoverySpecification", None)  # prod only; moto has no PITR
    try:
        dynamodb.create_table(**properties)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    name = properties["TableName"]
    dynamodb.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    # CreateTable takes no TTL; CloudFormation sets it through UpdateTimeToLive as we do here.
    dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)


def default_network(ec2: Any) -> tuple[str, str]:
    """A subnet of moto's default VPC and a security group in it (RunTask awsvpc needs both).

    The template's own VPC is for accounts without one of their own; locally, moto's default
    VPC plays the part of the user's existing subnets (the template's SubnetIds parameter).
    """
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


def create_cluster(ecs: Any, properties: dict[str, Any]) -> str:
    response = ecs.create_cluster(
        clusterName=properties["ClusterName"],
        # Given at creation here: moto's CloudFormation drops them (AWS_LOCAL_NOTES.md).
        capacityProviders=properties["CapacityProviders"],
        defaultCapacityProviderStrategy=[
            {"capacityProvider": s["CapacityProvider"], "weight": s["Weight"]}
            for s in properties["DefaultCapacityProviderStrategy"]
        ],
    )
    return str(response["cluster"]["clusterArn"])


def register_task_definition(ecs: Any, properties: dict[str, Any]) -> str:
    """The template's task definition; RunTask overrides set cpu/memory per job (DESIGN.md).

    Roles and the log configuration name IAM roles and a log group moto does not need: the
    local Fargate stand-in runs the worker as a process with the stack's own credentials.
    """
    [container] = properties["ContainerDefinitions"]
    response = ecs.register_task_definition(
        family=TASK_FAMILY,
        networkMode=properties["NetworkMode"],
        requiresCompatibilities=properties["RequiresCompatibilities"],
        cpu=properties["Cpu"],
        memory=properties["Memory"],
        runtimePlatform={
            "cpuArchitecture": properties["RuntimePlatform"]["CpuArchitecture"],
            "operatingSystemFamily": properties["RuntimePlatform"]["OperatingSystemFamily"],
        },
        ephemeralStorage={"sizeInGiB": properties["EphemeralStorage"]["SizeInGiB"]},
        containerDefinitions=[
            {
                "name": container["Name"],
                "image": container["Image"],
                "essential": container["Essential"],
                # moto answers 500 on RunTask without a container-level memory (reservation).
                "memoryReservation": container["MemoryReservation"],
                "stopTimeout": container["StopTimeout"],
                "command": ["python", "-m", "cloudburst_worker"],
            }
        ],
    )
    return str(response["taskDefinition"]["taskDefinitionArn"])


def create_bucket(s3: Any, properties: dict[str, Any], region: str) -> bool:
    """The template's bucket; each property set through the API that CreateBucket lacks.
    True when it was created now (False: a restarted stack kept it, events already on)."""
    bucket = properties["BucketName"]
    # Object Lock at creation is the one way S3's API makes a bucket versioned from its first
    # answer (CloudFormation creates it whole before anyone sees it): an upload that races
    # the stack's start still gets the version id that names its job. Without a default
    # retention rule, Object Lock keeps nothing from being deleted.
    kwargs: dict[str, Any] = {"Bucket": bucket, "ObjectLockEnabledForBucket": True}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.head_bucket(Bucket=bucket)
        created = False
    except ClientError:
        created = True
    if created:
        try:
            s3.create_bucket(**kwargs)
        except ClientError as exc:
            codes = ("BucketAlreadyOwnedByYou", "BucketAlreadyExists")
            if exc.response["Error"]["Code"] not in codes:
                raise
    # A manifest's version id names its job, so a re-upload is a new job.
    s3.put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration=properties["VersioningConfiguration"]
    )
    # CloudFormation's EventBridgeConfiguration is this call (moto's drops it): uploads then
    # reach the app's rules as in AWS.
    if properties["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"]:
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
    s3.put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"]
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
                for rule in properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]
        },
    )
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [_lifecycle_rule(r) for r in properties["LifecycleConfiguration"]["Rules"]]
        },
    )
    return created


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the S3 API's shape."""
    made: dict[str, Any] = {
        "ID": rule["Id"],
        "Status": rule["Status"],
        "Filter": {"Prefix": rule.get("Prefix", "")},
    }
    if "ExpirationInDays" in rule:
        made["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "NoncurrentVersionExpiration" in rule:
        days = int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
        made["NoncurrentVersionExpiration"] = {"NoncurrentDays": days}
    if "AbortIncompleteMultipartUpload" in rule:
        made["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
    return made


def replay_early_uploads(s3: Any, events: Any, bucket: str, region: str) -> int:
    """Send "Object Created" for manifests that arrived before EventBridge was switched on.

    S3 cannot create a bucket with its notifications already on: a client that uploads in
    the few milliseconds between CreateBucket and the notification call would raise no
    event. The app dedupes by the object's version (or sequencer), so replaying an upload
    that did raise its event still makes one job.
    """
    paginator = s3.get_paginator("list_object_versions")
    replayed = 0
    for page in paginator.paginate(Bucket=bucket, Prefix=MANIFEST_PREFIX):
        for version in page.get("Versions", []):
            detail = {
                "version": "0",
                "bucket": {"name": bucket},
                "object": {
                    "key": version["Key"],
                    "size": version["Size"],
                    "etag": version["ETag"].strip('"'),
                    "version-id": version["VersionId"],
                    "sequencer": uuid.uuid4().hex[:18].upper(),
                },
                "request-id": "cloudburst-local-replay",
                "requester": ACCOUNT_ID,
                "reason": "PutObject",
            }
            events.put_events(
                Entries=[
                    {
                        "Source": "aws.s3",
                        "DetailType": "Object Created",
                        "Resources": [f"arn:aws:s3:::{bucket}"],
                        "Detail": json.dumps(detail),
                        "Time": version.get("LastModified", datetime.now(UTC)),
                    }
                ]
            )
            replayed += 1
    if replayed:
        log.info("replayed %d manifest(s) uploaded before events were on", replayed)
    return replayed
