"""The adapters against moto in-process: S3, ECS, SQS, DynamoDB, and a real webhook receiver.

``aws_dynamo`` runs the use cases on every real adapter (what a Lambda container builds);
``either`` runs a contract test on the DynamoDB storage and on its in-memory twin. The use-case
tests themselves (tests/lambdas) run on the in-memory twins alone, with none of this.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.moto_api import state_manager

from chalicelib.bootstrap import in_memory_services, services_from_env
from chalicelib.ports import Services
from cloudburst.local.bootstrap import bootstrap
from cloudburst.local.receiver import WebhookReceiver, generate_secret
from tests.pipeline_driver import BUCKET, REGION, PipelineDriver


@dataclass
class Aws(PipelineDriver):
    """moto's S3 and ECS, the webhook receiver, and the services the use cases run on."""

    s3: Any
    ecs: Any
    sqs: Any
    cluster_arn: str
    receiver: WebhookReceiver
    svc: Services
    load_event: Callable[..., dict[str, Any]]
    bucket: str = BUCKET

    @property
    def webhook_url(self) -> str:
        return self.receiver.url

    def put(self, key: str, body: bytes | str) -> str:
        response = self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        return str(response.get("VersionId") or "null")

    def tasks(self) -> list[dict[str, Any]]:
        arns = [
            arn
            for page in self.ecs.get_paginator("list_tasks").paginate(cluster="cloudburst")
            for arn in page["taskArns"]
        ]
        if not arns:
            return []
        return self.ecs.describe_tasks(cluster="cloudburst", tasks=arns, include=["TAGS"])["tasks"]

    def _json(self, key: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(
            self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        )
        return document


def _environment(resources: Any, secret: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "CLOUDBURST_STAGE": "local",
        "CLOUDBURST_BUCKET": BUCKET,
        "CLOUDBURST_TABLE": "cloudburst",
        "CLOUDBURST_CLUSTER": "cloudburst",
        "CLOUDBURST_TASK_DEFINITION": resources.task_definition_arn,
        "CLOUDBURST_SUBNETS": resources.subnet_id,
        "CLOUDBURST_SECURITY_GROUPS": resources.security_group_id,
        "CLOUDBURST_WEBHOOK_SECRET": secret,
        "CLOUDBURST_ALLOW_LOOPBACK_WEBHOOKS": "true",
        "CLOUDBURST_MAX_RUNNING_TASKS": "10",
    }


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    """moto in-process with the local stack's resources, and a webhook receiver."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    secret = generate_secret()
    with mock_aws(), WebhookReceiver(secret, tmp_path / "webhooks") as receiver:
        state_manager.set_transition(
            model_name="ecs::task", transition={"progression": "manual", "times": 1_000_000_000}
        )
        resources = bootstrap(
            lambda name: boto3.client(name, region_name=REGION),
            region=REGION,
            bucket=BUCKET,
            table="cloudburst",
            cluster="cloudburst",
        )
        # Versioned as every stage's bucket is: an upload's version id names its job.
        boto3.client("s3", region_name=REGION).put_bucket_versioning(
            Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"}
        )
        for name, value in _environment(resources, secret).items():
            monkeypatch.setenv(name, value)
        yield resources, receiver


def _aws(resources: Any, receiver: WebhookReceiver, svc: Services, load_event: Any) -> Aws:
    return Aws(
        s3=boto3.client("s3", region_name=REGION),
        ecs=boto3.client("ecs", region_name=REGION),
        sqs=boto3.client("sqs", region_name=REGION),
        cluster_arn=resources.cluster_arn,
        receiver=receiver,
        svc=svc,
        load_event=load_event,
    )


@pytest.fixture
def aws_memory_storage(moto_aws: tuple[Any, WebhookReceiver], load_event: Any) -> Aws:
    """Storage on its in-memory twins; S3, ECS, SQS and webhooks on their real adapters."""
    resources, receiver = moto_aws
    real = services_from_env()
    twin = in_memory_services(real.settings)
    svc = replace(
        real, jobs=twin.jobs, slots=twin.slots, outbox=twin.outbox, idempotency=twin.idempotency
    )
    return _aws(resources, receiver, svc, load_event)


@pytest.fixture
def aws_dynamo(moto_aws: tuple[Any, WebhookReceiver], load_event: Any) -> Aws:
    """Use cases on the DynamoDB adapters: what a Lambda container builds."""
    resources, receiver = moto_aws
    return _aws(resources, receiver, services_from_env(), load_event)


@pytest.fixture(params=["memory", "dynamodb"])
def either(request: pytest.FixtureRequest) -> Aws:
    """The same test on both storages: the store's contract."""
    fixture = "aws_memory_storage" if request.param == "memory" else "aws_dynamo"
    return request.getfixturevalue(fixture)  # type: ignore[no-any-return]


@pytest.fixture
def with_settings() -> Callable[..., Services]:
    def change(aws: Aws, **settings: Any) -> Services:
        return aws.with_settings(**settings)

    return change
