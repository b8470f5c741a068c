"""One typed settings object, built from the environment the stage gives the Lambda.

`.chalice/config.json` sets the tunables per stage; the deployed template sets the names of
the stage's resources (bucket, table, cluster, subnets, secret ARN); the local stack sets the
same variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


# The deployment-wide cap on running tasks when the stage sets none (doctor reads it too).
DEFAULT_MAX_RUNNING_TASKS = 50


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    stage: str = "dev"
    region: str = "us-east-1"
    bucket: str
    table_name: str = "cloudburst"
    cluster: str = "cloudburst"
    task_definition: str = "cloudburst-worker"
    container_name: str = "worker"
    subnets: list[str] = Field(default_factory=list)
    security_groups: list[str] = Field(default_factory=list)
    assign_public_ip: bool = False
    architecture: Literal["x86_64", "arm64"] = "x86_64"
    max_running_tasks: int = Field(default=DEFAULT_MAX_RUNNING_TASKS, ge=1)
    # tasks per batch when Spot or a failed start leaves scenes unreported (retries.py)
    max_task_attempts: int = Field(default=3, ge=1)
    # a task running longer is stopped by the sweeper (a hung ffmpeg must not bill forever)
    max_task_hours: float = Field(default=6.0, gt=0)
    webhook_default_url: str | None = None
    webhook_secret: str | None = None  # read from the environment in the local stage only
    webhook_secret_arn: str | None = None  # Secrets Manager (adapters/secret.py)
    allow_loopback_webhooks: bool = False
    webhook_timeout_seconds: float = 5.0
    job_ttl_days: int = 30
    worker_environment: dict[str, str] = Field(default_factory=dict)
    # The EventBridge rules' dead-letter queues (URLs): the sweeper redrives their events.
    dead_letter_queues: list[str] = Field(default_factory=list)


# Environment variable for every setting; the local stack and config.json use these names.
ENV = {
    "stage": "CLOUDBURST_STAGE",
    "bucket": "CLOUDBURST_BUCKET",
    "table_name": "CLOUDBURST_TABLE",
    "cluster": "CLOUDBURST_CLUSTER",
    "task_definition": "CLOUDBURST_TASK_DEFINITION",
    "container_name": "CLOUDBURST_CONTAINER_NAME",
    "subnets": "CLOUDBURST_SUBNETS",
    "security_groups": "CLOUDBURST_SECURITY_GROUPS",
    "assign_public_ip": "CLOUDBURST_ASSIGN_PUBLIC_IP",
    "architecture": "CLOUDBURST_ARCHITECTURE",
    "max_running_tasks": "CLOUDBURST_MAX_RUNNING_TASKS",
    "max_task_attempts": "CLOUDBURST_MAX_TASK_ATTEMPTS",
    "max_task_hours": "CLOUDBURST_MAX_TASK_HOURS",
    "webhook_default_url": "CLOUDBURST_WEBHOOK_URL",
    "webhook_secret": "CLOUDBURST_WEBHOOK_SECRET",
    "webhook_secret_arn": "CLOUDBURST_WEBHOOK_SECRET_ARN",
    "allow_loopback_webhooks": "CLOUDBURST_ALLOW_LOOPBACK_WEBHOOKS",
    "webhook_timeout_seconds": "CLOUDBURST_WEBHOOK_TIMEOUT_SECONDS",
    "job_ttl_days": "CLOUDBURST_JOB_TTL_DAYS",
    "dead_letter_queues": "CLOUDBURST_DEAD_LETTER_QUEUES",
}
# Variables passed through to every worker task (the local stack points them at moto).
WORKER_PASSTHROUGH = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")
_LIST_FIELDS = {"subnets", "security_groups", "dead_letter_queues"}
LOCAL_STAGE = "local"


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for field, name in ENV.items():
        raw = env.get(name)
        if raw is None or raw == "":
            continue
        values[field] = _csv(raw) if field in _LIST_FIELDS else raw
    values["region"] = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    values["worker_environment"] = {k: env[k] for k in WORKER_PASSTHROUGH if env.get(k)}
    return Settings.model_validate(values)


def missing_settings(settings: Settings) -> list[str]:
    """What keeps this configuration from running a job, one reason per setting; [] if none.

    A Lambda checks this at cold start and refuses with one log line, instead of letting
    every job fail later: real RunTask rejects an empty subnet list, and a webhook without a
    signing secret ends FAILED. Outside the local stage the secret must come from Secrets
    Manager, never from a plain environment variable.
    """
    missing: list[str] = []
    local = settings.stage == LOCAL_STAGE
    if not local and not settings.subnets:
        missing.append(f"{ENV['subnets']}: worker tasks need at least one subnet")
    if not local and not settings.security_groups:
        missing.append(f"{ENV['security_groups']}: worker tasks need a security group")
    if not local and not settings.webhook_secret_arn:
        missing.append(
            f"{ENV['webhook_secret_arn']}: webhooks are signed with a Secrets Manager secret"
            f" outside the local stage ({ENV['webhook_secret']} is read only there)"
        )
    if local and not (settings.webhook_secret or settings.webhook_secret_arn):
        missing.append(f"{ENV['webhook_secret']}: webhooks need a signing secret")
    return missing
