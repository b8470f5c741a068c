"""Whether a stopped task's unreported scenes get another task (pure).

Only stops that say nothing about our scenes are retried: Fargate Spot reclaiming capacity,
a task that never started, an unhealthy host. A worker that exited (a crash, out of memory)
or a task somebody stopped would most likely stop the same way again, so those scenes fail
with the reason instead. Scenes that have a result record, failed or not, are never the
reason for a retry: the worker reported them, and a failed scene's input is at fault.
"""

from __future__ import annotations

# ECS ``stopCode`` values (TaskStopCode) that are about the capacity, not the work.
RETRYABLE_STOP_CODES = frozenset(
    {"SpotInterruption", "TerminationNotice", "TaskFailedToStart", "InfrastructureHealth"}
)


def should_retry(
    stop_code: str | None, *, attempt: int, max_attempts: int, unreported: int
) -> bool:
    """True when the batch goes back to the queue for attempt ``attempt + 1``."""
    return unreported > 0 and attempt < max_attempts and stop_code in RETRYABLE_STOP_CODES
