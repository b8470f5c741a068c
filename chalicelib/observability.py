"""Structured logs and metrics for the Lambdas (powertools Logger and Metrics).

Every log line of an invocation carries the event id, and the job id and batch number once
known. The keys are per thread (``thread_safe_append_keys``): the local stack runs handlers
concurrently in one process, where shared keys would label one job's lines with another's.
Metrics are flushed as CloudWatch EMF at the end of each invocation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "cloudburst"
logger = Logger(service=SERVICE)
metrics = Metrics(namespace="CloudBurst", service=SERVICE)
_INVOCATION_KEYS = ["job_id", "batch_number", "event_id"]

__all__ = ["MetricUnit", "invocation", "logger", "metrics"]


@contextmanager
def invocation(event_id: str) -> Iterator[None]:
    """One handler invocation: fresh correlation keys in, metrics flushed out."""
    logger.thread_safe_remove_keys(_INVOCATION_KEYS)
    logger.thread_safe_append_keys(event_id=event_id)
    try:
        yield
    finally:
        if metrics.metric_set:
            metrics.flush_metrics()
        logger.thread_safe_remove_keys(_INVOCATION_KEYS)
