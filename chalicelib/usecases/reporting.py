"""Live progress: a scene's result record counts on its batch the moment the worker writes it.

The worker writes ``jobs/<job>/results/<scene>.json`` as each scene ends; S3 announces it
through EventBridge, and this use case adds the scene to its batch's reported scenes (a
set, so a redelivered event changes nothing). The job's status document then counts it,
long before the task stops and the batch counts its scenes itself.
"""

from __future__ import annotations

from chalicelib.contracts import SceneStatus
from chalicelib.events import ObjectCreatedEvent
from chalicelib.model import JobStatus
from chalicelib.observability import logger
from chalicelib.ports import Services


def record_scene_reported(event: ObjectCreatedEvent, svc: Services) -> str | None:
    """Count the scene on its batch; returns the job whose status should be republished, or
    None when there is nothing to show (not a result record, an ended job or batch)."""
    reported = event.reported_scene()
    if reported is None or event.bucket != svc.settings.bucket:
        logger.info("not a result record of ours; ignored", extra={"key": event.key})
        return None
    job_id, scene_name = reported
    logger.thread_safe_append_keys(job_id=job_id)
    result = svc.documents.read_results(job_id, [scene_name]).get(scene_name)
    job = svc.jobs.get_job(job_id)
    if result is None or job is None or job.status is not JobStatus.RUNNING:
        logger.info("result record of no running job; ignored", extra={"scene": scene_name})
        return None
    ok = result.status == SceneStatus.SUCCEEDED
    if not svc.jobs.report_scene(job_id, result.batch_number, scene_name, ok):
        # Counted already (a redelivery) or its batch has ended: the status written then
        # counts it; writing it again is harmless and finishes what a crash left undone.
        logger.info("scene already counted", extra={"scene": scene_name})
    return job_id
