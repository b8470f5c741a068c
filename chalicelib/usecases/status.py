"""The job's status document in S3: rewritten after every state change, so users (and the
``cloudburst`` CLI) follow a job with S3 read access alone."""

from __future__ import annotations

from collections.abc import Iterable

from chalicelib.contracts import status_key
from chalicelib.model import progress
from chalicelib.ports import Services
from chalicelib.report import build_status


def publish(svc: Services, job_ids: Iterable[str]) -> None:
    """Write the current status of each job (its batches decide the progress)."""
    for job_id in dict.fromkeys(job_ids):
        job = svc.jobs.get_job(job_id)
        if job is None:
            continue
        batches = svc.jobs.list_batches(job_id)
        document = build_status(job, progress(batches), svc.clock.now())
        svc.documents.put_json(status_key(job_id), document)
