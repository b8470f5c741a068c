"""Each Chalice event handler's part of the template: its rule's dead-letter queue and retry
policy, the same queue as the function's on-failure destination (what Lambda gives up on
after accepting an event), alarms on that queue and on the function's errors and throttles,
a log group with retention, its role's policies and its environment — for any number of
handlers, whatever ``app.py`` declares. The sweeper (the one scheduled handler) is reserved
to one concurrent run.

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
# Once Lambda has accepted an event (EventBridge's delivery succeeded), a failing function is
# retried by Lambda, not EventBridge: this many times (Lambda's own default and its maximum),
# up to this age, then the invocation record goes to the function's dead-letter queue.
LAMBDA_MAX_RETRIES = 2
LAMBDA_MAX_EVENT_AGE_SECONDS = 6 * 3600  # Lambda's maximum
# The sweeper runs one at a time: two would launch the same batches and redrive the same
# dead letters twice over.
SWEEPER_CONCURRENCY = 1

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


def failure_resources(function: FunctionSpec) -> tuple[str, str]:
    """Logical ids of a function's on-failure destination config and its errors alarm."""
    base = function.logical_id
    return f"{base}EventInvokeConfig", f"{base}ErrorsAlarm"


def function_name(stage: str, function: FunctionSpec) -> str:
    return f"{resource_prefix(stage)}-{function.name}"


# -- sections ----------------------------------------------------------------------------------
def function_overrides(
    stage: str, function: FunctionSpec, functions: Iterable[FunctionSpec] = ()
) -> dict[str, Any]:
    """Overrides of one Chalice function plus its DLQ, DLQ policy, alarm and log group."""
    queue, alarm, log_group = function_resources(function)
    invoke_config, errors_alarm = failure_resources(function)
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
    properties: dict[str, Any] = {
        "FunctionName": name,
        "Environment": {"Variables": lambda_environment(functions)},
        "Events": {function.event_id: event},
    }
    if function.pattern is None:
        properties["ReservedConcurrentExecutions"] = SWEEPER_CONCURRENCY
    return {
        function.logical_id: {"DependsOn": [log_group], "Properties": properties},
        f"{function.logical_id}Role": {
            "Properties": {
                "PermissionsBoundary": policies.permissions_boundary(),
                "Policies": [
                    {
                        "PolicyName": f"{function.logical_id}Policy",
                        "PolicyDocument": policies.lambda_policy(stage),
                    },
                    {
                        # Lambda sends the on-failure record with the function's own role
                        "PolicyName": f"{function.logical_id}OnFailure",
                        "PolicyDocument": policies.document(
                            [
                                {
                                    "Sid": "OnFailureDestination",
                                    "Effect": "Allow",
                                    "Action": "sqs:SendMessage",
                                    "Resource": {"Fn::GetAtt": [queue, "Arn"]},
                                }
                            ]
                        ),
                    },
                ],
            }
        },
        invoke_config: {
            "Type": "AWS::Lambda::EventInvokeConfig",
            "Properties": {
                "FunctionName": {"Ref": function.logical_id},
                "Qualifier": "$LATEST",
                "MaximumRetryAttempts": LAMBDA_MAX_RETRIES,
                "MaximumEventAgeInSeconds": LAMBDA_MAX_EVENT_AGE_SECONDS,
                "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [queue, "Arn"]}}},
            },
        },
        errors_alarm: _errors_alarm(name, function),
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
            # a destroyed stage's dead letters name its deleted table and queues: nothing
            # could redrive them, and a kept queue's name would block the next deploy
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
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


def _errors_alarm(name: str, function: FunctionSpec) -> dict[str, Any]:
    """Errors or throttles of one function in five minutes reach the alarm topic."""

    def metric(metric_id: str, metric_name: str) -> dict[str, Any]:
        return {
            "Id": metric_id,
            "ReturnData": False,
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/Lambda",
                    "MetricName": metric_name,
                    "Dimensions": [{"Name": "FunctionName", "Value": name}],
                },
                "Period": 300,
                "Stat": "Sum",
            },
        }

    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": f"{name}-errors-or-throttles",
            "AlarmDescription": (
                f"{function.name} failed or was throttled; Lambda retries it, then its event "
                "goes to the dead-letter queue the sweeper redrives. Read its log group."
            ),
            "Metrics": [
                metric("errors", "Errors"),
                metric("throttles", "Throttles"),
                {
                    "Id": "failures",
                    "Expression": "errors + throttles",
                    "Label": "errors and throttles",
                    "ReturnData": True,
                },
            ],
            "EvaluationPeriods": 1,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": ALARM_TOPIC}],
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
        # the stack's own partition, not the app's literal "aws" (cfn-lint I3042)
        text = _TOKEN.sub(r"${\1}", value).replace("arn:aws:", "arn:${AWS::Partition}:")
        return {"Fn::Sub": text}
    return value
