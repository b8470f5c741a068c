"""Webhooks are Standard Webhooks: verified here by the standardwebhooks library itself."""

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from chalicelib import webhooks
from cloudburst.local.receiver import WebhookReceiver

SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()


def signed(at: datetime, data=None):
    body = webhooks.build_message("job.succeeded", data or {"job_id": "j"}, at)
    return body, webhooks.signed_headers(
        SECRET, webhooks.message_id("j", "job.succeeded"), at, body
    )


def test_a_signed_message_verifies_with_the_standard_library():
    body, headers = signed(datetime.now(UTC))

    payload = Webhook(SECRET).verify(body, headers)

    assert payload["type"] == "job.succeeded"
    assert payload["data"] == {"job_id": "j"}


def test_a_tampered_body_or_wrong_secret_fails_verification():
    body, headers = signed(datetime.now(UTC))
    other = "whsec_" + base64.b64encode(b"x" * 24).decode()

    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace(b'"j"', b'"k"'), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, headers)


def test_an_old_timestamp_fails_verification():
    body, headers = signed(datetime.now(UTC) - timedelta(minutes=10))

    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body, headers)


def test_every_retry_of_one_outcome_has_the_same_webhook_id():
    assert webhooks.message_id("job-1", "job.partial") == webhooks.message_id(
        "job-1", "job.partial"
    )
    assert webhooks.message_id("job-1", "job.partial") != webhooks.message_id("job-1", "job.failed")


def test_send_delivers_to_a_real_receiver(tmp_path):
    with WebhookReceiver(SECRET, tmp_path) as receiver:
        delivery = webhooks.send(
            receiver.url,
            SECRET,
            job_id="j",
            event_type="job.partial",
            data={"job_id": "j", "text": "字幕"},
            timeout=5,
            allow_loopback=True,
        )
        [received] = receiver.wait_for(1, timeout=5)

    assert delivery.ok
    assert received.type == "job.partial"
    assert received.body["data"]["text"] == "字幕"
    assert json.loads(next(tmp_path.glob("*.json")).read_text())["type"] == "job.partial"


def test_a_receiver_that_refuses_is_reported_not_raised(tmp_path):
    with WebhookReceiver("whsec_" + base64.b64encode(b"z" * 24).decode(), tmp_path) as receiver:
        delivery = webhooks.send(
            receiver.url,
            SECRET,
            job_id="j",
            event_type="job.failed",
            data={},
            timeout=5,
            allow_loopback=True,
        )

    assert not delivery.ok
    assert delivery.status == 401


def test_unreachable_receivers_are_reported():
    delivery = webhooks.send(
        "http://127.0.0.1:9/hook",
        SECRET,
        job_id="j",
        event_type="job.failed",
        data={},
        timeout=2,
        allow_loopback=True,
    )

    assert not delivery.ok
    assert "could not reach 127.0.0.1:9" in (delivery.error or "")


def test_loopback_targets_are_refused_outside_the_local_stage():
    problem = webhooks.destination_problem("http://localhost:8080/hook", allow_loopback=False)

    assert problem is not None
    assert "not allowed" in problem
    assert webhooks.destination_problem("ftp://example.com/x", allow_loopback=True) is not None


def test_undelivered_webhooks_are_retried_with_doubling_delays_then_given_up() -> None:
    from chalicelib.webhooks import MAX_ATTEMPTS, Delivery, retry_delay

    failed = Delivery(False, status=503, error="receiver answered HTTP 503")
    delays = [retry_delay(n, failed) for n in range(1, MAX_ATTEMPTS + 1)]
    assert delays == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16)] + [None]
    assert retry_delay(1, Delivery(True, status=204)) is None
    refused = Delivery(False, error="webhook URL 'ftp://x' is not an http(s) URL", retryable=False)
    assert retry_delay(1, refused) is None
