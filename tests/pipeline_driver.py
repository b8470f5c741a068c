"""The steps users, ECS and the worker take around the use cases, written once.

tests/lambdas drives the use cases on the in-memory twins, tests/adapters on moto; each
subclass says only how it puts and reads an object and which tasks its cluster started.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.contracts import (
    SceneResult,
    SceneStatus,
    output_key,
    report_key,
    result_key,
    status_key,
)
from chalicelib.events import ObjectCreatedEvent, TaskStateChangeEvent
from chalicelib.model import Batch, Job
from chalicelib.ports import Services
from chalicelib.usecases import reactions

BUCKET = "cloudburst-local"
REGION = "us-east-1"


class PipelineDriver:
    svc: Services
    load_event: Callable[..., dict[str, Any]]
    bucket: str = BUCKET

    # -- what a subclass provides -----------------------------------------------------

    @property
    def webhook_url(self) -> str:
        raise NotImplementedError

    def put(self, key: str, body: bytes | str) -> str:
        """Put an object; its version id ("null" when the bucket keeps none)."""
        raise NotImplementedError

    def _json(self, key: str) -> dict[str, Any]:
        raise NotImplementedError

    def tasks(self) -> list[dict[str, Any]]:
        """Every task the cluster started, shaped as DescribeTasks reports it."""
        raise NotImplementedError

    # -- users' side ------------------------------------------------------------------

    def put_assets(self, names: list[str], folder: str = "inputs/ep1") -> None:
        for name in names:
            self.put(f"{folder}/{name}.png", b"png")
            self.put(f"{folder}/{name}.mp3", b"mp3")

    def upload_manifest(
        self, names: list[str], key: str = "manifests/ep1.json", **options: Any
    ) -> dict[str, Any]:
        """Put a manifest and return the EventBridge event S3 sends for it."""
        document = {
            "version": 1,
            "scenes": [
                {
                    "scene_name": name,
                    "image_path": f"inputs/ep1/{name}.png",
                    "audio_path": f"inputs/ep1/{name}.mp3",
                }
                for name in names
            ],
            "webhook_url": self.webhook_url,
            **options,
        }
        return self.upload_raw(json.dumps(document).encode(), key)

    def upload_raw(self, body: bytes, key: str = "manifests/ep1.json") -> dict[str, Any]:
        return self.created_event(key, body, self.put(key, body))

    def request_cancel(self, job_id: str, reason: str | None = None) -> None:
        body = json.dumps({"reason": reason} if reason else {}).encode()
        event = self.upload_raw(body, key=f"cancel/{job_id}.json")
        reactions.cancel_requested(ObjectCreatedEvent.model_validate(event), self.svc)

    def created_event(self, key: str, body: bytes, version: str = "null") -> dict[str, Any]:
        """S3's "Object Created" event through EventBridge for ``key``."""
        return self.load_event(
            "s3_object_created",
            id=str(uuid.uuid4()),
            time=datetime.now(UTC).isoformat(),
            resources=[f"arn:aws:s3:::{self.bucket}"],
            detail={
                "bucket": {"name": self.bucket},
                "object": {
                    "key": key,
                    "size": len(body),
                    "version-id": version,
                    "sequencer": uuid.uuid4().hex[:18].upper(),
                },
            },
        )

    # -- the pipeline's side ----------------------------------------------------------

    def submit(self, names: list[str], **options: Any) -> str:
        return self.deliver(self.upload_manifest(names, **options))

    def deliver(self, event: dict[str, Any]) -> str:
        return reactions.manifest_uploaded(ObjectCreatedEvent.model_validate(event), self.svc)

    def stopped_event(
        self,
        task: dict[str, Any],
        *,
        version: int = 3,
        exit_code: int | None = 0,
        seconds: float = 95.5,
        stop_code: str = "EssentialContainerExited",
        cpu: str | None = "1024",
        memory: str | None = "2048",
        spot: bool = False,
        reason: str = "Essential container in task exited",
    ) -> TaskStateChangeEvent:
        """The documented STOPPED Fargate event, for a task the cluster started."""
        pulled = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
        stopped = pulled + timedelta(seconds=seconds)
        container: dict[str, Any] = {"name": "worker", "taskArn": task["taskArn"]}
        container["exitCode"] = exit_code
        event = self.load_event(
            "ecs_task_stopped_fargate",
            time=stopped.isoformat(),
            resources=[task["taskArn"]],
            detail={
                "clusterArn": task["clusterArn"],
                "taskArn": task["taskArn"],
                "taskDefinitionArn": task["taskDefinitionArn"],
                "startedBy": task["startedBy"],
                "group": task["group"],
                "version": version,
                "cpu": cpu,
                "memory": memory,
                "capacityProviderName": "FARGATE_SPOT" if spot else "FARGATE",
                "pullStartedAt": pulled.isoformat(),
                "stoppedAt": stopped.isoformat(),
                "stopCode": stop_code,
                "stoppedReason": reason,
            },
        )
        [described] = event["detail"]["containers"]
        event["detail"]["containers"] = [{**described, **container}]
        if exit_code is None:
            event["detail"]["containers"][0].pop("exitCode")
        return TaskStateChangeEvent.model_validate(event)

    def stop(self, task: dict[str, Any], **kwargs: Any) -> None:
        reactions.task_stopped(self.stopped_event(task, **kwargs), self.svc)

    def sweep(self, now: datetime | None = None) -> dict[str, int]:
        return reactions.sweep(self.svc, now)

    def tasks_by_batch(self) -> dict[int, dict[str, Any]]:
        return {int(t["startedBy"].rsplit("/", 1)[1]): t for t in self.tasks()}

    def write_results(
        self, job_id: str, outcomes: dict[str, str | None], batch_number: int = 1
    ) -> None:
        """Result records as the worker writes them: status per scene, None = no record."""
        for name, status in outcomes.items():
            if status is None:
                continue
            ok = status == SceneStatus.SUCCEEDED
            record = SceneResult(
                job_id=job_id,
                batch_number=batch_number,
                attempt=1,
                scene_name=name,
                status=SceneStatus(status),
                output_key=output_key(job_id, name) if ok else None,
                bytes=1000 if ok else 0,
                duration_seconds=3.0 if ok else 0.0,
                render_seconds=2.0,
                error=None if ok else f"audio for scene {name!r} could not be decoded",
            )
            self.put(result_key(job_id, name), record.model_dump_json())

    # -- reading what happened --------------------------------------------------------

    def job(self, job_id: str) -> Job:
        job = self.svc.jobs.get_job(job_id)
        assert job is not None
        return job

    def batches(self, job_id: str) -> list[Batch]:
        return self.svc.jobs.list_batches(job_id)

    def report(self, job_id: str) -> dict[str, Any]:
        return self._json(report_key(job_id))

    def status(self, job_id: str) -> dict[str, Any]:
        return self._json(status_key(job_id))

    def with_settings(self, **settings: Any) -> Services:
        """The services with some settings changed (e.g. a lower task cap)."""
        self.svc = replace(self.svc, settings=self.svc.settings.model_copy(update=settings))
        return self.svc
