"""The stage's CloudFormation, built in Python: one definition for the template and the local stack.

``infra_template(stage, functions)`` is the file ``chalice package --merge-template`` merges
with the Lambdas: bucket, table, cluster, task definition, roles, secret, alarm topic and
network, plus each handler's overrides from ``functions.py`` (environment from ``Ref``/
``GetAtt``, least-privilege policy, name, DLQ and retry policy on its rule). Chalice's merge
is a deep merge in which this file wins and lists are replaced, so overriding a function's
event pattern or policy means giving the whole value.

The table's properties are :func:`chalicelib.adapters.table.table_definition`'s, so the code,
this template and the local stack (``cloudburst.local.bootstrap``) cannot drift apart. The
image repository is in a stack of its own (``repository.py``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from chalicelib import pricing
from chalicelib.adapters.table import TTL_ATTRIBUTE, table_definition
from chalicelib.contracts import JOBS_PREFIX
from chalicelib.pricing import PROFILES
from cloudburst.deploy import network, policies
from cloudburst.deploy.functions import FunctionSpec, function_overrides
from cloudburst.deploy.names import (
    ALARM_TOPIC,
    BUCKET,
    CLUSTER,
    CONTAINER_NAME,
    EXECUTION_ROLE,
    SECRET,
    TABLE,
    TASK_DEFINITION,
    TASK_ROLE,
    WORKER_LOG_GROUP,
)
from cloudburst.deploy.policies import HAS_PERMISSIONS_BOUNDARY, permissions_boundary
from cloudburst.stage import (
    OUTPUT_BUCKET,
    OUTPUT_CLUSTER,
    OUTPUT_SECRET,
    OUTPUT_TABLE,
    OUTPUT_TASK_DEFINITION,
    resource_prefix,
)

ARM64 = "Arm64Worker"  # condition: the image (and so the task) is arm64
HAS_ALARM_EMAIL = "HasAlarmEmail"  # condition: `deploy --alarm-email` subscribes an address
# Stages whose table keeps 35 days of point-in-time recovery (it bills per GB stored).
PITR_STAGES = frozenset({"prod"})
# Largest compute profile (DESIGN.md: config_priority 4) — the container must not cap below it.
LARGEST_PROFILE_VCPU = int(max(profile.vcpu for profile in PROFILES.values()))
LARGEST_PROFILE_MEMORY_MIB = max(int(profile.memory_mib) for profile in PROFILES.values())
# The worker keeps at most 2 scenes per vCPU on disk (assets, partial and final MP4 —
# container/cloudburst_worker/batch.py), whatever the batch size; a scene's files stay
# well under 1 GiB, and Fargate counts the image's unpacked layers (< 1 GiB) against this.
# pricing bills the part above Fargate's free 20 GiB, so the figure lives there.
EPHEMERAL_STORAGE_GIB = pricing.EPHEMERAL_STORAGE_GIB
# Task-level size of the task definition; RunTask overrides it per job (pricing.PROFILES).
DEFAULT_TASK_CPU = min(PROFILES.values(), key=lambda profile: profile.vcpu).cpu_units
DEFAULT_TASK_MEMORY = min(PROFILES.values(), key=lambda profile: profile.vcpu).memory_mib
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653)


def infra_template(stage: str, functions: Iterable[FunctionSpec]) -> dict[str, Any]:
    """The merge template for ``stage``; ``functions`` are the app's event handlers."""
    template = _base(stage)
    functions = list(functions)
    for function in functions:
        template["Resources"].update(function_overrides(stage, function, functions))
    template["Metadata"] = {"CloudBurst": {"Stage": stage, "InfraDigest": infra_digest(stage)}}
    return template


def infra_digest(stage: str) -> str:
    """What `doctor` compares with a deployed stack's Metadata: this checkout's infrastructure
    (everything but the per-function overrides, which follow the app's handlers)."""
    return digest(_base(stage))


def _base(stage: str) -> dict[str, Any]:
    prefix = resource_prefix(stage)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"CloudBurst stage {stage}: S3 in, Fargate renders, S3 out",
        "Parameters": _parameters(),
        "Conditions": {
            **network.conditions(),
            ARM64: {"Fn::Equals": [{"Ref": "WorkerArchitecture"}, "arm64"]},
            HAS_ALARM_EMAIL: {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]},
            HAS_PERMISSIONS_BOUNDARY: {
                "Fn::Not": [{"Fn::Equals": [{"Ref": "PermissionsBoundary"}, ""]}]
            },
        },
        "Resources": {
            **_storage(stage, prefix),
            **_compute(stage, prefix),
            **_secret_and_alarms(prefix),
            **network.resources(prefix),
        },
        "Outputs": _outputs(),
    }


def digest(template: dict[str, Any]) -> str:
    """A short content hash of a template (without its Metadata), for `doctor`'s drift check."""
    body = {k: v for k, v in template.items() if k != "Metadata"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def _parameters() -> dict[str, Any]:
    return {
        "WorkerImage": {
            "Type": "String",
            "Description": "Worker image URI in the stage's repository (cloudburst deploy sets it)",
        },
        "WorkerArchitecture": {
            "Type": "String",
            "Default": "x86_64",
            "AllowedValues": ["x86_64", "arm64"],
            "Description": "CPU architecture the worker image was built for",
        },
        "WebhookSigningSecret": {
            "Type": "String",
            "NoEcho": True,
            "AllowedPattern": "^whsec_[A-Za-z0-9+/]{43}=$",
            "Description": "whsec_ + base64 of 32 random bytes (cloudburst deploy makes one)",
        },
        "WorkingFilesExpireDays": {
            "Type": "Number",
            "Default": 14,
            "MinValue": 1,
            "Description": "Days before jobs/ working files and replaced object versions expire",
        },
        "LogRetentionDays": {
            "Type": "Number",
            "Default": 30,
            "AllowedValues": list(LOG_RETENTION_DAYS),
            "Description": "Days the Lambdas' and workers' logs are kept",
        },
        "AlarmEmail": {
            "Type": "String",
            "Default": "",
            "Description": "Address the alarms are mailed to (it must confirm); empty for none",
        },
        "PermissionsBoundary": {
            "Type": "String",
            "Default": "",
            "Description": "Managed policy ARN set as the boundary of every role; empty for none",
        },
        **network.parameters(),
    }


def _storage(stage: str, prefix: str) -> dict[str, Any]:
    table = {k: v for k, v in table_definition(f"{prefix}").items()}
    table["TimeToLiveSpecification"] = {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    if stage in PITR_STAGES:
        table["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": True}
    return {
        BUCKET: {
            "Type": "AWS::S3::Bucket",
            # user data: `cloudburst destroy` keeps it unless asked (--delete-data)
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            # No BucketName: CloudFormation names it <stack>-jobbucket-<random>, which nobody
            # can create first, and a redeploy after `destroy` (which keeps the old bucket)
            # gets a new bucket instead of failing on the kept one's name.
            "Properties": {
                # uploads reach the app's EventBridge rules (DESIGN.md)
                "NotificationConfiguration": {
                    "EventBridgeConfiguration": {"EventBridgeEnabled": True}
                },
                # a manifest's version id names its job: a re-upload is a new job
                "VersioningConfiguration": {"Status": "Enabled"},
                "PublicAccessBlockConfiguration": public_access_blocked(),
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "BucketEncryption": sse_s3(),
                "LifecycleConfiguration": {
                    "Rules": [
                        {
                            "Id": "ExpireWorkingFiles",
                            "Status": "Enabled",
                            "Prefix": JOBS_PREFIX,
                            "ExpirationInDays": {"Ref": "WorkingFilesExpireDays"},
                        },
                        {
                            "Id": "ExpireReplacedVersionsAndAbortUploads",
                            "Status": "Enabled",
                            "NoncurrentVersionExpiration": {
                                "NoncurrentDays": {"Ref": "WorkingFilesExpireDays"}
                            },
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                        },
                    ]
                },
            },
        },
        "JobBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": BUCKET},
                "PolicyDocument": policies.document(
                    [
                        {
                            "Sid": "TlsOnly",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [
                                {"Fn::GetAtt": [BUCKET, "Arn"]},
                                {"Fn::Sub": f"${{{BUCKET}.Arn}}/*"},
                            ],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ]
                ),
            },
        },
        TABLE: {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": table,
        },
    }


def _compute(stage: str, prefix: str) -> dict[str, Any]:
    return {
        CLUSTER: {
            "Type": "AWS::ECS::Cluster",
            "Properties": {
                "ClusterName": prefix,
                "CapacityProviders": ["FARGATE", "FARGATE_SPOT"],
                "DefaultCapacityProviderStrategy": [{"CapacityProvider": "FARGATE", "Weight": 1}],
            },
        },
        WORKER_LOG_GROUP: {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": {
                "LogGroupName": f"/ecs/{prefix}-worker",
                "RetentionInDays": {"Ref": "LogRetentionDays"},
            },
        },
        TASK_ROLE: {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": {"Fn::Sub": f"{prefix}-worker-task-${{AWS::Region}}"},
                "AssumeRolePolicyDocument": policies.ecs_tasks_trust(),
                "PermissionsBoundary": permissions_boundary(),
                "Policies": [
                    {"PolicyName": "worker", "PolicyDocument": policies.worker_task_policy()}
                ],
            },
        },
        EXECUTION_ROLE: {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": {"Fn::Sub": f"{prefix}-worker-execution-${{AWS::Region}}"},
                "AssumeRolePolicyDocument": policies.ecs_tasks_trust(),
                "PermissionsBoundary": permissions_boundary(),
                "Policies": [
                    {
                        "PolicyName": "pull-image-write-logs",
                        "PolicyDocument": policies.worker_execution_policy(stage),
                    }
                ],
            },
        },
        TASK_DEFINITION: {
            "Type": "AWS::ECS::TaskDefinition",
            "Properties": {
                "Family": f"{prefix}-worker",
                "RequiresCompatibilities": ["FARGATE"],
                "NetworkMode": "awsvpc",
                "Cpu": DEFAULT_TASK_CPU,
                "Memory": DEFAULT_TASK_MEMORY,
                "RuntimePlatform": {
                    "CpuArchitecture": {"Fn::If": [ARM64, "ARM64", "X86_64"]},
                    "OperatingSystemFamily": "LINUX",
                },
                "EphemeralStorage": {"SizeInGiB": EPHEMERAL_STORAGE_GIB},
                "TaskRoleArn": {"Fn::GetAtt": [TASK_ROLE, "Arn"]},
                "ExecutionRoleArn": {"Fn::GetAtt": [EXECUTION_ROLE, "Arn"]},
                "ContainerDefinitions": [
                    {
                        "Name": CONTAINER_NAME,
                        "Image": {"Ref": "WorkerImage"},
                        "Essential": True,
                        # A soft reservation only: a hard container limit would cap every
                        # task below its RunTask memory override (up to 32 GB).
                        "MemoryReservation": 512,
                        # Fargate allows 120 s; Spot warns 120 s ahead of an interruption
                        "StopTimeout": 120,
                        "LogConfiguration": {
                            "LogDriver": "awslogs",
                            "Options": {
                                "awslogs-group": {"Ref": WORKER_LOG_GROUP},
                                "awslogs-region": {"Ref": "AWS::Region"},
                                "awslogs-stream-prefix": "worker",
                            },
                        },
                    }
                ],
            },
        },
    }


def _secret_and_alarms(prefix: str) -> dict[str, Any]:
    return {
        SECRET: {
            "Type": "AWS::SecretsManager::Secret",
            # a new stage makes a new secret; receivers are told the new one by `deploy`
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": {
                "Name": f"{prefix}/webhook-signing-secret",
                "Description": "Standard Webhooks signing secret (whsec_…) of CloudBurst webhooks",
                "SecretString": {"Ref": "WebhookSigningSecret"},
            },
        },
        ALARM_TOPIC: {
            "Type": "AWS::SNS::Topic",
            # No SSE: CloudWatch cannot publish to a topic under the AWS-managed SNS key, and
            # a customer key would bill $1 a month per stage to hide alarm names and metric
            # values (README, "Deploy to AWS").
            "Properties": {"TopicName": f"{prefix}-alarms"},
        },
        "AlarmEmailSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": HAS_ALARM_EMAIL,
            "Properties": {
                "TopicArn": {"Ref": ALARM_TOPIC},
                "Protocol": "email",
                "Endpoint": {"Ref": "AlarmEmail"},
            },
        },
    }


def _outputs() -> dict[str, Any]:
    return {
        OUTPUT_BUCKET: {"Value": {"Ref": BUCKET}, "Description": "Upload manifests here"},
        OUTPUT_TABLE: {"Value": {"Ref": TABLE}},
        OUTPUT_CLUSTER: {"Value": {"Ref": CLUSTER}},
        OUTPUT_TASK_DEFINITION: {"Value": {"Ref": TASK_DEFINITION}},
        OUTPUT_SECRET: {"Value": {"Ref": SECRET}, "Description": "Webhook signing secret"},
        "WorkerSubnets": {"Value": network.subnets_value()},
        "WorkerSecurityGroup": {"Value": network.security_group_value()},
        "AlarmTopicArn": {"Value": {"Ref": ALARM_TOPIC}},
    }


def public_access_blocked() -> dict[str, bool]:
    return {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }


def sse_s3() -> dict[str, Any]:
    return {
        "ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        ]
    }
