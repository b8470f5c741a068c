"""Notification: the signed webhook announcing a job's end, and its retries from the outbox.

One outcome keeps one ``webhook-id`` across retries (receivers de-duplicate). A failed try
goes back to the outbox with the back-off of :func:`chalicelib.webhooks.retry_delay`; the
sweeper sends what is due. After each try the report (``job.json``) and the status document
carry the delivery state, so users see it without DynamoDB access.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib import webhooks
from chalicelib.contracts import report_key
from chalicelib.model import Job, WebhookState, iso
from chalicelib.observability import MetricUnit, logger, metrics
from chalicelib.ports import Services
from chalicelib.report import link_expires_at, webhook_data, with_webhook_state

# How long a sweeper owns a due retry before another may take it.
LEASE = timedelta(minutes=5)
_DUE_PAGE = 25
# The webhook links the whole report; a link outlives the retries (about half an hour).
_REPORT_LINK_SECONDS = 24 * 3600


def announce(svc: Services, job: Job, report: dict[str, Any], now: datetime | None = None) -> None:
    """Send the job's outcome once more and record how it went."""
    now = now or svc.clock.now()
    state, delivery = _deliver(svc, job, report)
    delay = None if delivery is None else webhooks.retry_delay(job.webhook_attempts + 1, delivery)
    retry_at = iso(now + delay) if delay is not None else None
    if state is WebhookState.FAILED and retry_at:
        state = WebhookState.RETRYING
    error = delivery.error if delivery else None
    svc.outbox.record(job.job_id, state, error, retry_at)
    recorded = svc.jobs.get_job(job.job_id) or job
    svc.documents.put_json(report_key(job.job_id), with_webhook_state(report, recorded))
    log = logger.info if state is WebhookState.DELIVERED else logger.warning
    log(
        f"webhook {state.value.lower()}",
        extra={
            "type": job.status.webhook_type,
            "http_status": delivery.status if delivery else None,
            "error": error,
            "attempt": recorded.webhook_attempts,
            "retry_at": retry_at,
        },
    )


def announce_if_pending(svc: Services, job_id: str) -> None:
    """The first delivery of a job that ended but has not announced it yet."""
    job = svc.jobs.get_job(job_id)
    if job is None or job.webhook_state is not WebhookState.PENDING:
        return
    announce(svc, job, svc.documents.get_json(report_key(job_id)))


def retry_due(svc: Services, now: datetime) -> list[str]:
    """Send the webhooks due again by ``now``; returns their jobs."""
    sent: list[str] = []
    for job_id, position in svc.outbox.due(iso(now), _DUE_PAGE):
        if not svc.outbox.claim(job_id, position, iso(now + LEASE)):
            continue  # another sweeper took it
        job = svc.jobs.get_job(job_id)
        if job is None:
            continue
        logger.thread_safe_append_keys(job_id=job_id)
        announce(svc, job, svc.documents.get_json(report_key(job_id)), now)
        sent.append(job_id)
    logger.thread_safe_remove_keys(["job_id"])
    return sent


def _deliver(
    svc: Services, job: Job, report: dict[str, Any]
) -> tuple[WebhookState, webhooks.Delivery | None]:
    if not job.webhook_url:
        return WebhookState.NO_URL, None
    secret = svc.secrets.webhook_secret()
    if not secret:
        logger.error("no webhook secret configured; webhook not sent")
        return WebhookState.FAILED, webhooks.Delivery(
            False, error="no webhook secret configured", retryable=False
        )
    link = svc.documents.link(report_key(job.job_id), _REPORT_LINK_SECONDS)
    delivery = svc.webhooks.send(
        job.webhook_url,
        secret,
        job_id=job.job_id,
        event_type=job.status.webhook_type,
        data=webhook_data(report, link, link_expires_at(link, datetime.now(UTC))),
    )
    metrics.add_metric(
        name="WebhooksDelivered" if delivery.ok else "WebhooksFailed",
        unit=MetricUnit.Count,
        value=1,
    )
    return (WebhookState.DELIVERED if delivery.ok else WebhookState.FAILED), delivery
