"""``cancel``: ask the pipeline to stop a job, through an object the user writes to S3.

The pipeline reads ``cancel/<job>.json``, stops that job's tasks, launches none of its
waiting batches, keeps the MP4s made and ends the job CANCELLED. The status document is
read first, so cancelling twice or after the end writes nothing and says so.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from cloudburst.client import keys
from cloudburst.client.connection import Connection
from cloudburst.client.status import JobView, read_status

MAX_BODY_BYTES = 1024  # the pipeline reads at most 1 KB of a cancel request

Outcome = Literal["requested", "already_requested", "already_ended"]


class UnknownJob(LookupError):
    """The bucket knows no job of that id."""


@dataclass(frozen=True)
class CancelResult:
    job_id: str
    outcome: Outcome
    status: JobView

    @property
    def message(self) -> str:
        if self.outcome == "requested":
            return f"cancel requested for job {self.job_id}; the pipeline stops its tasks"
        if self.outcome == "already_requested":
            return f"job {self.job_id}: cancel was already requested; nothing changed"
        return f"job {self.job_id} already ended {self.status.status}; nothing changed"


def cancel_job(
    connection: Connection,
    job_id: str,
    reason: str | None = None,
    *,
    wait_seconds: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> CancelResult:
    """Write the cancel request unless the job has ended or one is already pending.

    A job submitted a moment ago may not have its status document yet (the pipeline writes
    it within seconds of the upload), so an unknown job is looked for ``wait_seconds``.
    """
    status = read_status(connection.s3, connection.bucket, job_id)
    deadline = time.monotonic() + wait_seconds
    while status is None and time.monotonic() < deadline:
        sleep(0.5)
        status = read_status(connection.s3, connection.bucket, job_id)
    if status is None:
        raise UnknownJob(f"no job {job_id!r} in s3://{connection.bucket}/ (see `cloudburst jobs`)")
    if status.is_final:
        return CancelResult(job_id, "already_ended", status)
    if status.cancel_requested:
        return CancelResult(job_id, "already_requested", status)
    body = request_body(reason or "cancelled by the user")
    connection.s3.put_object(
        Bucket=connection.bucket,
        Key=keys.cancel_key(job_id),
        Body=body,
        ContentType="application/json",
    )
    return CancelResult(job_id, "requested", status)


def request_body(reason: str) -> bytes:
    """``{"reason": …}`` in UTF-8, the reason cut short to keep the body within 1 KB."""
    while True:
        body = json.dumps({"reason": reason}, ensure_ascii=False).encode()
        if len(body) <= MAX_BODY_BYTES:
            return body
        reason = reason[: len(reason) * MAX_BODY_BYTES // len(body) - 1]
