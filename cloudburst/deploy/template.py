"""The stage's CloudFormation, built in Python: one definition for the template and the local stack.

``infra_template(stage, functions)`` is the file ``chalice package --merge-template`` merges
with the Lambdas: bucket, table, cluster, task definition, roles, secret, dead-letter queues,
alarms, log groups and network, plus per-function overrides (environment from ``Ref``/
``GetAtt``, least-privilege policy, name, DLQ and retry policy on each rule). Chalice's merge
is a deep merge in which this file wins and lists are replaced, so overriding a function's
event pattern or policy means giving the whole value.

The table's properties are :func:`chalicelib.adapters.table.table_definition`'s, so the code,
this template and the local stack (``cloudburst.local.bootstrap``) cannot drift apart.

The image repository lives in a second, tiny stack (``bootstrap_template``), deployed first:
the task definition names an image that must already be in a repository, so the repository
cannot be created by the stack that needs the image.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.table import TTL_ATTRIBUTE, table_definition
from cloudburst.deploy import network, policies
from cloudburst.deploy.policies import (
    BUCKET,
    CLUSTER,
    EXECUTION_ROLE,
    SECRET,
    TABLE,
    TASK_ROLE,
    WORKER_LOG_GROUP,
)
from cloudburst.stage import (
    OUTPUT_BUCKET,
    OUTPUT_CLUSTER,
    OUTPUT_SECRET,
    OUTPUT_TABLE,
    OUTPUT_TASK_DEFINITION,
    resource_prefix,
)

TASK_DEFINITION = "WorkerTaskDefinition"
ALARM_TOPIC = "AlarmTopic"
ARM64 = "Arm64Worker"  # condition: the image (and so the task) is arm64
CONTAINER_NAME = "worker"
# Stages whose table keeps 35 days of point-in-time recovery (it bills per GB stored).
PITR_STAGES = frozenset({"prod"})
# Largest compute profile (DESIGN.md: config_priority 4) — the container must not cap below it.
LARGEST_PROFILE_VCPU = 16
LARGEST_PROFILE_MEMORY_MIB = 32 * 1024
# The worker keeps at most 2 scenes per vCPU on disk (assets, partial and final MP4 —
# container/cloudburst_worker/batch.py), whatever the batch size; a scene's files stay
# well under 1 GiB, and Fargate counts the image's unpacked layers (< 1 GiB) against this.
EPHEMERAL_STORAGE_GIB = 2 * LARGEST_PROFILE_VCPU * 1 + 2
# Task-level size of the task definition; RunTask overrides it per job (pricing.PROFILES).
DEFAULT_TASK_CPU = "1024"
DEFAULT_TASK_MEMORY = "2048"
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653)
# EventBridge keeps retrying a failed Lambda invocation this long, then sends it to the DLQ.
RULE_MAX_EVENT_AGE_SECONDS = 6 * 3600
RULE_MAX_RETRIES = 185
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
KEEP_IMAGES = 5

# While ``chalice package`` imports the app, its settings name template resources by these
# tokens; every string of an event pattern that contains one becomes a Ref/Fn::Sub.
_TOKEN = re.compile(r"@@([A-Za-z0-9]+)@@")
PACKAGING_ENVIRONMENT = {
    "CLOUDBURST_BUCKET": f"@@{BUCKET}@@",
    "CLOUDBURST_TABLE": f"@@{TABLE}@@",
    "CLOUDBURST_CLUSTER": f"@@{CLUSTER}@@",
}


@dataclass(frozen=True)
class FunctionSpec:
    """One Chalice event handler as ``chalice package`` names it in the template."""

    name: str  # the handler's Chalice name, e.g. on_manifest_uploaded
    logical_id: str  # Chalice's resource name for it, e.g. OnManifestUploaded
    event_id: str  # its event's key under Events, e.g. OnManifestUploadedEvent
    pattern: dict[str, Any] | None  # None for a schedule
    schedule: str | None = None


def infra_template(stage: str, functions: Iterable[FunctionSpec]) -> dict[str, Any]:
    """The merge template for ``stage``; ``functions`` are the app's event handlers."""
    template = _base(stage)
    prefix = resource_prefix(stage)
    for function in functions:
        template["Resources"].update(_function(stage, prefix, function))
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


def bootstrap_template(stage: str) -> dict[str, Any]:
    """The image repository and the artefact bucket, which must exist before the main stack."""
    prefix = resource_prefix(stage)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"CloudBurst stage {stage}: worker image repository and deploy artefacts",
        "Resources": {
            "WorkerRepository": {
                "Type": "AWS::ECR::Repository",
                "Properties": {
                    "RepositoryName": policies.repository_name(stage),
                    "ImageScanningConfiguration": {"ScanOnPush": True},
                    # tags are content digests: a tag never moves to another image
                    "ImageTagMutability": "IMMUTABLE",
                    "EmptyOnDelete": True,
                    "LifecyclePolicy": {
                        "LifecyclePolicyText": json.dumps(_keep_last_images(KEEP_IMAGES))
                    },
                },
            },
            "ArtifactBucket": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "BucketName": {
                        "Fn::Sub": f"{prefix}-artifacts-${{AWS::AccountId}}-${{AWS::Region}}"
                    },
                    "PublicAccessBlockConfiguration": _public_access_blocked(),
                    "BucketEncryption": _sse_s3(),
                },
            },
        },
        "Outputs": {
            "RepositoryUri": {"Value": {"Fn::GetAtt": ["WorkerRepository", "RepositoryUri"]}},
            "RepositoryName": {"Value": {"Ref": "WorkerRepository"}},
            "ArtifactBucketName": {"Value": {"Ref": "ArtifactBucket"}},
        },
    }


def function_resources(function: FunctionSpec) -> tuple[str, str, str]:
    """Logical ids of a function's dead-letter queue, its alarm and its log group."""
    base = function.logical_id
    return f"{base}DeadLetterQueue", f"{base}DeadLetterAlarm", f"{base}LogGroup"


def function_name(stage: str, function: FunctionSpec) -> str:
    return f"{resource_prefix(stage)}-{function.name}"


# -- sections ----------------------------------------------------------------------------------
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
            "Properties": {
                "BucketName": {"Fn::Sub": f"{prefix}-${{AWS::AccountId}}-${{AWS::Region}}"},
                # uploads reach the app's EventBridge rules (DESIGN.md)
                "NotificationConfiguration": {
                    "EventBridgeConfiguration": {"EventBridgeEnabled": True}
                },
                # a manifest's version id names its job: a re-upload is a new job
                "VersioningConfiguration": {"Status": "Enabled"},
                "PublicAccessBlockConfiguration": _public_access_blocked(),
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "BucketEncryption": _sse_s3(),
                "LifecycleConfiguration": {
                    "Rules": [
                        {
                            "Id": "ExpireWorkingFiles",
                            "Status": "Enabled",
                            "Prefix": "jobs/",
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
            "Properties": {
                "Name": f"{prefix}/webhook-signing-secret",
                "Description": "Standard Webhooks signing secret (whsec_…) of CloudBurst webhooks",
                "SecretString": {"Ref": "WebhookSigningSecret"},
            },
        },
        ALARM_TOPIC: {
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "TopicName": f"{prefix}-alarms",
                "KmsMasterKeyId": "alias/aws/sns",
            },
        },
    }


def _function(stage: str, prefix: str, function: FunctionSpec) -> dict[str, Any]:
    """Overrides of one Chalice function plus its DLQ, DLQ policy, alarm and log group."""
    queue, alarm, log_group = function_resources(function)
    name = function_name(stage, function)
    event: dict[str, Any]
    if function.pattern is not None:
        # SAM's EventBridgeRule is CloudWatchEvent plus DeadLetterConfig and RetryPolicy.
        event = {
            "Type": "EventBridgeRule",
            "Properties": {"Pattern": _resolve(function.pattern), "RuleName": name},
        }
    else:
        event = {"Type": "Schedule", "Properties": {"Schedule": function.schedule, "Name": name}}
    event["Properties"]["DeadLetterConfig"] = {"Arn": {"Fn::GetAtt": [queue, "Arn"]}}
    event["Properties"]["RetryPolicy"] = {
        "MaximumEventAgeInSeconds": RULE_MAX_EVENT_AGE_SECONDS,
        "MaximumRetryAttempts": RULE_MAX_RETRIES,
    }
    return {
        function.logical_id: {
            "DependsOn": [log_group],
            "Properties": {
                "FunctionName": name,
                "Environment": {"Variables": lambda_environment()},
                "Events": {function.event_id: event},
            },
        },
        f"{function.logical_id}Role": {
            "Properties": {
                "Policies": [
                    {
                        "PolicyName": f"{function.logical_id}Policy",
                        "PolicyDocument": policies.lambda_policy(stage),
                    }
                ]
            }
        },
        log_group: {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": {
                "LogGroupName": f"/aws/lambda/{name}",
                "RetentionInDays": {"Ref": "LogRetentionDays"},
            },
        },
        queue: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": f"{prefix}-{function.name.replace('_', '-')}-dlq",
                "MessageRetentionPeriod": DLQ_RETENTION_SECONDS,
                "SqsManagedSseEnabled": True,
            },
        },
        f"{queue}Policy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": queue}],
                "PolicyDocument": policies.document(
                    [
                        {
                            "Sid": "UndeliverableEventsOfThisStacksRules",
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": {"Fn::GetAtt": [queue, "Arn"]},
                            # only this function's own rule (named after the function)
                            "Condition": {
                                "ArnEquals": {
                                    "aws:SourceArn": policies.arn("events", f"rule/{name}")
                                }
                            },
                        }
                    ]
                ),
            },
        },
        alarm: {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": f"{name}-undelivered-events",
                "AlarmDescription": (
                    f"Events for {function.name} failed every retry and wait in {queue}; "
                    "read them, fix the cause, and send them again"
                ),
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [
                    {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}
                ],
                "Statistic": "Maximum",
                "Period": 300,
                "EvaluationPeriods": 1,
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": [{"Ref": ALARM_TOPIC}],
            },
        },
    }


def lambda_environment() -> dict[str, Any]:
    """The Lambdas' names of this stack's resources (the rest comes from .chalice/config.json)."""
    return {
        "CLOUDBURST_BUCKET": {"Ref": BUCKET},
        "CLOUDBURST_TABLE": {"Ref": TABLE},
        "CLOUDBURST_CLUSTER": {"Ref": CLUSTER},
        "CLOUDBURST_TASK_DEFINITION": {"Ref": TASK_DEFINITION},
        "CLOUDBURST_CONTAINER_NAME": CONTAINER_NAME,
        "CLOUDBURST_SUBNETS": network.subnets_value(),
        "CLOUDBURST_SECURITY_GROUPS": network.security_group_value(),
        "CLOUDBURST_ASSIGN_PUBLIC_IP": network.assign_public_ip_value(),
        "CLOUDBURST_ARCHITECTURE": {"Ref": "WorkerArchitecture"},
        "CLOUDBURST_WEBHOOK_SECRET_ARN": {"Ref": SECRET},
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


def _resolve(value: Any) -> Any:
    """Turn packaging tokens inside an event pattern into Ref / Fn::Sub on template resources."""
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    if isinstance(value, str) and _TOKEN.search(value):
        whole = _TOKEN.fullmatch(value)
        if whole:
            return {"Ref": whole.group(1)}
        return {"Fn::Sub": _TOKEN.sub(r"${\1}", value)}
    return value


def _public_access_blocked() -> dict[str, bool]:
    return {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }


def _sse_s3() -> dict[str, Any]:
    return {
        "ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        ]
    }


def _keep_last_images(count: int) -> dict[str, Any]:
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"keep the last {count} images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": count,
                },
                "action": {"type": "expire"},
            }
        ]
    }


def resource_names(
    stage: str,
    *,
    account: str,
    region: str,
    bucket: str | None = None,
    table: str | None = None,
    cluster: str | None = None,
) -> dict[str, str]:
    """What ``Ref``/``GetAtt`` give for the stage's named resources (see ``intrinsics``).

    CloudFormation would name them as the template says; the local stack passes its own
    bucket, table and cluster names.
    """
    prefix = resource_prefix(stage)
    bucket = bucket or f"{prefix}-{account}-{region}"
    table = table or prefix
    cluster = cluster or prefix
    partition = "aws"
    roles = {
        TASK_ROLE: f"{prefix}-worker-task-{region}",
        EXECUTION_ROLE: f"{prefix}-worker-execution-{region}",
    }
    return {
        "AWS::Partition": partition,
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::StackName": f"cloudburst-{stage}",
        BUCKET: bucket,
        f"{BUCKET}.Arn": f"arn:{partition}:s3:::{bucket}",
        TABLE: table,
        f"{TABLE}.Arn": f"arn:{partition}:dynamodb:{region}:{account}:table/{table}",
        CLUSTER: cluster,
        f"{CLUSTER}.Arn": f"arn:{partition}:ecs:{region}:{account}:cluster/{cluster}",
        WORKER_LOG_GROUP: f"/ecs/{prefix}-worker",
        f"{WORKER_LOG_GROUP}.Arn": (
            f"arn:{partition}:logs:{region}:{account}:log-group:/ecs/{prefix}-worker:*"
        ),
        SECRET: (
            f"arn:{partition}:secretsmanager:{region}:{account}:secret:"
            f"{prefix}/webhook-signing-secret-AbCdEf"
        ),
        **{
            f"{logical}.Arn": f"arn:{partition}:iam::{account}:role/{n}"
            for logical, n in roles.items()
        },
    }
