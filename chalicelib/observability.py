"""Structured logs and metrics for the Lambdas (powertools Logger and Metrics).

Every log line of an invocation carries the job id and batch number once known
(``logger.append_keys``); metrics are flushed as CloudWatch EMF at the end of it.
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
    logger.remove_keys(_INVOCATION_KEYS)
    logger.append_keys(event_id=event_id)
    try:
        yield
    finally:
        if metrics.metric_set:
            metrics.flush_metrics()
        logger.remove_keys(_INVOCATION_KEYS)
