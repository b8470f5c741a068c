"""Cancelling: a user's ``cancel/<job_id>.json`` stops that job and nothing else.

The job is marked first, so no launch after this moment starts one of its batches (a launch
already under way loses its conditional write and stops its task). Its running tasks are
stopped; their STOPPED events end their batches as usual (cost counted, MP4s kept, no retry).
Waiting batches are returned, for the reaction to end at once as CANCELLED. The job ends
CANCELLED when its last batch has.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from chalicelib.model import Batch, BatchStatus
from chalicelib.observability import logger
from chalicelib.ports import Services

_REASON_CHARS = 200
_DEFAULT_REASON = "cancelled by the user"
_REQUEST_BYTES = 1024


@dataclass(frozen=True)
class Cancel:
    job_id: str
    accepted: bool  # False: unknown job, already ended, or cancelled before
    reason: str = ""
    waiting: list[Batch] = field(default_factory=list)  # to end now: no task will run them


def cancel_job(svc: Services, job_id: str, request_key: str) -> Cancel:
    reason = _reason(svc, request_key)
    logger.thread_safe_append_keys(job_id=job_id)
    if not svc.jobs.request_cancel(job_id, reason):
        job = svc.jobs.get_job(job_id)
        state = "unknown job" if job is None else f"job is {job.status.value}"
        if job is not None and job.cancel_reason:
            state = "cancel already requested"
        logger.info("cancel request changes nothing", extra={"why": state})
        return Cancel(job_id, False)
    logger.info("job cancelling", extra={"reason": reason})
    waiting = []
    for batch in svc.jobs.list_batches(job_id):
        if batch.status is BatchStatus.RUNNING and batch.task_arn:
            svc.tasks.stop(batch.task_arn, f"job cancelled: {reason}")
        elif batch.status is BatchStatus.PENDING:
            waiting.append(batch)
    return Cancel(job_id, True, reason, waiting)


def _reason(svc: Services, key: str) -> str:
    """The request's ``reason`` if its body is a small JSON object that gives one."""
    body = svc.documents.read_head(key, _REQUEST_BYTES)
    try:
        document = json.loads(body) if body is not None else None
    except (ValueError, RecursionError):
        return _DEFAULT_REASON
    reason = document.get("reason") if isinstance(document, dict) else None
    if not isinstance(reason, str) or not reason.strip():
        return _DEFAULT_REASON
    clean = "".join(ch for ch in reason.strip() if ch.isprintable())
    return clean[:_REASON_CHARS] or _DEFAULT_REASON
