"""Follow a job by polling its status document until it ends."""

from __future__ import annotations

import time
from collections.abc import Callable

from cloudburst.client.connection import Connection
from cloudburst.client.status import JobView, read_status

DEFAULT_INTERVAL_SECONDS = 1.0


class WatchTimeout(TimeoutError):
    """The job had not ended when the caller stopped waiting; it goes on running."""

    def __init__(self, job_id: str, seconds: float, last: JobView | None) -> None:
        state = last.status if last else "not yet accepted"
        super().__init__(
            f"job {job_id} is still {state} after {seconds:.0f} s; it keeps running "
            f"(follow it with `cloudburst watch {job_id}`)"
        )
        self.job_id = job_id
        self.last = last


def wait_for_job(
    connection: Connection,
    job_id: str,
    *,
    timeout: float | None = None,
    interval: float = DEFAULT_INTERVAL_SECONDS,
    on_update: Callable[[JobView | None], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> JobView:
    """The job's final status; ``on_update`` sees every poll (None until the job appears)."""
    started = time.monotonic()
    last: JobView | None = None
    while True:
        last = read_status(connection.s3, connection.bucket, job_id)
        if on_update is not None:
            on_update(last)
        if last is not None and last.is_final:
            return last
        if timeout is not None and time.monotonic() - started >= timeout:
            raise WatchTimeout(job_id, timeout, last)
        sleep(interval)
