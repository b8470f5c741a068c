"""The IAM policy a person (or CI role) needs to run ``cloudburst deploy``/``destroy``/``doctor``.

CloudFormation creates the resources with the deployer's permissions, so the policy grants
what each resource type's handlers declare (create, read, update, delete: the CloudFormation
registry schemas, which cfn-lint bundles) for the types the stage's templates use, minus
:data:`EXCLUDED` (each with its reason), plus :data:`DIRECT_CALLS` that the commands make
themselves. ``tests/infra/test_deployer_policy.py`` holds the policy to both lists, so it is
sufficient and has nothing else in it.

Resources are scoped to names starting ``cloudburst-`` wherever the service lets a policy
name the resource before it exists. A ``*`` resource appears only for actions whose IAM
reference lists no resource type, or that must act before any ARN exists (EC2's ``Create*``,
ECS's ``RegisterTaskDefinition``); nothing is deleted or deregistered on ``*``: EC2's
destructive calls need the tag CloudFormation puts on what it made for a ``cloudburst-``
stack. With a permissions boundary (``deploy --print-policy --permissions-boundary ARN``)
the deployer can create or change a role only with that boundary on it, so holding this
policy cannot be turned into holding any other.
"""

from __future__ import annotations

from typing import Any

_ANY_REGION = "arn:aws:{service}:*:*:{resource}"
# CloudFormation tags everything it creates with the stack's name; the stage's stacks are
# all named cloudburst-<stage>[-bootstrap].
MADE_BY_A_CLOUDBURST_STACK = {
    "StringLike": {"aws:ResourceTag/aws:cloudformation:stack-name": "cloudburst-*"}
}
ECS_SERVICE_LINKED_ROLE = (
    "arn:aws:iam::*:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"
)

# Actions the handlers of the stage's resource types declare that the policy leaves out:
# the property that would make the handler call them is not in any CloudBurst template.
# Keys are an action, or "<resource type> <action>" where only that type's use is left out.
EXCLUDED: dict[str, str] = {
    **{
        f"kms:{a}": "no resource names a customer managed KMS key (S3 SSE-S3, SQS SSE-SQS, "
        "DynamoDB and Secrets Manager AWS-owned/managed keys, no log group or ECR key)"
        for a in ("CreateGrant", "Decrypt", "DescribeKey", "Encrypt", "GenerateDataKey")
    },
    "kms:ListAliases": "no customer managed key (DynamoDB SSESpecification unset)",
    "kms:RevokeGrant": "no customer managed key",
    "kms:RetireGrant": "no customer managed key (ECR EncryptionConfiguration unset)",
    # DynamoDB
    "dynamodb:AssociateTableReplica": "no global table replicas",
    "dynamodb:CreateTableReplica": "no global table replicas",
    **{
        f"dynamodb:{a}": "item reads and writes: the handler uses them for imports and "
        "replicas only; the deployer never touches jobs"
        for a in (
            "BatchWriteItem",
            "DeleteItem",
            "GetItem",
            "PutItem",
            "Query",
            "Scan",
            "UpdateItem",
        )
    },
    "dynamodb:ImportTable": "no ImportSourceSpecification",
    "dynamodb:DescribeImport": "no ImportSourceSpecification",
    "dynamodb:PutResourcePolicy": "no ResourcePolicy on the table",
    "dynamodb:DeleteResourcePolicy": "no ResourcePolicy on the table",
    "dynamodb:EnableKinesisStreamingDestination": "no KinesisStreamSpecification",
    "dynamodb:DisableKinesisStreamingDestination": "no KinesisStreamSpecification",
    "dynamodb:UpdateKinesisStreamingDestination": "no KinesisStreamSpecification",
    "dynamodb:UpdateContributorInsights": "ContributorInsightsSpecification unset",
    "kinesis:DescribeStream": "no KinesisStreamSpecification",
    "kinesis:PutRecords": "no KinesisStreamSpecification",
    "AWS::DynamoDB::Table iam:CreateServiceLinkedRole": "replicas and contributor insights "
    "only; the only service-linked role granted is ECS's",
    **{
        f"AWS::DynamoDB::Table logs:{a}": "import error logs: no ImportSourceSpecification"
        for a in (
            "CreateLogGroup",
            "CreateLogStream",
            "DescribeLogGroups",
            "DescribeLogStreams",
            "PutLogEvents",
            "PutRetentionPolicy",
        )
    },
    **{
        f"AWS::DynamoDB::Table s3:{a}": "import from S3: no ImportSourceSpecification"
        for a in ("GetObject", "GetObjectMetadata", "ListBucket")
    },
    # EC2
    "ec2:AttachVpnGateway": "the attachment is an internet gateway's, never a VPN gateway's",
    "ec2:DetachVpnGateway": "the attachment is an internet gateway's, never a VPN gateway's",
    "ec2:DescribeVpnGateways": "the attachment is an internet gateway's, never a VPN gateway's",
    "ec2:CreateVpcEncryptionControl": "no VPC encryption control",
    "ec2:ModifyVpcTenancy": "default tenancy, never changed",
    "ec2:AssociateSubnetCidrBlock": "no IPv6 CIDR on the subnets",
    "ec2:DisassociateSubnetCidrBlock": "no IPv6 CIDR on the subnets",
    "ec2:AuthorizeSecurityGroupIngress": "the worker group has no inbound rule",
    "ec2:RevokeSecurityGroupIngress": "the worker group has no inbound rule",
    "ec2:UpdateSecurityGroupRuleDescriptionsIngress": "the worker group has no inbound rule",
    "vpc-lattice:CreateServiceNetworkVpcEndpointAssociation": "a gateway endpoint, not a "
    "service-network endpoint",
    "vpc-lattice:DescribeServiceNetworkVpcEndpointAssociation": "a gateway endpoint, not a "
    "service-network endpoint",
    "vpce:AllowMultiRegion": "the S3 endpoint serves the stack's own region",
    # ECS
    "ecs:PutAccountSetting": "account-wide settings: the cluster sets none",
    "ecs:PutAccountSettingDefault": "account-wide settings: the cluster sets none",
    # IAM
    "iam:AttachRolePolicy": "no role has ManagedPolicyArns; attaching would let the deployer "
    "give a role any managed policy",
    "iam:DetachRolePolicy": "no role has ManagedPolicyArns",
    # Lambda
    "lambda:AssociateRuntimeAlias": "no runtime alias",
    "lambda:PassCapacityProvider": "no Lambda capacity provider",
    "lambda:PutFunctionScalingConfig": "no Lambda capacity provider",
    "lambda:PublishVersion": "no AutoPublishAlias: every function runs $LATEST",
    "lambda:GetLayerVersion": "no layers (automatic_layer is off)",
    "lambda:GetCodeSigningConfig": "no CodeSigningConfigArn",
    "lambda:PutFunctionCodeSigningConfig": "no CodeSigningConfigArn",
    "lambda:DeleteFunctionCodeSigningConfig": "no CodeSigningConfigArn",
    "lambda:PutRuntimeManagementConfig": "RuntimeManagementConfig unset",
    "lambda:PutFunctionRecursionConfig": "RecursiveLoop unset",
    "elasticfilesystem:DescribeMountTargets": "no FileSystemConfigs",
    "s3files:ListMountTargets": "no FileSystemConfigs",
    # Logs
    "logs:AssociateKmsKey": "no KmsKeyId on a log group",
    "logs:DisassociateKmsKey": "no KmsKeyId on a log group",
    "logs:PutDataProtectionPolicy": "no DataProtectionPolicy",
    "logs:DeleteDataProtectionPolicy": "no DataProtectionPolicy",
    "logs:GetDataProtectionPolicy": "no DataProtectionPolicy",
    "logs:PutIndexPolicy": "no FieldIndexPolicies",
    "logs:DeleteIndexPolicy": "no FieldIndexPolicies",
    "logs:DescribeIndexPolicies": "no FieldIndexPolicies",
    "logs:PutResourcePolicy": "no ResourcePolicyDocument",
    "logs:DeleteResourcePolicy": "no ResourcePolicyDocument",
    "logs:DescribeResourcePolicies": "no ResourcePolicyDocument",
    "logs:CreateLogDelivery": "no log delivery",
    "logs:PutBearerTokenAuthentication": "no bearer token authentication",
    "logs:PutLogGroupDeletionProtection": "DeletionProtectionEnabled unset",
    "firehose:TagDeliveryStream": "no Firehose delivery",
    "s3:REST.PUT.OBJECT": "not an IAM action (a log delivery's S3 call)",
    # S3
    **{
        f"s3:{a}": "the bucket does not set this configuration"
        for a in (
            "CreateBucketMetadataTableConfiguration",
            "DeleteBucketAnalyticsConfiguration",
            "DeleteBucketCors",
            "DeleteBucketEncryption",
            "DeleteBucketLifecycle",
            "DeleteBucketMetadataTableConfiguration",
            "DeleteBucketMetricsConfiguration",
            "DeleteBucketReplication",
            "DeleteBucketWebsite",
            "GetBucketMetadataTableConfiguration",
            "PutAccelerateConfiguration",
            "PutAnalyticsConfiguration",
            "PutBucketAbac",
            "PutBucketAcl",
            "PutBucketCORS",
            "PutBucketLogging",
            "PutBucketObjectLockConfiguration",
            "PutBucketReplication",
            "PutBucketWebsite",
            "PutIntelligentTieringConfiguration",
            "PutInventoryConfiguration",
            "PutMetricsConfiguration",
            "PutObjectAcl",
            "PutObjectLockConfiguration",
            "PutReplicationConfiguration",
            "UpdateBucketMetadataAnnotationTableConfiguration",
            "UpdateBucketMetadataInventoryTableConfiguration",
            "UpdateBucketMetadataJournalTableConfiguration",
        )
    },
    **{
        f"s3tables:{a}": "no S3 metadata table configuration"
        for a in (
            "CreateNamespace",
            "CreateTable",
            "CreateTableBucket",
            "GetTable",
            "GetTableMetadataLocation",
            "PutTableBucketPolicy",
            "PutTableEncryption",
            "PutTablePolicy",
            "UpdateTableMetadataLocation",
        )
    },
    # SNS, Secrets Manager, ECR
    "sns:PutDataProtectionPolicy": "no DataProtectionPolicy on the alarm topic",
    "secretsmanager:GetRandomPassword": "the secret is given (SecretString), not generated",
    "secretsmanager:ReplicateSecretToRegions": "no ReplicaRegions",
    "secretsmanager:RemoveRegionsFromReplication": "no ReplicaRegions",
    "ecr:SetRepositoryPolicy": "no RepositoryPolicyText",
    "ecr:DeleteRepositoryPolicy": "no RepositoryPolicyText",
    "ecr:GetRepositoryPolicy": "no RepositoryPolicyText",
}

# What the commands call themselves (not through a CloudFormation handler), and why.
DIRECT_CALLS: dict[str, str] = {
    "cloudformation:CreateStack": "deploy",
    "cloudformation:UpdateStack": "deploy",
    "cloudformation:DeleteStack": "destroy, and deploy after a failed first create",
    "cloudformation:DescribeStacks": "deploy, destroy, doctor",
    "cloudformation:DescribeStackEvents": "deploy and destroy show progress and failures",
    "cloudformation:GetTemplate": "deploy's nothing-changed check, doctor's drift check",
    "cloudformation:ListStackResources": "doctor finds the stage's roles and queues",
    "cloudformation:CreateChangeSet": "the SAM transform expands through a change set",
    "s3:PutObject": "deploy uploads the Lambda bundle and a large template",
    "s3:GetObject": "CloudFormation reads the uploaded template with the caller's credentials",
    "s3:GetObjectVersion": "the Lambda handler reads the bundle",
    "s3:ListBucketVersions": "destroy empties the versioned buckets",
    "s3:DeleteObject": "destroy empties the buckets",
    "s3:DeleteObjectVersion": "destroy empties the versioned buckets",
    "ecr:GetAuthorizationToken": "deploy logs the container engine in to push",
    "ecr:BatchCheckLayerAvailability": "image push",
    "ecr:InitiateLayerUpload": "image push",
    "ecr:UploadLayerPart": "image push",
    "ecr:CompleteLayerUpload": "image push",
    "ecr:PutImage": "image push",
    "ecr:BatchGetImage": "image push checks the pushed manifest",
    "ecr:DescribeImages": "deploy skips a pushed image; doctor checks the task's image",
    "ecr:ListImages": "destroy deletes the images",
    "ecr:BatchDeleteImage": "destroy deletes the images",
    "iam:SimulatePrincipalPolicy": "doctor simulates the caller's and the Lambdas' calls",
    "servicequotas:GetServiceQuota": "doctor checks the Fargate vCPU quotas",
    "lambda:GetAccountSettings": "doctor checks Lambda concurrency",
    "cloudwatch:GetMetricData": "doctor reads the Lambdas' errors of the last hour",
    "ec2:DescribeAvailabilityZones": "Fn::GetAZs places the subnets",
    "ec2:DescribeRegions": "doctor checks the region is enabled",
    "ecs:DescribeTaskDefinition": "doctor reads the task's image and roles",
}


def _arn(service: str, resource: str) -> str:
    return _ANY_REGION.format(service=service, resource=resource)


def deployer_policy(permissions_boundary: str | None = None) -> dict[str, Any]:
    """The deployer's policy; with ``permissions_boundary`` every role it creates or edits
    must carry that boundary, and it cannot remove one."""
    roles = "arn:aws:iam::*:role/cloudburst-*"
    boundary = (
        {"Condition": {"StringEquals": {"iam:PermissionsBoundary": permissions_boundary}}}
        if permissions_boundary
        else {}
    )
    role_writes = [
        "iam:CreateRole",
        "iam:PutRolePolicy",
        "iam:DeleteRolePolicy",
        "iam:PutRolePermissionsBoundary",
    ]
    role_others = [
        "iam:DeleteRole",
        "iam:GetRole",
        "iam:GetRolePolicy",
        "iam:ListRolePolicies",
        "iam:ListAttachedRolePolicies",
        "iam:TagRole",
        "iam:UntagRole",
        "iam:UpdateAssumeRolePolicy",
        "iam:UpdateRole",
        "iam:UpdateRoleDescription",
    ]
    if not permissions_boundary:
        role_others.append("iam:DeleteRolePermissionsBoundary")
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
                "s3:GetBucketAcl",
                "s3:PutBucketVersioning",
                "s3:PutBucketNotification",
                "s3:PutBucketPublicAccessBlock",
                "s3:PutBucketOwnershipControls",
                "s3:PutEncryptionConfiguration",
                "s3:PutLifecycleConfiguration",
                "s3:PutBucketTagging",
                "s3:PutBucketPolicy",
                "s3:DeleteBucketPolicy",
                "s3:GetBucketPolicy",
                "s3:TagResource",
                "s3:UntagResource",
                "s3:ListTagsForResource",
                # the bucket handler's read reads back every configuration a bucket can have
                *(
                    f"s3:Get{c}"
                    for c in (
                        "AccelerateConfiguration",
                        "AnalyticsConfiguration",
                        "BucketAbac",
                        "BucketCORS",
                        "BucketLogging",
                        "BucketNotification",
                        "BucketObjectLockConfiguration",
                        "BucketOwnershipControls",
                        "BucketPublicAccessBlock",
                        "BucketTagging",
                        "BucketVersioning",
                        "BucketWebsite",
                        "EncryptionConfiguration",
                        "IntelligentTieringConfiguration",
                        "InventoryConfiguration",
                        "LifecycleConfiguration",
                        "MetricsConfiguration",
                        "ReplicationConfiguration",
                    )
                ),
            ],
            "Resource": "arn:aws:s3:::cloudburst-*",
        },
        {
            "Sid": "ArtefactsAndEmptyingOnDestroy",
            "Action": [
                "s3:PutObject",
                "s3:GetObject",
                "s3:GetObjectVersion",
                "s3:DeleteObject",
                "s3:DeleteObjectVersion",
            ],
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
                "dynamodb:DescribeContributorInsights",
                "dynamodb:DescribeKinesisStreamingDestination",
                "dynamodb:GetResourcePolicy",
                "dynamodb:ListTagsOfResource",
                "dynamodb:TagResource",
                "dynamodb:UntagResource",
            ],
            "Resource": _arn("dynamodb", "table/cloudburst-*"),
        },
        {
            "Sid": "Cluster",
            "Action": [
                "ecs:CreateCluster",
                "ecs:UpdateCluster",
                "ecs:UpdateClusterSettings",
                "ecs:DeleteCluster",
                "ecs:DescribeClusters",
                "ecs:PutClusterCapacityProviders",
                "ecs:TagResource",
                "ecs:UntagResource",
                "ecs:ListTagsForResource",
            ],
            "Resource": _arn("ecs", "cluster/cloudburst-*"),
        },
        {
            # an account that never used ECS has no ECS service-linked role: the cluster's
            # handler creates it, and nothing else may be created this way
            "Sid": "EcsServiceLinkedRole",
            "Action": ["iam:CreateServiceLinkedRole"],
            "Resource": ECS_SERVICE_LINKED_ROLE,
            "Condition": {"StringEquals": {"iam:AWSServiceName": "ecs.amazonaws.com"}},
        },
        {
            # a task definition has no ARN before it is registered (the revision is in it)
            "Sid": "RegisterTaskDefinitions",
            "Action": ["ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition"],
            "Resource": "*",
        },
        {
            "Sid": "TaskDefinitions",
            "Action": [
                "ecs:DeregisterTaskDefinition",
                "ecs:TagResource",
                "ecs:UntagResource",
                "ecs:ListTagsForResource",
            ],
            "Resource": _arn("ecs", "task-definition/cloudburst-*:*"),
        },
        {"Sid": "RoleWrites", "Action": role_writes, "Resource": roles, **boundary},
        {"Sid": "Roles", "Action": role_others, "Resource": roles},
        {
            "Sid": "PassRolesToLambdaAndEcs",
            "Action": ["iam:PassRole"],
            "Resource": roles,
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
                "lambda:GetFunctionCodeSigningConfig",
                "lambda:GetRuntimeManagementConfig",
                "lambda:GetFunctionRecursionConfig",
                "lambda:GetFunctionScalingConfig",
                "lambda:GetPolicy",
                "lambda:PutFunctionConcurrency",
                "lambda:DeleteFunctionConcurrency",
                "lambda:AddPermission",
                "lambda:RemovePermission",
                "lambda:PutFunctionEventInvokeConfig",
                "lambda:UpdateFunctionEventInvokeConfig",
                "lambda:DeleteFunctionEventInvokeConfig",
                "lambda:GetFunctionEventInvokeConfig",
                "lambda:TagResource",
                "lambda:UntagResource",
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
                "events:ListTargetsByRule",
                "events:ListTagsForResource",
                "events:TagResource",
                "events:UntagResource",
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
                "sqs:GetQueueUrl",
                "sqs:ListQueueTags",
                "sqs:TagQueue",
                "sqs:UntagQueue",
            ],
            "Resource": _arn("sqs", "cloudburst-*"),
        },
        {
            "Sid": "Alarms",
            "Action": [
                "cloudwatch:PutMetricAlarm",
                "cloudwatch:DeleteAlarms",
                "cloudwatch:DescribeAlarms",
                "cloudwatch:TagResource",
                "cloudwatch:UntagResource",
                "cloudwatch:ListTagsForResource",
            ],
            "Resource": _arn("cloudwatch", "alarm:cloudburst-*"),
        },
        {
            "Sid": "AlarmTopicAndItsSubscription",
            "Action": [
                "sns:CreateTopic",
                "sns:DeleteTopic",
                "sns:GetTopicAttributes",
                "sns:SetTopicAttributes",
                "sns:ListSubscriptionsByTopic",
                "sns:GetDataProtectionPolicy",
                "sns:Subscribe",
                "sns:Unsubscribe",
                "sns:GetSubscriptionAttributes",
                "sns:SetSubscriptionAttributes",
                "sns:TagResource",
                "sns:UntagResource",
                "sns:ListTagsForResource",
            ],
            # a subscription's ARN is its topic's plus an id
            "Resource": [_arn("sns", "cloudburst-*")],
        },
        {
            "Sid": "LogGroups",
            "Action": [
                "logs:CreateLogGroup",
                "logs:DeleteLogGroup",
                "logs:PutRetentionPolicy",
                "logs:DeleteRetentionPolicy",
                "logs:TagResource",
                "logs:UntagResource",
                "logs:ListTagsForResource",
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
                "secretsmanager:GetSecretValue",
                "secretsmanager:UpdateSecret",
                "secretsmanager:TagResource",
                "secretsmanager:UntagResource",
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
                "ecr:GetLifecyclePolicy",
                "ecr:DeleteLifecyclePolicy",
                "ecr:PutImageScanningConfiguration",
                "ecr:PutImageTagMutability",
                "ecr:TagResource",
                "ecr:UntagResource",
                "ecr:ListTagsForResource",
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
            # EC2 creates VPC parts before they have an ARN (or a tag) to scope to
            "Sid": "NetworkCreate",
            "Action": [
                "ec2:CreateVpc",
                "ec2:ModifyVpcAttribute",
                "ec2:CreateSubnet",
                "ec2:ModifySubnetAttribute",
                "ec2:CreateInternetGateway",
                "ec2:AttachInternetGateway",
                "ec2:CreateRouteTable",
                "ec2:CreateRoute",
                "ec2:AssociateRouteTable",
                "ec2:CreateVpcEndpoint",
                "ec2:ModifyVpcEndpoint",
                "ec2:CreateSecurityGroup",
                "ec2:AuthorizeSecurityGroupEgress",
                "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
                "ec2:CreateTags",
            ],
            "Resource": "*",
        },
        {
            # only what a cloudburst-* stack made (CloudFormation's stack-name tag on it)
            "Sid": "NetworkChangeAndDelete",
            "Action": [
                "ec2:DeleteVpc",
                "ec2:DeleteSubnet",
                "ec2:DeleteInternetGateway",
                "ec2:DetachInternetGateway",
                "ec2:DeleteRouteTable",
                "ec2:DeleteRoute",
                "ec2:ReplaceRoute",
                "ec2:DisassociateRouteTable",
                "ec2:ReplaceRouteTableAssociation",
                "ec2:DeleteVpcEndpoints",
                "ec2:DeleteSecurityGroup",
                "ec2:RevokeSecurityGroupEgress",
                "ec2:DeleteTags",
            ],
            "Resource": "arn:aws:ec2:*:*:*",
            "Condition": MADE_BY_A_CLOUDBURST_STACK,
        },
        {
            # these calls take no resource type at all (IAM service reference)
            "Sid": "ReadOnlyChecks",
            "Action": [
                "ec2:DescribeVpcs",
                "ec2:DescribeVpcAttribute",
                "ec2:DescribeVpcEncryptionControls",
                "ec2:DescribeSubnets",
                "ec2:DescribeRouteTables",
                "ec2:DescribeInternetGateways",
                "ec2:DescribeVpcEndpoints",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeNetworkAcls",
                "ec2:DescribeInstances",
                "ec2:DescribeAvailabilityZones",
                "ec2:DescribeRegions",
                "ecr:GetAuthorizationToken",
                "servicequotas:GetServiceQuota",
                "lambda:GetAccountSettings",
                "logs:DescribeLogGroups",
                "cloudwatch:GetMetricData",
            ],
            "Resource": "*",
        },
        {
            # doctor simulates the caller's own policies, whose ARN (a user, or the role
            # behind an assumed-role session) is not known when this policy is written
            "Sid": "SimulatePolicies",
            "Action": ["iam:SimulatePrincipalPolicy"],
            "Resource": "*",
        },
    ]
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", **statement} for statement in statements],
    }
