"""The job's status document in S3: rewritten after every state change, so users (and the
``cloudburst`` CLI) follow a job with S3 read access alone."""

from __future__ import annotations

from collections.abc import Iterable

from chalicelib.contracts import status_key
from chalicelib.model import Job, progress
from chalicelib.ports import Services
from chalicelib.report import build_status
from chalicelib.usecases.assembling import phase


def publish(svc: Services, job_ids: Iterable[str]) -> None:
    """Write the current status of each job (its batches decide the progress).

    Events of one job are handled concurrently (a scene reported while the last task stops),
    so a RUNNING document may be written after another invocation ended the job and wrote
    its final one: the job is read again after writing, and a job found ended is written
    again, so the final document is always the last one.
    """
    for job_id in dict.fromkeys(job_ids):
        job = svc.jobs.get_job(job_id)
        if job is None:
            continue
        _write(svc, job_id, job)
        if not job.is_final:
            again = svc.jobs.get_job(job_id)
            if again is not None and again.is_final:
                _write(svc, job_id, again)


def _write(svc: Services, job_id: str, job: Job) -> None:
    batches = svc.jobs.list_batches(job_id)
    document = build_status(job, progress(job, batches), svc.clock.now())
    # an episode's assembly batch comes after the scene batches the job was planned with
    document["batches_total"] = max(job.batches_total, len(batches))
    document["phase"] = phase(job, batches).value
    svc.documents.put_json(status_key(job_id), document)
