"""The EventBridge events the app reacts to: their patterns and typed models.

Patterns are what the rules match in AWS (and, installed as-is, in the local stack).
Models take the documented shapes: S3 "Object Created" through EventBridge and ECS
"Task State Change" (timestamps ISO strings, ``detail.version`` an increasing integer,
cpu/memory strings in task units). Fields we don't use are allowed and ignored.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.contracts import (
    CANCEL_PREFIX,
    JOBS_PREFIX,
    MANIFEST_SUFFIX,
    MANIFESTS_PREFIX,
    result_key,
    result_key_scene,
)

STARTED_BY_PREFIX = "cloudburst/"


def manifest_uploaded_pattern(bucket: str) -> dict[str, Any]:
    return _json_created_under(bucket, MANIFESTS_PREFIX)


def cancel_requested_pattern(bucket: str) -> dict[str, Any]:
    """A user's cancel request: an object put under ``cancel/`` (see contracts.cancel_key)."""
    return _json_created_under(bucket, CANCEL_PREFIX)


def scene_reported_pattern(bucket: str) -> dict[str, Any]:
    """A scene's result record, written by the worker the moment the scene is done
    (``jobs/<job>/results/<scene>.json``): live progress without polling."""
    return _created(bucket, result_key("*", "*"))


def _json_created_under(bucket: str, prefix: str) -> dict[str, Any]:
    return _created(bucket, f"{prefix}*{MANIFEST_SUFFIX}")


def _created(bucket: str, key_wildcard: str) -> dict[str, Any]:
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [bucket]},
            # One wildcard, because a prefix and a suffix in one list would be an OR.
            "object": {"key": [{"wildcard": key_wildcard}]},
        },
    }


def task_stopped_pattern(cluster: str) -> dict[str, Any]:
    """Stopped tasks of our cluster, given by ARN or by name (any account and region)."""
    arn: Any = (
        cluster
        if cluster.startswith("arn:")
        else {"wildcard": f"arn:aws:ecs:*:*:cluster/{cluster}"}
    )
    return {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
        "detail": {"clusterArn": [arn], "lastStatus": ["STOPPED"]},
    }


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class EventBridgeEnvelope(_Lenient):
    """The EventBridge envelope (as powertools' EventBridgeModel, without its import cost)."""

    id: str
    source: str
    detail_type: str = Field(alias="detail-type")
    account: str
    region: str
    time: datetime
    resources: list[str] = Field(default_factory=list)


class S3Object(_Lenient):
    key: str
    size: int | None = None
    etag: str | None = Field(default=None, alias="etag")
    version_id: str | None = Field(default=None, alias="version-id")
    sequencer: str | None = None


class S3Bucket(_Lenient):
    name: str


class ObjectCreatedDetail(_Lenient):
    bucket: S3Bucket
    object: S3Object
    reason: str | None = None


class ObjectCreatedEvent(EventBridgeEnvelope):
    detail: ObjectCreatedDetail

    @property
    def bucket(self) -> str:
        return self.detail.bucket.name

    @property
    def key(self) -> str:
        return self.detail.object.key

    def upload_identity(self) -> str:
        """What makes this upload unique: the version id, else the S3 sequencer.

        Unversioned buckets report version-id "null"; the sequencer then tells two
        uploads of one key apart, while redeliveries of one upload share it.
        """
        obj = self.detail.object
        if obj.version_id and obj.version_id != "null":
            return f"v:{obj.version_id}"
        if obj.sequencer:
            return f"s:{obj.sequencer}"
        return f"e:{self.id}"

    def job_id(self) -> str:
        return job_id_for_upload(self.bucket, self.key, self.upload_identity())

    def cancelled_job_id(self) -> str | None:
        """The job a ``cancel/<job_id>.json`` upload names, or None for any other key."""
        if not self.key.startswith(CANCEL_PREFIX) or not self.key.endswith(MANIFEST_SUFFIX):
            return None
        job_id = self.key[len(CANCEL_PREFIX) : -len(MANIFEST_SUFFIX)]
        return job_id if re.fullmatch(r"[A-Za-z0-9-]{1,64}", job_id) else None

    def reported_scene(self) -> tuple[str, str] | None:
        """(job id, scene name) of a result record's upload, None for any other key."""
        return result_key_scene(self.key) if self.key.startswith(JOBS_PREFIX) else None


def job_id_for_upload(bucket: str, key: str, identity: str) -> str:
    """A readable, deterministic job id: manifest stem (its case kept) + hash of the upload's
    identity.

    A client that put a manifest into the versioned bucket knows the job id at once:
    ``job_id_for_upload(bucket, key, f"v:{response['VersionId']}")``; a user of the aws CLI
    reads it from the upload's pointer (``contracts.upload_pointer_key``).
    """
    stem = key.rsplit("/", 1)[-1].removesuffix(MANIFEST_SUFFIX)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", stem).strip("-")[:40] or "job"
    digest = hashlib.sha256(f"{bucket}\0{key}\0{identity}".encode()).hexdigest()
    return f"{slug}-{digest[:12]}"


class EcsContainer(_Lenient):
    name: str | None = None
    exit_code: int | None = Field(default=None, alias="exitCode")
    last_status: str | None = Field(default=None, alias="lastStatus")
    reason: str | None = None


class EcsAttribute(_Lenient):
    name: str
    value: str | None = None


class TaskStateDetail(_Lenient):
    task_arn: str = Field(alias="taskArn")
    cluster_arn: str = Field(alias="clusterArn")
    last_status: str = Field(alias="lastStatus")
    desired_status: str | None = Field(default=None, alias="desiredStatus")
    version: int = 0
    cpu: str | None = None
    memory: str | None = None
    started_by: str | None = Field(default=None, alias="startedBy")
    group: str | None = None
    launch_type: str | None = Field(default=None, alias="launchType")
    capacity_provider_name: str | None = Field(default=None, alias="capacityProviderName")
    stop_code: str | None = Field(default=None, alias="stopCode")
    stopped_reason: str | None = Field(default=None, alias="stoppedReason")
    created_at: datetime | None = Field(default=None, alias="createdAt")
    pull_started_at: datetime | None = Field(default=None, alias="pullStartedAt")
    started_at: datetime | None = Field(default=None, alias="startedAt")
    stopping_at: datetime | None = Field(default=None, alias="stoppingAt")
    stopped_at: datetime | None = Field(default=None, alias="stoppedAt")
    containers: list[EcsContainer] = Field(default_factory=list)
    attributes: list[EcsAttribute] = Field(default_factory=list)


class TaskStateChangeEvent(EventBridgeEnvelope):
    detail: TaskStateDetail

    @property
    def is_spot(self) -> bool:
        return self.detail.capacity_provider_name == "FARGATE_SPOT"

    @property
    def architecture(self) -> str | None:
        for attribute in self.detail.attributes:
            if attribute.name == "ecs.cpu-architecture":
                return attribute.value
        return None

    def exit_code(self, container_name: str) -> int | None:
        for container in self.detail.containers:
            if container.name == container_name:
                return container.exit_code
        return None

    def batch_ref(self) -> tuple[str, int] | None:
        """(job id, batch number) from ``startedBy``, or None for tasks that aren't ours."""
        return parse_started_by(self.detail.started_by)


def event_from_described_task(
    task: dict[str, Any], *, region: str, account: str, at: datetime
) -> TaskStateChangeEvent:
    """The "ECS Task State Change" event for a task as DescribeTasks reports it.

    The event's ``detail`` is ECS's Task object itself, so the sweeper can hand a task whose
    STOPPED event never arrived to the same code path as the event.
    """
    return TaskStateChangeEvent.model_validate(
        {
            "version": "0",
            "id": f"sweeper-{task.get('taskArn')}-{task.get('version', 0)}",
            "detail-type": "ECS Task State Change",
            "source": "aws.ecs",
            "account": account,
            "time": at.isoformat(),
            "region": region,
            "resources": [task.get("taskArn")],
            "detail": task,
        }
    )


def started_by(job_id: str, batch_number: int) -> str:
    """RunTask ``startedBy`` (≤ 128 of [A-Za-z0-9_/-]) naming the job and batch."""
    return f"{STARTED_BY_PREFIX}{job_id}/{batch_number:04d}"


def parse_started_by(value: str | None) -> tuple[str, int] | None:
    if not value or not value.startswith(STARTED_BY_PREFIX):
        return None
    job_id, _, batch = value[len(STARTED_BY_PREFIX) :].rpartition("/")
    if not job_id or not batch.isdigit():
        return None
    return job_id, int(batch)
