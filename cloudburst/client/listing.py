"""``jobs``: the recent jobs of a bucket, from its status documents.

One LIST with ``Delimiter='/'`` names the jobs (``outputs/<job>/``); their status
documents (or, for jobs older than status documents, reports) are read in parallel and
the most recently updated come first.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from cloudburst.client import keys
from cloudburst.client.connection import Connection
from cloudburst.client.status import JobView, read_status

DEFAULT_LIMIT = 20


def recent_jobs(connection: Connection, limit: int = DEFAULT_LIMIT) -> list[JobView]:
    """Up to ``limit`` jobs, most recently updated first."""
    paginator = connection.s3.get_paginator("list_objects_v2")
    job_ids: list[str] = []
    for page in paginator.paginate(
        Bucket=connection.bucket, Prefix=keys.OUTPUTS_PREFIX, Delimiter="/"
    ):
        for common in page.get("CommonPrefixes", []):
            job_id = common["Prefix"][len(keys.OUTPUTS_PREFIX) :].rstrip("/")
            if job_id:
                job_ids.append(job_id)
    s3, bucket = connection.s3, connection.bucket
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [s for s in pool.map(lambda j: read_status(s3, bucket, j), job_ids) if s]
    statuses.sort(key=lambda s: s.updated_at or s.created_at or "", reverse=True)
    return statuses[:limit]
