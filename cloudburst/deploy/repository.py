"""The small stack deployed before the stage's own: the worker's image repository and a
bucket for deploy artefacts.

The task definition names an image, and an image can only be pushed to a repository that
already exists — so the repository cannot come from the stack whose task definition needs
the image. ``cloudburst deploy`` creates this stack, pushes, then deploys the stage's stack.
"""

from __future__ import annotations

import json
from typing import Any

from cloudburst.deploy import policies
from cloudburst.deploy.template import public_access_blocked, sse_s3

KEEP_IMAGES = 5


def bootstrap_template(stage: str) -> dict[str, Any]:
    """The image repository and the artefact bucket, which must exist before the main stack."""
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"CloudBurst stage {stage}: worker image repository and deploy artefacts",
        "Resources": {
            "WorkerRepository": {
                "Type": "AWS::ECR::Repository",
                # images are rebuilt from the checkout by every deploy
                "DeletionPolicy": "Delete",
                "UpdateReplacePolicy": "Delete",
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
                # `destroy` empties it first; CloudFormation names it, so nobody can take
                # the name before the first deploy
                "DeletionPolicy": "Delete",
                "UpdateReplacePolicy": "Delete",
                "Properties": {
                    "PublicAccessBlockConfiguration": public_access_blocked(),
                    "BucketEncryption": sse_s3(),
                },
            },
        },
        "Outputs": {
            "RepositoryUri": {"Value": {"Fn::GetAtt": ["WorkerRepository", "RepositoryUri"]}},
            "RepositoryName": {"Value": {"Ref": "WorkerRepository"}},
            "ArtifactBucketName": {"Value": {"Ref": "ArtifactBucket"}},
        },
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
