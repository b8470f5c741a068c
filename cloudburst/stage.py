"""Which deployment a command talks to: the one place ``--stage`` is resolved.

Without a stage, the environment names it (what ``cloudburst local up`` prints:
``AWS_ENDPOINT_URL``, ``CLOUDBURST_BUCKET`` …). With ``--stage S``, the CloudFormation stack
``cloudburst-S`` says it through its outputs, so users never copy bucket or cluster names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.settings import ENV

STACK_PREFIX = "cloudburst-"
# Stack outputs the tools read (infra/ declares them; a test keeps the two in step).
OUTPUT_BUCKET = "BucketName"
OUTPUT_CLUSTER = "ClusterName"
OUTPUT_TABLE = "TableName"
OUTPUT_SECRET = "WebhookSecretArn"  # noqa: S105 (an output name)
OUTPUT_TASK_DEFINITION = "TaskDefinitionArn"
# The outputs every deployed stack must declare (tests/infra keeps the template in step).
REQUIRED_OUTPUTS = (OUTPUT_BUCKET, OUTPUT_CLUSTER, OUTPUT_TABLE, OUTPUT_SECRET)
STAGE_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")


class StageError(Exception):
    """The deployment cannot be found; the message says what to do."""


@dataclass(frozen=True)
class Deployment:
    """Where a stage's jobs live; ``cluster``/``table`` are None when nothing names them."""

    stage: str | None
    region: str
    bucket: str
    cluster: str | None = None
    table: str | None = None
    secret_arn: str | None = None
    endpoint_url: str | None = None


def stack_name(stage: str) -> str:
    return f"{STACK_PREFIX}{stage}"


def bootstrap_stack_name(stage: str) -> str:
    """The small stack deployed first: the image repository and the artefact bucket."""
    return f"{STACK_PREFIX}{stage}-bootstrap"


def resource_prefix(stage: str) -> str:
    """What every name in a stage's stacks starts with, so stages share an account safely.

    Stage names are short lowercase words: they end up in bucket names (63 characters,
    lowercase) beside the account id and region.
    """
    if not STAGE_NAME.match(stage):
        raise StageError(f"stage {stage!r}: use 1-12 lowercase letters or digits, e.g. dev")
    return f"{STACK_PREFIX}{stage}"


def resolve(
    stage: str | None,
    region: str | None = None,
    environ: Mapping[str, str] | None = None,
    cloudformation: Any | None = None,
) -> Deployment:
    """The deployment of ``stage`` (from its stack's outputs), or the environment's."""
    env = os.environ if environ is None else environ
    region = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    endpoint = env.get("AWS_ENDPOINT_URL") or None
    if stage is None:
        bucket = env.get(ENV["bucket"])
        if not bucket:
            raise StageError(
                "no deployment named: pass --stage S, or export CLOUDBURST_BUCKET "
                "(and AWS_ENDPOINT_URL for the local stack: `cloudburst local up` prints them)"
            )
        return Deployment(
            stage=env.get(ENV["stage"]) or None,
            region=region,
            bucket=bucket,
            cluster=env.get(ENV["cluster"]) or None,
            table=env.get(ENV["table_name"]) or None,
            endpoint_url=endpoint,
        )
    outputs = _stack_outputs(stage, region, cloudformation)
    if OUTPUT_BUCKET not in outputs:
        raise StageError(f"stack {stack_name(stage)} has no {OUTPUT_BUCKET} output")
    return Deployment(
        stage=stage,
        region=region,
        bucket=outputs[OUTPUT_BUCKET],
        cluster=outputs.get(OUTPUT_CLUSTER),
        table=outputs.get(OUTPUT_TABLE),
        secret_arn=outputs.get(OUTPUT_SECRET),
        endpoint_url=endpoint,
    )


def _stack_outputs(stage: str, region: str, cloudformation: Any | None) -> dict[str, str]:
    from botocore.exceptions import ClientError

    if cloudformation is None:
        import boto3

        cloudformation = boto3.client("cloudformation", region_name=region)
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name(stage))["Stacks"]
    except ClientError as exc:
        raise StageError(
            f"stage {stage!r}: stack {stack_name(stage)} not found in {region} "
            f"({exc.response['Error']['Code']}); deploy it with `cloudburst deploy --stage {stage}`"
        ) from None
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
