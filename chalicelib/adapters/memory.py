"""In-memory twins of the outside services in :mod:`chalicelib.ports`: S3 documents, ECS tasks,
SQS dead letters, webhook delivery, the secret and the clock.

They keep the rules the use cases rely on (a missing object is absent, an empty asset is
refused, a client token starts one task, a stopped task is described with its stop), so the
use-case tests run on them in milliseconds; the adapter contract tests hold the real adapters
to the same behaviour against moto.
"""

from __future__ import annotations

import json
import posixpath
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from chalicelib.contracts import SceneResult, result_key, split_s3_uri
from chalicelib.events import event_from_described_task, parse_started_by, started_by
from chalicelib.ports import (
    AssetCheck,
    Launch,
    Message,
    TaskRequest,
    TaskState,
    UnreadableManifest,
)
from chalicelib.webhooks import Delivery, message_id

ACCOUNT = "123456789012"


class MemoryDocuments:
    """A versioned bucket (or several) in a dict."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        self._objects: dict[tuple[str, str], bytes] = {}
        self._versions: dict[tuple[str, str, str], bytes] = {}
        self._latest: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    # -- what users and the worker do --------------------------------------------------

    def put(self, key: str, body: bytes | str, bucket: str | None = None) -> str:
        """Store an object; returns its version id."""
        data = body.encode() if isinstance(body, str) else body
        version = uuid.uuid4().hex
        where = bucket or self.bucket
        with self._lock:
            self._objects[(where, key)] = data
            self._versions[(where, key, version)] = data
            self._latest[(where, key)] = version
        return version

    def read(self, key: str, bucket: str | None = None) -> bytes | None:
        return self._objects.get((bucket or self.bucket, key))

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(k for (b, k) in self._objects if b == self.bucket and k.startswith(prefix))

    # -- the port ----------------------------------------------------------------------

    def read_manifest(self, bucket: str, key: str, limit: int, version_id: str | None) -> bytes:
        if version_id and version_id != "null":
            body = self._versions.get((bucket, key, version_id))
        else:
            body = self._objects.get((bucket, key))
        if body is None:
            raise UnreadableManifest(f"manifest s3://{bucket}/{key} could not be read (NoSuchKey)")
        if len(body) > limit:
            raise UnreadableManifest(f"manifest is {len(body)} bytes; the limit is {limit}")
        return body

    def locate_assets(self, assets: Sequence[tuple[str, str, str]]) -> AssetCheck:
        errors = []
        versions = {}
        for where, bucket, key in assets:
            body = self._objects.get((bucket, key))
            if body is None:
                errors.append(f"{where}: s3://{bucket}/{key} does not exist")
            elif not body:
                errors.append(f"{where}: s3://{bucket}/{key} is empty")
            else:
                versions[f"s3://{bucket}/{key}"] = self._latest[(bucket, key)]
        return AssetCheck(sorted(set(errors)), versions)

    def read_version(self, uri: str, version_id: str) -> bytes | None:
        """That version of ``s3://bucket/key``, as a pinned read gets it."""
        return self._versions.get((*split_s3_uri(uri), version_id))

    def read_head(self, key: str, size: int) -> bytes | None:
        body = self.read(key)
        return None if body is None else body[:size]

    def get_json(self, key: str) -> Any:
        body = self.read(key)
        if body is None:
            raise KeyError(f"no object s3://{self.bucket}/{key}")
        return json.loads(body)

    def put_json(self, key: str, document: Any, *, indent: int | None = 2) -> None:
        self.put(key, json.dumps(document, ensure_ascii=False, indent=indent).encode())

    def put_all_json(self, documents: Sequence[tuple[str, Any]]) -> None:
        for key, document in documents:
            self.put_json(key, document)

    def link(self, key: str, seconds: int) -> str:
        # the shape of a presigned URL; nothing is served there
        return f"https://{self.bucket}.s3.amazonaws.com/{posixpath.normpath(key)}?X-Amz-Expires={seconds}"

    def read_results(
        self, job_id: str, scene_names: Iterable[str]
    ) -> dict[str, SceneResult | None]:
        results: dict[str, SceneResult | None] = {}
        for name in scene_names:
            body = self.read(result_key(job_id, name))
            try:
                results[name] = None if body is None else SceneResult.model_validate_json(body)
            except ValidationError:
                results[name] = None
        return results


@dataclass
class MemoryTask:
    """One task as the twin keeps it; ``described()`` is its DescribeTasks shape."""

    task_arn: str
    started_by: str
    request: TaskRequest | None
    last_status: str = "RUNNING"
    stop_reason: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def described(self, cluster_arn: str) -> dict[str, Any]:
        task: dict[str, Any] = {
            "taskArn": self.task_arn,
            "clusterArn": cluster_arn,
            "lastStatus": self.last_status,
            "desiredStatus": self.last_status,
            "startedBy": self.started_by,
            "version": 2 if self.last_status == "STOPPED" else 1,
            "containers": [{"name": "worker"}],
        }
        if self.request is not None:
            spot = self.request.spot
            task["capacityProviderName"] = "FARGATE_SPOT" if spot else "FARGATE"
        if self.last_status == "STOPPED":
            task["stopCode"] = "UserInitiated" if self.stop_reason else "EssentialContainerExited"
            task["stoppedReason"] = self.stop_reason or "Essential container in task exited"
            task["stoppedAt"] = (self.created_at + timedelta(seconds=90)).isoformat()
            task["containers"] = [{"name": "worker", "exitCode": 0}]
        return task


class MemoryTasks:
    """A cluster: RunTask starts a task (once per client token), StopTask stops it."""

    def __init__(self, cluster: str = "cloudburst", region: str = "us-east-1") -> None:
        self.cluster_arn = f"arn:aws:ecs:{region}:{ACCOUNT}:cluster/{cluster}"
        self._region = region
        self._cluster = cluster
        self.tasks: dict[str, MemoryTask] = {}
        self.refusals: list[Launch] = []  # answered, in order, before any task is started
        self.refusal: Launch | None = None  # answered to every launch while set
        self.honour_tokens = True  # False: a retried RunTask starts a second task
        self._tokens: dict[tuple[str, int, int], str] = {}
        self._lock = threading.Lock()

    def launch(self, request: TaskRequest) -> Launch:
        with self._lock:
            if self.refusals:
                return self.refusals.pop(0)
            if self.refusal is not None:
                return self.refusal
            token = (request.job_id, request.batch_number, request.attempt)
            if (
                token in self._tokens and self.honour_tokens
            ):  # a retried RunTask with the same client token
                return Launch(self._tokens[token])
            task = self._start(started_by(request.job_id, request.batch_number), request)
            self._tokens[token] = task.task_arn
            return Launch(task.task_arn)

    def start_unrecorded(self, started_by_value: str) -> str:
        """A task nobody recorded (a crashed launch, or another service's task)."""
        with self._lock:
            return self._start(started_by_value, None).task_arn

    def stop(self, task_arn: str, reason: str) -> None:
        task = self.tasks.get(task_arn)
        if task is not None and task.last_status != "STOPPED":
            task.last_status, task.stop_reason = "STOPPED", f"CloudBurst: {reason}"

    def exit(self, task_arn: str) -> None:
        """The task's container exited by itself."""
        if task_arn in self.tasks:
            self.tasks[task_arn].last_status = "STOPPED"

    def forget(self, task_arn: str) -> None:
        """ECS no longer describes the task (it forgets stopped ones after about an hour)."""
        self.tasks.pop(task_arn, None)

    def describe(self, task_arns: Sequence[str], at: datetime) -> dict[str, TaskState]:
        found: dict[str, TaskState] = {}
        for arn in task_arns:
            task = self.tasks.get(arn)
            if task is None:
                continue
            stopped = None
            if task.last_status == "STOPPED":
                stopped = event_from_described_task(
                    task.described(self.cluster_arn), region=self._region, account=ACCOUNT, at=at
                )
            found[arn] = TaskState(arn, stopped=stopped)
        return found

    def ours_running(self) -> dict[str, str]:
        return {
            arn: task.started_by
            for arn, task in self.tasks.items()
            if task.last_status != "STOPPED" and parse_started_by(task.started_by) is not None
        }

    def running(self) -> list[MemoryTask]:
        return [task for task in self.tasks.values() if task.last_status != "STOPPED"]

    def _start(self, started_by_value: str, request: TaskRequest | None) -> MemoryTask:
        arn = f"arn:aws:ecs:{self._region}:{ACCOUNT}:task/{self._cluster}/{uuid.uuid4().hex}"
        task = MemoryTask(arn, started_by_value, request)
        self.tasks[arn] = task
        return task


class MemoryDeadLetters:
    def __init__(self) -> None:
        self.queues: dict[str, list[Message]] = {}
        self._hidden: set[str] = set()

    def send(self, queue_url: str, body: str) -> None:
        self.queues.setdefault(queue_url, []).append(Message(queue_url, uuid.uuid4().hex, body))

    def receive(self, queue_url: str, limit: int) -> list[Message]:
        # Received messages stay hidden until deleted or the next sweep: hand each out once.
        waiting = self.queues.get(queue_url, [])
        taken = [m for m in waiting if m.receipt not in self._hidden][:limit]
        self._hidden.update(m.receipt for m in taken)
        return taken

    def delete(self, message: Message) -> None:
        self.queues[message.queue_url] = [
            m for m in self.queues.get(message.queue_url, []) if m.receipt != message.receipt
        ]

    def reappear(self) -> None:
        """The visibility timeout passed: messages not deleted can be received again."""
        self._hidden.clear()


@dataclass(frozen=True)
class SentWebhook:
    url: str
    webhook_id: str
    type: str
    data: dict[str, Any]
    secret: str

    @property
    def body(self) -> dict[str, Any]:
        return {"type": self.type, "data": self.data}

    @property
    def raw(self) -> bytes:
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":")).encode()


class MemoryWebhooks:
    """Records what would be sent; ``answer`` is what the receiver says (2xx by default)."""

    def __init__(self) -> None:
        self.sent: list[SentWebhook] = []
        self.delivered: list[SentWebhook] = []
        self.answer = Delivery(True, status=204)

    def send(
        self, url: str, secret: str, *, job_id: str, event_type: str, data: dict[str, Any]
    ) -> Delivery:
        sent = SentWebhook(url, message_id(job_id, event_type), event_type, data, secret)
        self.sent.append(sent)
        if self.answer.ok:
            self.delivered.append(sent)
        return self.answer


class StaticSecrets:
    def __init__(self, secret: str | None) -> None:
        self._secret = secret

    def webhook_secret(self) -> str | None:
        return self._secret


class ManualClock:
    """Time that moves only when told (``advance``), and by ``step`` at each reading, so
    things done one after another get distinct, ordered times."""

    def __init__(self, start: datetime | None = None, step: timedelta = timedelta(0)) -> None:
        self._now = start or datetime.now(UTC)
        self._step = step
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            self._now += self._step
            return self._now

    def advance(self, by: timedelta) -> None:
        self._now += by
