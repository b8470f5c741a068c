"""A job's state as the pipeline publishes it in S3, read by every command that follows a job.

The status document (``outputs/<job>/status.json``) is rewritten at every state change. A
job that ended before the pipeline wrote status documents only has its report
(``job.json``); :func:`read_status` then builds the same view from the report, so older
jobs still show up in ``status``, ``jobs`` and ``watch``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalicelib.contracts import is_s3_not_found
from chalicelib.model import JobStatus, SceneCounts
from cloudburst.client import keys

FINAL_STATES = frozenset(status.value for status in JobStatus if status.is_final)


@dataclass(frozen=True)
class JobView:
    """The fields of the status document the client shows; ``document`` keeps all of it."""

    job_id: str
    status: str
    created_at: str | None = None
    updated_at: str | None = None
    finished_at: str | None = None
    total_scenes: int = 0
    scenes_succeeded: int = 0
    scenes_failed: int = 0
    batches_total: int = 0
    batches_final: int = 0
    tasks_running: int = 0
    batches_waiting: int = 0
    tasks_used: int = 0
    cost_usd: float = 0.0
    cost_estimated: bool = False
    cancel_requested: bool = False
    errors: tuple[str, ...] = ()
    errors_total: int = 0
    webhook_state: str | None = None
    document: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATES

    @property
    def succeeded(self) -> bool:
        return self.status == JobStatus.SUCCEEDED

    @property
    def counts(self) -> SceneCounts:
        """The scenes as the pipeline counted them (``model.scene_counts``), for every line."""
        return SceneCounts(self.total_scenes, self.scenes_succeeded, self.scenes_failed)

    @property
    def scenes_done(self) -> int:
        return self.counts.done

    def elapsed_seconds(self, now: datetime | None = None) -> float:
        """Seconds from acceptance to the end (or to ``now`` while the job runs)."""
        start = parse_time(self.created_at)
        if start is None:
            return 0.0
        end = parse_time(self.finished_at) if self.is_final else None
        end = end or now or datetime.now(UTC)
        return max(0.0, (end - start).total_seconds())

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> JobView:
        """The status document as the pipeline writes it."""
        webhook = document.get("webhook") or {}
        return cls(
            job_id=str(document["job_id"]),
            status=str(document["status"]),
            created_at=document.get("created_at"),
            updated_at=document.get("updated_at"),
            finished_at=document.get("finished_at"),
            total_scenes=int(document.get("total_scenes") or 0),
            scenes_succeeded=int(document.get("scenes_succeeded") or 0),
            scenes_failed=int(document.get("scenes_failed") or 0),
            batches_total=int(document.get("batches_total") or 0),
            batches_final=int(document.get("batches_final") or 0),
            tasks_running=int(document.get("tasks_running") or 0),
            batches_waiting=int(document.get("batches_waiting") or 0),
            tasks_used=int(document.get("tasks_used") or 0),
            cost_usd=float(document.get("cost_usd") or 0.0),
            cost_estimated=bool(document.get("cost_estimated")),
            cancel_requested=bool(document.get("cancel_requested")),
            errors=tuple(str(e) for e in document.get("errors") or ()),
            errors_total=int(document.get("errors_total") or 0),
            webhook_state=webhook.get("state") if isinstance(webhook, dict) else None,
            document=document,
        )

    @classmethod
    def from_report(cls, report: dict[str, Any]) -> JobView:
        """A final job known only by its ``job.json`` (written before status documents)."""
        batches = report.get("task_results") or []
        errors = [str(e) for e in report.get("errors") or ()]
        return cls(
            job_id=str(report["job_id"]),
            status=str(report["status"]),
            created_at=report.get("created_at"),
            updated_at=report.get("finished_at"),
            finished_at=report.get("finished_at"),
            total_scenes=int(report.get("total_scenes") or 0),
            scenes_succeeded=int(report.get("successful_scenes") or 0),
            scenes_failed=int(report.get("failed_scenes") or 0),
            batches_total=len(batches),
            batches_final=len(batches),
            tasks_used=int(report.get("tasks_used") or 0),
            cost_usd=float(report.get("total_cost_usd") or 0.0),
            errors=tuple(errors[:20]),
            errors_total=len(errors),
            webhook_state=report.get("webhook_state"),
            document=report,
        )


def read_status(s3: Any, bucket: str, job_id: str) -> JobView | None:
    """The job's current status, or None when the bucket knows no such job (yet)."""
    document = read_json(s3, bucket, keys.status_key(job_id))
    if document is not None:
        return JobView.from_document(document)
    report = read_json(s3, bucket, keys.report_key(job_id))
    return JobView.from_report(report) if report is not None else None


def read_json(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """The JSON object at ``key``, or None if there is no such object."""
    from botocore.exceptions import ClientError

    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if is_s3_not_found(exc.response["Error"]["Code"]):
            return None
        raise
    document = json.loads(body)
    return document if isinstance(document, dict) else None


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
