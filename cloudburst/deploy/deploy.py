"""``cloudburst deploy`` and ``cloudburst destroy``: one stage, one command each.

Deploy runs in this order, and the order is the point:

1. the bootstrap stack (``cloudburst-S-bootstrap``: image repository, artefact bucket) —
   the worker's task definition names an image, and an image needs a repository before it
   can be pushed, so the repository cannot live in the stack whose task definition needs it;
2. the worker image, built for the architecture and pushed tagged by its content digest;
3. ``make package`` in a fresh process (the template and the Lambda bundle);
4. the bundle uploaded under a key made from its contents, the template pointed at it;
5. the stage's stack created or updated, its events shown as they arrive.

Every name in steps 2-5 comes from content, so running it again with nothing changed asks
CloudFormation for nothing (``Stacks.deploy`` answers "unchanged").
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudburst import stage as stages
from cloudburst.deploy.image import ImagePublisher
from cloudburst.deploy.repository import bootstrap_template
from cloudburst.deploy.stacks import MAX_TEMPLATE_BODY, Parameter, Stacks, deployed_parameters

Packager = Callable[[str, Path, str], Path]  # (stage, out_dir, region) -> template.json


class DeployError(RuntimeError):
    """Deploying or destroying failed; the message says why and what to do."""


@dataclass
class DeployOptions:
    """What ``cloudburst deploy`` was asked for. ``None`` keeps what the stage has (the
    template's default on a first deploy): a flag need not be repeated on every deploy."""

    stage: str
    region: str
    architecture: str = "x86_64"
    subnets: list[str] = field(default_factory=list)
    security_group: str | None = None
    work_dir: Path = Path("dist")
    assign_public_ip: bool | None = None  # with subnets: give tasks public IPs
    alarm_email: str | None = None  # "" removes the subscription
    permissions_boundary: str | None = None  # "" removes it

    def problems(self) -> list[str]:
        """What is wrong with these options before anything is sent to AWS."""
        found: list[str] = []
        if self.subnets and not self.security_group:
            found.append(
                "--subnets needs --security-group: a group in the subnets' VPC that allows "
                "outbound HTTPS (the tasks pull their image and call S3, ECR and Logs)"
            )
        if self.security_group and not self.subnets:
            found.append("--security-group goes with --subnets (without them a VPC is made)")
        if self.assign_public_ip is not None and not self.subnets:
            found.append(
                "--assign-public-ip goes with --subnets (a made VPC always gives public IPs)"
            )
        if self.alarm_email and not _EMAIL.fullmatch(self.alarm_email):
            found.append(f"--alarm-email {self.alarm_email!r} is not an e-mail address")
        if self.permissions_boundary and not _POLICY_ARN.fullmatch(self.permissions_boundary):
            found.append(
                f"--permissions-boundary {self.permissions_boundary!r} is not a managed policy"
                " ARN (arn:aws:iam::123456789012:policy/name)"
            )
        return found


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_POLICY_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}|aws):policy/[\w+=,.@/-]+")


@dataclass
class Deployment:
    """What ``deploy`` made: the stack's outputs and what happened to it."""

    stack: str
    result: str  # created | updated | unchanged
    outputs: dict[str, str]
    image: str


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def deploy(
    options: DeployOptions,
    session: Any,
    images: ImagePublisher,
    packager: Packager,
    say: Callable[[str], None] = print,
    poll_seconds: float = 5.0,
) -> Deployment:
    problems = options.problems()
    if problems:
        raise DeployError("; ".join(problems))
    region = options.region
    stacks = Stacks(session.client("cloudformation", region_name=region), say, poll_seconds)
    s3 = session.client("s3", region_name=region)
    if options.architecture == "arm64":
        say("arm64 workers: jobs that ask for Spot run on demand (Fargate Spot is x86_64 only)")

    say(f"account {session.client('sts', region_name=region).get_caller_identity()['Account']}")
    bootstrap_name = stages.bootstrap_stack_name(options.stage)
    stacks.deploy(bootstrap_name, bootstrap_template(options.stage), [])
    bootstrap = stacks.outputs(bootstrap_name)

    say(f"worker image for {options.architecture}")
    image = images.publish(bootstrap["RepositoryUri"], options.architecture)
    say(f"  {image}")

    out_dir = options.work_dir / options.stage
    template_path = packager(options.stage, out_dir, region)
    template = json.loads(template_path.read_text())
    code = upload_bundle(
        s3, bootstrap["ArtifactBucketName"], options.stage, template_path.parent / "deployment.zip"
    )
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = code

    name = stages.stack_name(options.stage)
    # a stack that was never created is deleted here, so that a create sends a new secret
    deployed = deployed_parameters(stacks.ready(name))
    public_ip = options.assign_public_ip
    parameters = [
        Parameter("WorkerImage", image),
        Parameter("WorkerArchitecture", options.architecture),
        # generated once, at the first deploy; kept (NoEcho, so compared by CloudFormation)
        Parameter("WebhookSigningSecret", None if deployed else new_webhook_secret(), no_echo=True),
        Parameter("SubnetIds", ",".join(options.subnets)),
        Parameter("SecurityGroupId", options.security_group or ""),
        Parameter("AssignPublicIp", None if public_ip is None else str(public_ip).lower()),
        Parameter("AlarmEmail", options.alarm_email),
        Parameter("PermissionsBoundary", options.permissions_boundary),
    ]
    url = upload_large_template(
        s3, bootstrap["ArtifactBucketName"], options.stage, region, template
    )
    result = stacks.deploy(
        name, template, parameters, template_url=url, tags={"cloudburst:stage": options.stage}
    )
    if options.alarm_email:
        say(f"alarms go to {options.alarm_email} once it confirms the mail AWS sends it")
    return Deployment(name, result, stacks.outputs(name), image)


def upload_bundle(s3: Any, bucket: str, stage: str, bundle: Path) -> dict[str, str]:
    """Upload the Lambda bundle under a key made from its contents; the SAM ``CodeUri``."""
    key = f"{stage}/lambda-{bundle_digest(bundle)}.zip"
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError:
        s3.upload_file(str(bundle), bucket, key)
    return {"Bucket": bucket, "Key": key}


def upload_large_template(
    s3: Any, bucket: str, stage: str, region: str, template: dict[str, Any]
) -> str | None:
    """CloudFormation takes bodies up to 51,200 bytes inline; a larger template goes to S3."""
    body = json.dumps(template, separators=(",", ":"), sort_keys=True)
    if len(body) <= MAX_TEMPLATE_BODY:
        return None
    key = f"{stage}/template-{hashlib.sha256(body.encode()).hexdigest()[:24]}.json"
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
    return f"https://{bucket}.s3.{region}.amazonaws.com/{key}"


def bundle_digest(bundle: Path) -> str:
    """A digest of the zip's entries (names and bytes), not of the zip file: Chalice stamps
    entries with build times, so two builds of the same code differ byte for byte."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(bundle) as archive:
        for name in sorted(archive.namelist()):
            digest.update(name.encode() + b"\0")
            digest.update(hashlib.sha256(archive.read(name)).digest())
    return digest.hexdigest()[:24]


def summary(deployment: Deployment, region: str) -> str:
    """What a user needs next: the bucket, the line that starts a job, the secret to verify."""
    outputs = deployment.outputs
    bucket = outputs.get(stages.OUTPUT_BUCKET, "?")
    secret = outputs.get(stages.OUTPUT_SECRET)
    lines = [
        f"{deployment.stack} {deployment.result}.",
        f"  bucket:  s3://{bucket}",
        "  start a job:",
        f"    aws s3 cp my-manifest.json s3://{bucket}/manifests/my-job.json --region {region}",
        f"  results: s3://{bucket}/outputs/<job_id>/ (MP4s + job.json)",
    ]
    if secret:
        lines += [
            f"  webhook signing secret: {secret}",
            f"    aws secretsmanager get-secret-value --secret-id {secret}"
            f" --query SecretString --output text --region {region}",
        ]
    else:
        lines.append(f"  webhook signing secret: the stack reports no {stages.OUTPUT_SECRET}")
    return "\n".join(lines)


def destroy(
    stage: str,
    region: str,
    session: Any,
    *,
    delete_data: bool,
    say: Callable[[str], None] = print,
    poll_seconds: float = 5.0,
) -> None:
    """Delete the stage's stacks; the job bucket (and its objects) stays unless ``delete_data``.

    The bucket has ``DeletionPolicy: Retain``, so CloudFormation leaves it; with
    ``delete_data`` every version in it is deleted and the bucket with them.
    """
    stacks = Stacks(session.client("cloudformation", region_name=region), say, poll_seconds)
    s3 = session.client("s3", region_name=region)
    name = stages.stack_name(stage)
    bucket = stacks.outputs(name).get(stages.OUTPUT_BUCKET)
    if not stacks.delete(name):
        say(f"{name}: no such stack")
    bootstrap = stages.bootstrap_stack_name(stage)
    made = stacks.outputs(bootstrap)
    # deploy artefacts and worker images only; CloudFormation deletes neither a full bucket
    # nor (where EmptyOnDelete is not honoured) a repository with images
    if made.get("ArtifactBucketName"):
        empty_bucket(s3, made["ArtifactBucketName"])
    if made.get("RepositoryName"):
        delete_images(session.client("ecr", region_name=region), made["RepositoryName"])
    stacks.delete(bootstrap)
    if bucket and delete_data:
        empty_bucket(s3, bucket)
        s3.delete_bucket(Bucket=bucket)
        say(f"deleted s3://{bucket} and every object in it")
    elif bucket:
        say(
            f"kept s3://{bucket} and its objects (`cloudburst destroy --stage {stage}"
            " --delete-data` removes them); a new deploy of this stage makes a new bucket"
        )


def empty_bucket(s3: Any, bucket: str) -> int:
    """Delete every object version and delete marker; returns how many."""
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        batch = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        for start in range(0, len(batch), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": batch[start : start + 1000]})
        deleted += len(batch)
    return deleted


def delete_images(ecr: Any, repository: str) -> int:
    deleted = 0
    for page in ecr.get_paginator("list_images").paginate(repositoryName=repository):
        if page["imageIds"]:
            ecr.batch_delete_image(repositoryName=repository, imageIds=page["imageIds"])
            deleted += len(page["imageIds"])
    return deleted
