"""The job report: the seed's result shape, every field computed from what happened.

- ``total_duration``: seconds from the upload being accepted to the last task stopping.
- ``speedup_factor``: scene render seconds summed, over ``total_duration`` — how many
  times faster the job ran than rendering its scenes one after another.
- ``processing_efficiency``: percent of the paid render capacity (billed task seconds ×
  parallel render slots per task) spent rendering scenes.
- ``cost_per_scene``: total cost over successful scenes (the whole cost when none did).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from chalicelib.contracts import SceneResult, outputs_prefix
from chalicelib.store import BatchView, JobView

Outcome = Literal["SUCCEEDED", "PARTIAL", "FAILED"]
WEBHOOK_TYPES = {
    "SUCCEEDED": "job.succeeded",
    "PARTIAL": "job.partial",
    "FAILED": "job.failed",
    "REJECTED": "job.rejected",
}
MISSING_RESULT = "the task stopped before it reported this scene"


def job_outcome(successful: int, total: int) -> Outcome:
    if total and successful == total:
        return "SUCCEEDED"
    return "PARTIAL" if successful else "FAILED"


def build_job_report(
    job: JobView,
    batches: Sequence[BatchView],
    results: Mapping[str, SceneResult | None],
    finished_at: datetime,
) -> dict[str, Any]:
    """The report of a job whose batches are all final."""
    scenes: list[dict[str, Any]] = []
    for batch in batches:
        for name in batch.scene_names:
            scenes.append(_scene_entry(name, batch, results.get(name)))
    scenes.sort(key=lambda entry: entry["scene_name"])
    successful = sum(1 for entry in scenes if entry["status"] == "succeeded")
    total_cost = round(sum(batch.cost_usd for batch in batches), 6)
    started = datetime.fromisoformat(job.created_at)
    stops = [datetime.fromisoformat(b.stopped_at) for b in batches if b.stopped_at]
    end = max(stops) if stops else finished_at
    total_duration = round(max(0.0, (end - started).total_seconds()), 3)
    render_seconds = sum(entry["render_seconds"] for entry in scenes)
    paid_slot_seconds = sum(b.billed_seconds * max(1, int(b.vcpu)) for b in batches)
    outcome = job_outcome(successful, len(scenes))
    return {
        "job_id": job.job_id,
        "status": outcome,
        "success": outcome == "SUCCEEDED",
        "manifest_bucket": job.manifest_bucket,
        "manifest_key": job.manifest_key,
        "outputs_prefix": outputs_prefix(job.job_id),
        "created_at": job.created_at,
        "finished_at": finished_at.isoformat(),
        "total_scenes": len(scenes),
        "successful_scenes": successful,
        "failed_scenes": len(scenes) - successful,
        "total_cost_usd": total_cost,
        "total_duration": total_duration,
        # a batch has run one task per attempt, less the last one if it never launched
        "tasks_used": sum(b.attempt - (0 if b.task_arn else 1) for b in batches),
        "task_results": [_task_entry(batch) for batch in batches],
        "scenes": scenes,
        "outputs": sorted(e["output_key"] for e in scenes if e["status"] == "succeeded"),
        "efficiency": {
            "speedup_factor": round(render_seconds / total_duration, 3) if total_duration else 0.0,
            "processing_efficiency": (
                round(min(100.0, 100 * render_seconds / paid_slot_seconds), 1)
                if paid_slot_seconds
                else 0.0
            ),
            "cost_per_scene": round(total_cost / (successful or 1), 6),
        },
        "errors": [f"{e['scene_name']}: {e['error']}" for e in scenes if e["error"]],
    }


def build_rejection_report(
    job_id: str, bucket: str, key: str, errors: Sequence[str], at: datetime
) -> dict[str, Any]:
    """The report of a manifest that was refused before any task ran."""
    return {
        "job_id": job_id,
        "status": "REJECTED",
        "success": False,
        "manifest_bucket": bucket,
        "manifest_key": key,
        "outputs_prefix": outputs_prefix(job_id),
        "created_at": at.isoformat(),
        "finished_at": at.isoformat(),
        "total_scenes": 0,
        "successful_scenes": 0,
        "failed_scenes": 0,
        "total_cost_usd": 0.0,
        "total_duration": 0.0,
        "tasks_used": 0,
        "task_results": [],
        "scenes": [],
        "outputs": [],
        "efficiency": {"speedup_factor": 0.0, "processing_efficiency": 0.0, "cost_per_scene": 0.0},
        "errors": list(errors),
    }


def _scene_entry(name: str, batch: BatchView, result: SceneResult | None) -> dict[str, Any]:
    if result is None:
        error = batch.error or MISSING_RESULT
        if batch.stopped_reason and not batch.error:
            error = f"{MISSING_RESULT} ({batch.stopped_reason})"
        return {
            "scene_name": name,
            "status": "failed",
            "batch_number": batch.batch_number,
            "output_key": None,
            "bytes": 0,
            "duration_seconds": 0.0,
            "render_seconds": 0.0,
            "error": error,
        }
    return {
        "scene_name": name,
        "status": result.status,
        "batch_number": batch.batch_number,
        "output_key": result.output_key if result.status == "succeeded" else None,
        "bytes": result.bytes,
        "duration_seconds": result.duration_seconds,
        "render_seconds": result.render_seconds,
        "error": result.error,
    }


def _task_entry(batch: BatchView) -> dict[str, Any]:
    return {
        "batch_number": batch.batch_number,
        "status": batch.status,
        "attempt": batch.attempt,
        "retried_after": batch.last_stop_code,  # why the previous attempt's task stopped
        "task_arn": batch.task_arn,
        "scenes": batch.scene_names,
        "successful_scenes": batch.scenes_succeeded,
        "failed_scenes": batch.scenes_failed,
        "cost_usd": round(batch.cost_usd, 6),
        "billed_seconds": batch.billed_seconds,
        "exit_code": batch.exit_code,
        "stop_code": batch.stop_code,
        "stopped_reason": batch.stopped_reason,
        "error": batch.error,
    }
