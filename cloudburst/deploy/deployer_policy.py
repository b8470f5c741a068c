"""The IAM policy a person (or CI role) needs to run ``cloudburst deploy``/``destroy``/``doctor``.

CloudFormation creates the resources with the deployer's permissions, so this lists what the
templates create, scoped to names starting ``cloudburst-`` wherever the service lets a
policy name the resource before it exists. A ``*`` resource appears only for actions whose
IAM reference lists no resource type (or that must act before any ARN exists: EC2's
``Create*`` of a VPC and its parts, ECS task definitions, which are named by revision).
"""

from __future__ import annotations

from typing import Any

_ANY_REGION = "arn:aws:{service}:*:*:{resource}"


def _arn(service: str, resource: str) -> str:
    return _ANY_REGION.format(service=service, resource=resource)


def deployer_policy() -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {
            "Sid": "CloudBurstStacks",
            "Action": [
                "cloudformation:CreateStack",
                "cloudformation:UpdateStack",
                "cloudformation:DeleteStack",
                "cloudformation:DescribeStacks",
                "cloudformation:DescribeStackEvents",
                "cloudformation:GetTemplate",
                "cloudformation:ListStackResources",
            ],
            "Resource": _arn("cloudformation", "stack/cloudburst-*/*"),
        },
        {
            # the SAM transform expands the Lambdas through a change set of its own
            "Sid": "ServerlessTransform",
            "Action": ["cloudformation:CreateChangeSet"],
            "Resource": "arn:aws:cloudformation:*:aws:transform/Serverless-2016-10-31",
        },
        {
            "Sid": "Buckets",
            "Action": [
                "s3:CreateBucket",
                "s3:DeleteBucket",
                "s3:ListBucket",
                "s3:ListBucketVersions",
                "s3:PutBucketVersioning",
                "s3:PutBucketNotification",
                "s3:PutBucketPublicAccessBlock",
                "s3:PutBucketOwnershipControls",
                "s3:PutEncryptionConfiguration",
                "s3:PutLifecycleConfiguration",
                "s3:PutBucketPolicy",
                "s3:DeleteBucketPolicy",
                "s3:GetBucketPolicy",
                "s3:PutBucketTagging",
                "s3:GetBucketLocation",
            ],
            "Resource": "arn:aws:s3:::cloudburst-*",
        },
        {
            "Sid": "ArtefactsAndEmptyingOnDestroy",
            "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:DeleteObjectVersion"],
            "Resource": "arn:aws:s3:::cloudburst-*/*",
        },
        {
            "Sid": "Table",
            "Action": [
                "dynamodb:CreateTable",
                "dynamodb:UpdateTable",
                "dynamodb:DeleteTable",
                "dynamodb:DescribeTable",
                "dynamodb:UpdateTimeToLive",
                "dynamodb:DescribeTimeToLive",
                "dynamodb:UpdateContinuousBackups",
                "dynamodb:DescribeContinuousBackups",
                "dynamodb:TagResource",
            ],
            "Resource": _arn("dynamodb", "table/cloudburst-*"),
        },
        {
            "Sid": "Cluster",
            "Action": [
                "ecs:CreateCluster",
                "ecs:UpdateCluster",
                "ecs:DeleteCluster",
                "ecs:DescribeClusters",
                "ecs:PutClusterCapacityProviders",
                "ecs:TagResource",
            ],
            "Resource": _arn("ecs", "cluster/cloudburst-*"),
        },
        {
            # task definitions have no ARN before registration (the revision is in it)
            "Sid": "TaskDefinitions",
            "Action": [
                "ecs:RegisterTaskDefinition",
                "ecs:DeregisterTaskDefinition",
                "ecs:DescribeTaskDefinition",
            ],
            "Resource": "*",
        },
        {
            "Sid": "Roles",
            "Action": [
                "iam:CreateRole",
                "iam:DeleteRole",
                "iam:GetRole",
                "iam:PutRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:GetRolePolicy",
                "iam:TagRole",
                "iam:UpdateAssumeRolePolicy",
                "iam:SimulatePrincipalPolicy",
            ],
            "Resource": "arn:aws:iam::*:role/cloudburst-*",
        },
        {
            "Sid": "PassRolesToLambdaAndEcs",
            "Action": ["iam:PassRole"],
            "Resource": "arn:aws:iam::*:role/cloudburst-*",
            "Condition": {
                "StringEquals": {
                    "iam:PassedToService": ["lambda.amazonaws.com", "ecs-tasks.amazonaws.com"]
                }
            },
        },
        {
            "Sid": "Functions",
            "Action": [
                "lambda:CreateFunction",
                "lambda:UpdateFunctionCode",
                "lambda:UpdateFunctionConfiguration",
                "lambda:DeleteFunction",
                "lambda:GetFunction",
                "lambda:GetFunctionConfiguration",
                "lambda:AddPermission",
                "lambda:RemovePermission",
                "lambda:TagResource",
                "lambda:ListTags",
            ],
            "Resource": _arn("lambda", "function:cloudburst-*"),
        },
        {
            "Sid": "Rules",
            "Action": [
                "events:PutRule",
                "events:DeleteRule",
                "events:DescribeRule",
                "events:PutTargets",
                "events:RemoveTargets",
            ],
            "Resource": _arn("events", "rule/cloudburst-*"),
        },
        {
            "Sid": "DeadLetterQueues",
            "Action": [
                "sqs:CreateQueue",
                "sqs:DeleteQueue",
                "sqs:GetQueueAttributes",
                "sqs:SetQueueAttributes",
                "sqs:TagQueue",
            ],
            "Resource": _arn("sqs", "cloudburst-*"),
        },
        {
            "Sid": "AlarmsAndTheirTopic",
            "Action": [
                "cloudwatch:PutMetricAlarm",
                "cloudwatch:DeleteAlarms",
                "cloudwatch:DescribeAlarms",
                "sns:CreateTopic",
                "sns:DeleteTopic",
                "sns:GetTopicAttributes",
                "sns:SetTopicAttributes",
            ],
            "Resource": [_arn("cloudwatch", "alarm:cloudburst-*"), _arn("sns", "cloudburst-*")],
        },
        {
            "Sid": "LogGroups",
            "Action": [
                "logs:CreateLogGroup",
                "logs:DeleteLogGroup",
                "logs:PutRetentionPolicy",
                "logs:DescribeLogGroups",
                "logs:TagResource",
            ],
            "Resource": [
                _arn("logs", "log-group:/aws/lambda/cloudburst-*"),
                _arn("logs", "log-group:/ecs/cloudburst-*"),
            ],
        },
        {
            "Sid": "WebhookSecret",
            "Action": [
                "secretsmanager:CreateSecret",
                "secretsmanager:DeleteSecret",
                "secretsmanager:DescribeSecret",
                "secretsmanager:PutSecretValue",
                "secretsmanager:UpdateSecret",
                "secretsmanager:TagResource",
            ],
            "Resource": _arn("secretsmanager", "secret:cloudburst-*"),
        },
        {
            "Sid": "ImageRepository",
            "Action": [
                "ecr:CreateRepository",
                "ecr:DeleteRepository",
                "ecr:DescribeRepositories",
                "ecr:PutLifecyclePolicy",
                "ecr:PutImageScanningConfiguration",
                "ecr:PutImageTagMutability",
                "ecr:TagResource",
                "ecr:DescribeImages",
                "ecr:ListImages",
                "ecr:BatchDeleteImage",
                "ecr:BatchGetImage",
                "ecr:BatchCheckLayerAvailability",
                "ecr:InitiateLayerUpload",
                "ecr:UploadLayerPart",
                "ecr:CompleteLayerUpload",
                "ecr:PutImage",
            ],
            "Resource": _arn("ecr", "repository/cloudburst-*"),
        },
        {
            # EC2 creates VPC parts before they have an ARN to scope to, and its Describe*
            # calls, like these two read-only checks of doctor, take no resource type at all.
            "Sid": "NetworkAndReadOnlyChecks",
            "Action": [
                "ec2:CreateVpc",
                "ec2:DeleteVpc",
                "ec2:ModifyVpcAttribute",
                "ec2:CreateSubnet",
                "ec2:DeleteSubnet",
                "ec2:ModifySubnetAttribute",
                "ec2:CreateInternetGateway",
                "ec2:DeleteInternetGateway",
                "ec2:AttachInternetGateway",
                "ec2:DetachInternetGateway",
                "ec2:CreateRouteTable",
                "ec2:DeleteRouteTable",
                "ec2:CreateRoute",
                "ec2:DeleteRoute",
                "ec2:AssociateRouteTable",
                "ec2:DisassociateRouteTable",
                "ec2:CreateVpcEndpoint",
                "ec2:DeleteVpcEndpoints",
                "ec2:CreateSecurityGroup",
                "ec2:DeleteSecurityGroup",
                "ec2:AuthorizeSecurityGroupEgress",
                "ec2:RevokeSecurityGroupEgress",
                "ec2:CreateTags",
                "ec2:DescribeVpcs",
                "ec2:DescribeSubnets",
                "ec2:DescribeRouteTables",
                "ec2:DescribeInternetGateways",
                "ec2:DescribeVpcEndpoints",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeAvailabilityZones",
                "ecr:GetAuthorizationToken",
                "servicequotas:GetServiceQuota",
                "lambda:GetAccountSettings",
            ],
            "Resource": "*",
        },
    ]
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", **statement} for statement in statements],
    }
