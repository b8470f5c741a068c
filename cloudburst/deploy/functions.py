"""Each Chalice event handler's part of the template: its rule's dead-letter queue and retry
policy, an alarm on that queue, a log group with retention, its role's policy and its
environment — for any number of handlers, whatever ``app.py`` declares.

``chalice package`` imports the app while packaging, so the app's event patterns are built
from its settings: with :data:`PACKAGING_ENVIRONMENT` those settings are tokens naming
template resources, and :func:`function_overrides` turns every token in a pattern into a
``Ref``/``Fn::Sub`` on the stack's own bucket or cluster.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib.settings import ENV
from cloudburst.deploy import network, policies
from cloudburst.deploy.names import (
    ALARM_TOPIC,
    BUCKET,
    CLUSTER,
    CONTAINER_NAME,
    SECRET,
    TABLE,
    TASK_DEFINITION,
)
from cloudburst.stage import resource_prefix

# EventBridge keeps retrying a failed Lambda invocation this long, then sends it to the DLQ.
RULE_MAX_EVENT_AGE_SECONDS = 6 * 3600
RULE_MAX_RETRIES = 185
DLQ_RETENTION_SECONDS = 14 * 24 * 3600

# While ``chalice package`` imports the app, its settings name template resources by these
# tokens; every string of an event pattern that contains one becomes a Ref/Fn::Sub.
_TOKEN = re.compile(r"@@([A-Za-z0-9]+)@@")
PACKAGING_ENVIRONMENT = {
    ENV["bucket"]: f"@@{BUCKET}@@",
    ENV["table_name"]: f"@@{TABLE}@@",
    ENV["cluster"]: f"@@{CLUSTER}@@",
}


@dataclass(frozen=True)
class FunctionSpec:
    """One Chalice event handler as ``chalice package`` names it in the template."""

    name: str  # the handler's Chalice name, e.g. on_manifest_uploaded
    logical_id: str  # Chalice's resource name for it, e.g. OnManifestUploaded
    event_id: str  # its event's key under Events, e.g. OnManifestUploadedEvent
    pattern: dict[str, Any] | None  # None for a schedule
    schedule: str | None = None


def function_resources(function: FunctionSpec) -> tuple[str, str, str]:
    """Logical ids of a function's dead-letter queue, its alarm and its log group."""
    base = function.logical_id
    return f"{base}DeadLetterQueue", f"{base}DeadLetterAlarm", f"{base}LogGroup"


def function_name(stage: str, function: FunctionSpec) -> str:
    return f"{resource_prefix(stage)}-{function.name}"


# -- sections ----------------------------------------------------------------------------------
def function_overrides(
    stage: str, function: FunctionSpec, functions: Iterable[FunctionSpec] = ()
) -> dict[str, Any]:
    """Overrides of one Chalice function plus its DLQ, DLQ policy, alarm and log group."""
    queue, alarm, log_group = function_resources(function)
    prefix = resource_prefix(stage)
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
                "Environment": {"Variables": lambda_environment(functions)},
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


def lambda_environment(functions: Iterable[FunctionSpec] = ()) -> dict[str, Any]:
    """The Lambdas' names of this stack's resources (the rest comes from .chalice/config.json);
    every handler's dead-letter queue, for the sweeper to redrive."""
    queues = [{"Ref": function_resources(f)[0]} for f in functions]
    return {
        ENV["dead_letter_queues"]: {"Fn::Join": [",", queues]},
        ENV["bucket"]: {"Ref": BUCKET},
        ENV["table_name"]: {"Ref": TABLE},
        ENV["cluster"]: {"Ref": CLUSTER},
        ENV["task_definition"]: {"Ref": TASK_DEFINITION},
        ENV["container_name"]: CONTAINER_NAME,
        ENV["subnets"]: network.subnets_value(),
        ENV["security_groups"]: network.security_group_value(),
        ENV["assign_public_ip"]: network.assign_public_ip_value(),
        ENV["architecture"]: {"Ref": "WorkerArchitecture"},
        ENV["webhook_secret_arn"]: {"Ref": SECRET},
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
