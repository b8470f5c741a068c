"""What users read: the job report (``job.json``), the status document and the webhook body.

The report is the seed's result shape, every field computed from what happened:

- ``total_duration``: seconds from the upload being accepted to the last task stopping.
- ``speedup_factor``: scene render seconds summed, over ``total_duration`` — how many
  times faster the job ran than rendering its scenes one after another.
- ``processing_efficiency``: percent of the paid render capacity (billed task seconds ×
  render slots per task) spent rendering scenes.
- ``cost_per_scene``: total cost over successful scenes (the whole cost when none did).
- ``cost_estimated``: some task's bill lacked a timestamp and was estimated (per task too).

The webhook carries a summary (≤ 64 KB at any job size) with a link to the whole report.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from chalicelib.contracts import (
    SceneResult,
    SceneStatus,
    outputs_prefix,
    render_slots,
    report_key,
)
from chalicelib.model import (
    Batch,
    Job,
    JobStatus,
    Progress,
    SceneCounts,
    eta_seconds,
    iso,
    scene_counts,
)
from chalicelib.pricing import round_usd

MISSING_RESULT = "the task stopped before it reported this scene"
STATUS_ERRORS = 20  # reasons the status document and the webhook list; job.json has all
WEBHOOK_BODY_LIMIT = 64 * 1024


def scene_entry(name: str, batch: Batch, result: SceneResult | None) -> dict[str, Any]:
    """One scene's line in the report, from its result record (or the batch's reason)."""
    if result is None:
        error = batch.error or MISSING_RESULT
        if batch.stopped_reason and not batch.error:
            error = f"{MISSING_RESULT} ({batch.stopped_reason})"
        return {
            "scene_name": name,
            "status": SceneStatus.FAILED.value,
            "batch_number": batch.batch_number,
            "output_key": None,
            "bytes": 0,
            "duration_seconds": 0.0,
            "render_seconds": 0.0,
            "error": error,
        }
    return {
        "scene_name": name,
        "status": SceneStatus(result.status).value,
        "batch_number": batch.batch_number,
        "output_key": result.output_key if result.status == SceneStatus.SUCCEEDED else None,
        "bytes": result.bytes,
        "duration_seconds": result.duration_seconds,
        "render_seconds": result.render_seconds,
        "error": result.error,
    }


def build_job_report(
    job: Job,
    status: JobStatus,
    batches: Sequence[Batch],
    scenes: Sequence[dict[str, Any]],
    finished_at: datetime,
) -> dict[str, Any]:
    """The report of a job whose batches are all final (``scenes``: every scene_entry)."""
    scenes = sorted(scenes, key=lambda entry: entry["scene_name"])
    counts = scene_counts(job, batches)
    successful = counts.succeeded
    total_cost = round_usd(sum(batch.cost_usd for batch in batches))
    started = datetime.fromisoformat(job.created_at)
    stops = [datetime.fromisoformat(b.stopped_at) for b in batches if b.stopped_at]
    end = max(stops) if stops else finished_at
    total_duration = round(max(0.0, (end - started).total_seconds()), 3)
    render_seconds = sum(entry["render_seconds"] for entry in scenes)
    paid_slot_seconds = sum(b.billed_seconds * render_slots(b.vcpu) for b in batches)
    names_by_batch: dict[int, list[str]] = {}
    for entry in scenes:
        names_by_batch.setdefault(entry["batch_number"], []).append(entry["scene_name"])
    return {
        **_header(job, status, finished_at),
        "success": status is JobStatus.SUCCEEDED,
        **_scene_fields(counts),
        "total_cost_usd": total_cost,
        "cost_estimated": any(b.cost_estimated for b in batches),
        "total_duration": total_duration,
        "tasks_used": sum(b.tasks_run for b in batches),
        "task_results": [_task_entry(b, names_by_batch.get(b.batch_number, [])) for b in batches],
        "scenes": scenes,
        "outputs": sorted(e["output_key"] for e in scenes if e["status"] == SceneStatus.SUCCEEDED),
        "efficiency": {
            "speedup_factor": round(render_seconds / total_duration, 3) if total_duration else 0.0,
            "processing_efficiency": (
                round(min(100.0, 100 * render_seconds / paid_slot_seconds), 1)
                if paid_slot_seconds
                else 0.0
            ),
            "cost_per_scene": round_usd(total_cost / (successful or 1)),
        },
        "errors": [scene_reason(e["scene_name"], e["error"]) for e in scenes if e["error"]],
    }


def scene_reason(name: str, error: str) -> str:
    """A failed scene's reason as the job's errors list it, the scene named once (the
    worker's reasons already begin ``scene 'name': …``)."""
    return error if error.startswith((f"scene {name!r}", f"scene '{name}'")) else f"{name}: {error}"


def build_rejection_report(job: Job, errors: Sequence[str], at: datetime) -> dict[str, Any]:
    """The report of a manifest refused before any task ran (the job's ``total_scenes``: how
    many scenes it listed, none of which was rendered)."""
    return {
        **_header(job, JobStatus.REJECTED, at),
        "success": False,
        **_scene_fields(scene_counts(job, [])),
        "total_cost_usd": 0.0,
        "cost_estimated": False,
        "total_duration": 0.0,
        "tasks_used": 0,
        "task_results": [],
        "scenes": [],
        "outputs": [],
        "efficiency": {"speedup_factor": 0.0, "processing_efficiency": 0.0, "cost_per_scene": 0.0},
        "errors": list(errors),
    }


def _scene_fields(counts: SceneCounts) -> dict[str, int]:
    """The report's (and so the webhook's) scene counts, in the seed's names."""
    return {
        "total_scenes": counts.total,
        "successful_scenes": counts.succeeded,
        "failed_scenes": counts.failed,
    }


def _header(job: Job, status: JobStatus, finished_at: datetime) -> dict[str, Any]:
    header: dict[str, Any] = {
        "job_id": job.job_id,
        "status": status.value,
        "manifest_bucket": job.manifest_bucket,
        "manifest_key": job.manifest_key,
        "outputs_prefix": outputs_prefix(job.job_id),
        "created_at": job.created_at,
        "finished_at": iso(finished_at),
        "metadata": job.metadata,
    }
    if job.cancel_reason:
        header["cancel_reason"] = job.cancel_reason
    return header


def with_webhook_state(report: dict[str, Any], job: Job) -> dict[str, Any]:
    """The report with the job's delivery state (the report is rewritten after each try)."""
    return {**report, "webhook": _webhook(job)}


def build_status(job: Job, done: Progress, updated_at: datetime) -> dict[str, Any]:
    """The status document: everything a user following the job with S3 alone needs.

    Scenes count as their result records arrive (not only as tasks end); ``eta_seconds`` is
    what is left at the rate seen so far, None before the first scene finished.
    """
    elapsed = (updated_at - datetime.fromisoformat(job.created_at)).total_seconds()
    return {
        "job_id": job.job_id,
        "status": job.status.value,
        "manifest_bucket": job.manifest_bucket,
        "manifest_key": job.manifest_key,
        "created_at": job.created_at,
        "updated_at": iso(updated_at),
        "finished_at": job.finished_at,
        "total_scenes": done.scenes.total,
        "scenes_succeeded": done.scenes.succeeded,
        "scenes_failed": done.scenes.failed,
        "eta_seconds": None if job.is_final else eta_seconds(done.scenes, elapsed),
        "batches_total": job.batches_total,
        "batches_final": done.batches_final,
        "tasks_running": done.tasks_running,
        "batches_waiting": done.batches_waiting,
        "tasks_used": done.tasks_used,
        "cost_usd": round_usd(done.cost_usd),
        "cost_estimated": done.cost_estimated,
        "webhook": _webhook(job),
        "errors": job.errors[:STATUS_ERRORS],
        "errors_total": job.errors_total,
        "metadata": job.metadata,
        "report_key": report_key(job.job_id) if job.is_final else None,
        "cancel_requested": job.cancel_reason is not None,
    }


def _webhook(job: Job) -> dict[str, Any]:
    state = job.webhook_state.value if job.webhook_state else None
    return {"state": state, "attempts": job.webhook_attempts, "error": job.webhook_error}


_SUMMARY_FIELDS = [
    "job_id",
    "status",
    "success",
    "manifest_bucket",
    "manifest_key",
    "outputs_prefix",
    "created_at",
    "finished_at",
    "metadata",
    "cancel_reason",
    "total_scenes",
    "successful_scenes",
    "failed_scenes",
    "total_cost_usd",
    "cost_estimated",
    "total_duration",
    "tasks_used",
    "efficiency",
    "episode",
]


# S3 refuses a presigned link once the credentials that signed it expire, whatever its own
# expiry says; a Lambda's credentials carry no expiry to read, so a link they sign is
# promised for this long only.
TEMPORARY_LINK_SECONDS = 3600


def report_link_seconds(requested: int, *, temporary: bool, credentials_left: float | None) -> int:
    """How long a presigned report link can honestly be promised for: no longer than the
    signing credentials last (when known), an hour when they are temporary and unknown."""
    seconds = requested
    if credentials_left is not None:
        seconds = min(seconds, int(credentials_left))
    elif temporary:
        seconds = min(seconds, TEMPORARY_LINK_SECONDS)
    return max(0, seconds)


def link_expires_at(url: str, now: datetime) -> str | None:
    """When a presigned link stops working: its signing time (``X-Amz-Date``, else ``now``)
    plus its ``X-Amz-Expires``; None for a link that says neither."""
    query = parse_qs(urlsplit(url).query)
    if "X-Amz-Expires" not in query:
        return None
    signed = now
    if "X-Amz-Date" in query:
        signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return iso(signed + timedelta(seconds=int(query["X-Amz-Expires"][0])))


def webhook_data(
    report: dict[str, Any], report_url: str | None, report_url_expires_at: str | None = None
) -> dict[str, Any]:
    """The webhook's ``data``: the report's summary, its first reasons and a link to it all.

    Whole task and scene lists would grow with the job (2.5 MB for 10,000 scenes), past
    what many receivers accept; the summary stays under ``WEBHOOK_BODY_LIMIT``.
    """
    errors = report.get("errors", [])
    data = {k: report[k] for k in _SUMMARY_FIELDS if k in report}
    data.update(
        {
            "report_key": report_key(report["job_id"]),
            "report_url": report_url,
            "report_url_expires_at": report_url_expires_at,  # then use report_key
            "errors": [_clip(e) for e in errors[:STATUS_ERRORS]],
            "errors_total": len(errors),
        }
    )
    if len(report.get("outputs", [])) <= 100:
        data["outputs"] = report.get("outputs", [])
    while len(json.dumps(data, ensure_ascii=False).encode()) > WEBHOOK_BODY_LIMIT - 1024:
        if data["errors"]:
            data["errors"] = data["errors"][:-1]
        elif data.get("outputs"):
            data.pop("outputs")
        else:
            data["metadata"] = None
            break
    return data


def _clip(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _task_entry(batch: Batch, scene_names: list[str]) -> dict[str, Any]:
    return {
        "batch_number": batch.batch_number,
        "status": batch.status.value,
        "attempt": batch.attempt,
        "retried_after": batch.last_stop_code,  # why the previous attempt's task stopped
        "task_arn": batch.task_arn,
        "scenes": scene_names,
        "successful_scenes": batch.scenes_succeeded,
        "failed_scenes": batch.scenes_failed,
        "cost_usd": round_usd(batch.cost_usd),
        "cost_estimated": batch.cost_estimated,
        "billed_seconds": batch.billed_seconds,
        "exit_code": batch.exit_code,
        "stop_code": batch.stop_code,
        "stopped_reason": batch.stopped_reason,
        "error": batch.error,
    }


def with_episode(
    report: dict[str, Any], episode: dict[str, Any] | None, reason: str | None
) -> dict[str, Any]:
    """The report of a job with an ``episode``: what was assembled (``EpisodeRecord.report``),
    or None and the reason among the errors."""
    errors = [*report["errors"], reason] if reason else report["errors"]
    return {**report, "episode": episode, "errors": errors}
