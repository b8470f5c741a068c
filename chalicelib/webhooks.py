"""Signed job-outcome webhooks (Standard Webhooks: webhook-id/-timestamp/-signature).

The message id is derived from the job and event type, so every retry of one outcome
carries the same ``webhook-id`` and receivers can de-duplicate (delivery is at-least-once).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from standardwebhooks import Webhook

USER_AGENT = "CloudBurst-Webhooks/1"
# An undelivered webhook is sent again after 1, 2, 4, 8 and 16 minutes (6 tries, ~31 min),
# so a receiver that is briefly down or redeploying still gets the outcome.
MAX_ATTEMPTS = 6
FIRST_RETRY = timedelta(minutes=1)


@dataclass(frozen=True)
class Delivery:
    ok: bool
    status: int | None = None
    error: str | None = None
    retryable: bool = True  # False when the URL itself is refused: trying again cannot help


def retry_delay(attempts: int, delivery: Delivery) -> timedelta | None:
    """How long after ``attempts`` failed tries to try again; None to give up."""
    if delivery.ok or not delivery.retryable or attempts >= MAX_ATTEMPTS:
        return None
    return FIRST_RETRY * 2 ** (attempts - 1)


def message_id(job_id: str, event_type: str) -> str:
    return f"msg_{job_id}_{event_type.replace('.', '_')}"


def build_message(event_type: str, data: dict[str, Any], at: datetime) -> bytes:
    body = {"type": event_type, "timestamp": at.isoformat(), "data": data}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def signed_headers(secret: str, msg_id: str, at: datetime, body: bytes) -> dict[str, str]:
    signature = Webhook(secret).sign(msg_id, at, body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def send(
    url: str,
    secret: str,
    *,
    job_id: str,
    event_type: str,
    data: dict[str, Any],
    timeout: float,
    allow_loopback: bool,
) -> Delivery:
    """POST one signed event; a 2xx answer is delivery, anything else is reported, not raised."""
    refusal = destination_problem(url, allow_loopback)
    if refusal:
        return Delivery(False, error=refusal, retryable=False)
    at = datetime.now(UTC)
    body = build_message(event_type, data, at)
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url,
        data=body,
        method="POST",
        headers=signed_headers(secret, message_id(job_id, event_type), at, body),
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return Delivery(200 <= response.status < 300, status=response.status)
    except urllib.error.HTTPError as exc:
        return Delivery(False, status=exc.code, error=f"receiver answered HTTP {exc.code}")
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Delivery(False, error=f"could not reach {urlsplit(url).netloc}: {reason}")


def destination_problem(url: str, allow_loopback: bool) -> str | None:
    """Why a webhook must not go to ``url``; loopback targets are only for the local stage."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"webhook URL {url!r} is not an http(s) URL"
    if allow_loopback:
        return None
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, None)}
    except OSError as exc:
        return f"webhook host {parts.hostname!r} does not resolve: {exc}"
    for address in addresses:
        ip = ipaddress.ip_address(str(address).split("%")[0])
        if ip.is_loopback or ip.is_link_local or ip.is_unspecified:
            return f"webhook host {parts.hostname!r} resolves to {ip}, which is not allowed"
    return None
