"""Least-privilege IAM policies, written once as CloudFormation values.

The template (``template.py``) embeds them, ``tests/lambdas/test_iam_policy.py`` and
``tests/worker/test_task_role_policy.py`` check them against the API calls the code really
makes, and ``cloudburst doctor`` simulates them. No statement allows a ``*`` action; a
``*`` resource appears only where the API has no narrower resource, with a comment saying so.

Resources are named through ``Fn::Sub``/``Fn::GetAtt`` on the template's own logical ids, so
a stage's policy can reach that stage's bucket, table, cluster and roles and nothing else.
"""

from __future__ import annotations

from typing import Any

from cloudburst.deploy.names import (
    BUCKET,
    CLUSTER,
    EXECUTION_ROLE,
    SECRET,
    TABLE,
    TASK_ROLE,
    WORKER_LOG_GROUP,
)
from cloudburst.stage import resource_prefix

Statement = dict[str, Any]


HAS_PERMISSIONS_BOUNDARY = "HasPermissionsBoundary"  # `deploy --permissions-boundary ARN`


def permissions_boundary() -> dict[str, Any]:
    """Every role's ``PermissionsBoundary``: the parameter, or none when it is empty."""
    return {
        "Fn::If": [
            HAS_PERMISSIONS_BOUNDARY,
            {"Ref": "PermissionsBoundary"},
            {"Ref": "AWS::NoValue"},
        ]
    }


def sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def arn(service: str, resource: str) -> dict[str, str]:
    """An ARN in this stack's partition, region and account."""
    return sub(f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}")


def document(statements: list[Statement]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}


def lambda_policy(stage: str) -> dict[str, Any]:
    """What the Lambdas call: the job bucket, table, worker tasks, worker roles, secret."""
    prefix = resource_prefix(stage)
    task_arn = arn("ecs", f"task/{prefix}/*")
    return document(
        [
            {
                "Sid": "OwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": arn("logs", f"log-group:/aws/lambda/{prefix}-*:*"),
            },
            {
                "Sid": "JobBucketObjects",
                "Effect": "Allow",
                # GetObjectVersion: intake reads the exact version an upload event names
                "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
                "Resource": sub(f"${{{BUCKET}.Arn}}/*"),
            },
            {
                "Sid": "JobBucketListing",
                "Effect": "Allow",
                # ListBucketVersions: intake pins each asset's version (ListObjectVersions)
                "Action": ["s3:ListBucket", "s3:ListBucketVersions"],
                "Resource": {"Fn::GetAtt": [BUCKET, "Arn"]},
            },
            {
                "Sid": "JobTable",
                "Effect": "Allow",
                "Action": [
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:Query",
                    "dynamodb:BatchWriteItem",
                ],
                "Resource": [
                    {"Fn::GetAtt": [TABLE, "Arn"]},
                    sub(f"${{{TABLE}.Arn}}/index/*"),
                ],
            },
            {
                "Sid": "LaunchWorkerTasksInTheStagesCluster",
                "Effect": "Allow",
                "Action": ["ecs:RunTask"],
                "Resource": arn("ecs", f"task-definition/{prefix}-worker:*"),
                "Condition": {"ArnEquals": {"ecs:cluster": {"Fn::GetAtt": [CLUSTER, "Arn"]}}},
            },
            {
                "Sid": "TagTasksAtLaunch",
                "Effect": "Allow",
                "Action": ["ecs:TagResource"],
                "Resource": task_arn,
                "Condition": {"StringEquals": {"ecs:CreateAction": "RunTask"}},
            },
            {
                "Sid": "WatchAndStopWorkerTasks",
                "Effect": "Allow",
                "Action": ["ecs:DescribeTasks", "ecs:StopTask"],
                "Resource": task_arn,
            },
            {
                "Sid": "ListTheClustersTasks",
                "Effect": "Allow",
                "Action": ["ecs:ListTasks"],
                # ListTasks names container instances as its resource, which Fargate tasks have
                # none of: "*" with the cluster condition is the narrowest IAM allows.
                "Resource": "*",
                "Condition": {"ArnEquals": {"ecs:cluster": {"Fn::GetAtt": [CLUSTER, "Arn"]}}},
            },
            {
                "Sid": "RedriveTheRulesDeadLetters",
                "Effect": "Allow",
                "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage"],
                "Resource": arn("sqs", f"{prefix}-*-dlq"),
            },
            {
                "Sid": "PassTheWorkersRolesToEcs",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": [
                    {"Fn::GetAtt": [TASK_ROLE, "Arn"]},
                    {"Fn::GetAtt": [EXECUTION_ROLE, "Arn"]},
                ],
                "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            },
            {
                "Sid": "ReadTheWebhookSigningSecret",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": {"Ref": SECRET},
            },
        ]
    )


def worker_task_policy() -> dict[str, Any]:
    """What the worker's code calls: specs and assets in, videos and result records out."""
    return document(
        [
            {
                "Sid": "ReadSpecsAndAssetsWriteVideosAndResults",
                "Effect": "Allow",
                # GetObjectVersion: assets are read at the version intake pinned
                "Action": [
                    "s3:GetObject",
                    "s3:GetObjectVersion",
                    "s3:PutObject",
                    "s3:AbortMultipartUpload",
                ],
                "Resource": sub(f"${{{BUCKET}.Arn}}/*"),
            },
            {
                # a resumed task HEADs outputs: with ListBucket a missing one is 404, not 403
                "Sid": "TellMissingFromForbiddenWhenResuming",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": {"Fn::GetAtt": [BUCKET, "Arn"]},
            },
        ]
    )


def worker_execution_policy(stage: str) -> dict[str, Any]:
    """What ECS needs to start a worker: pull its image and write its logs.

    Narrower than the managed ``AmazonECSTaskExecutionRolePolicy`` (``*`` everywhere).
    """
    return document(
        [
            {
                # GetAuthorizationToken has no resource type: IAM accepts only "*" here.
                "Sid": "RegistryLogin",
                "Effect": "Allow",
                "Action": ["ecr:GetAuthorizationToken"],
                "Resource": "*",
            },
            {
                "Sid": "PullTheWorkerImage",
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                ],
                "Resource": arn("ecr", f"repository/{repository_name(stage)}"),
            },
            {
                "Sid": "WriteWorkerLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": sub(f"${{{WORKER_LOG_GROUP}.Arn}}"),
            },
        ]
    )


def repository_name(stage: str) -> str:
    return f"{resource_prefix(stage)}-worker"


def ecs_tasks_trust() -> dict[str, Any]:
    """Only ECS tasks of this account may assume the worker's roles."""
    return document(
        [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
            }
        ]
    )


# Every AWS action the Lambdas' code calls, with the resource it calls it on and the
# condition keys IAM sees then. tests/lambdas/test_iam_policy.py checks this list covers the
# calls recorded from a whole job; `cloudburst doctor` simulates each against the deployed
# roles. Keys of the resource are filled from the deployed stack's names.
LAMBDA_CALLS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("s3:GetObject", "{bucket_arn}/manifests/example.json", {}),
    ("s3:GetObjectVersion", "{bucket_arn}/manifests/example.json", {}),
    ("s3:PutObject", "{bucket_arn}/jobs/example/batches/0001.json", {}),
    ("s3:ListBucket", "{bucket_arn}", {}),
    ("s3:ListBucketVersions", "{bucket_arn}", {}),
    ("dynamodb:GetItem", "{table_arn}", {}),
    ("dynamodb:PutItem", "{table_arn}", {}),
    ("dynamodb:UpdateItem", "{table_arn}", {}),
    ("dynamodb:DeleteItem", "{table_arn}", {}),
    ("dynamodb:Query", "{table_arn}/index/GSI2", {}),
    ("dynamodb:BatchWriteItem", "{table_arn}", {}),
    ("ecs:RunTask", "{task_definition_arn}", {"ecs:cluster": "{cluster_arn}"}),
    ("ecs:TagResource", "{task_arn}", {"ecs:CreateAction": "RunTask"}),
    ("ecs:DescribeTasks", "{task_arn}", {}),
    ("ecs:StopTask", "{task_arn}", {}),
    ("ecs:ListTasks", "*", {"ecs:cluster": "{cluster_arn}"}),
    ("sqs:ReceiveMessage", "{dead_letter_queue_arn}", {}),
    ("sqs:DeleteMessage", "{dead_letter_queue_arn}", {}),
    ("iam:PassRole", "{task_role_arn}", {"iam:PassedToService": "ecs-tasks.amazonaws.com"}),
    ("iam:PassRole", "{execution_role_arn}", {"iam:PassedToService": "ecs-tasks.amazonaws.com"}),
    ("secretsmanager:GetSecretValue", "{secret_arn}", {}),
)
