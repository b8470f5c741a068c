from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from cloudburst.local.receiver import WebhookReceiver, generate_secret


def post(url: str, body: str, headers: dict[str, str]) -> int:
    assert url.startswith("http://127.0.0.1:")
    request = urllib.request.Request(  # noqa: S310 (loopback http only, checked above)
        url, data=body.encode(), headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def signed(secret: str, webhook_id: str, body: str) -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, now, body),
    }


@pytest.fixture
def receiver(tmp_path: Path) -> WebhookReceiver:
    with WebhookReceiver(generate_secret(), tmp_path / "hooks") as running:
        yield running


def test_generated_secret_has_the_standard_webhooks_format() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    Webhook(secret)  # parses


def test_a_signed_webhook_is_kept_in_memory_and_on_disk(receiver: WebhookReceiver) -> None:
    body = json.dumps({"type": "job.succeeded", "timestamp": "t", "data": {"job_id": "j1"}})

    status = post(receiver.url, body, signed(receiver.secret, "msg_1", body))

    assert status == 204
    [delivery] = receiver.wait_for(1, timeout=5)
    assert (delivery.webhook_id, delivery.type, delivery.job_id) == ("msg_1", "job.succeeded", "j1")
    saved = json.loads((receiver.directory / "msg_1.json").read_text())
    assert saved["body"]["data"] == {"job_id": "j1"}


def test_a_bad_signature_is_rejected_with_401(receiver: WebhookReceiver) -> None:
    body = json.dumps({"type": "job.succeeded", "data": {}})
    headers = signed(generate_secret(), "msg_2", body)  # someone else's secret

    assert post(receiver.url, body, headers) == 401
    assert post(receiver.url, body + " ", signed(receiver.secret, "msg_3", body)) == 401
    assert post(receiver.url, body, {}) == 401
    assert receiver.deliveries == []
    assert receiver.rejected_count == 3
    assert list(receiver.directory.iterdir()) == []


def test_wait_for_returns_when_enough_deliveries_arrived(receiver: WebhookReceiver) -> None:
    bodies = [json.dumps({"type": "job.failed", "data": {"job_id": f"j{i}"}}) for i in range(3)]
    senders = [
        threading.Thread(target=post, args=(receiver.url, b, signed(receiver.secret, f"m{i}", b)))
        for i, b in enumerate(bodies)
    ]
    for sender in senders:
        sender.start()

    assert len(receiver.wait_for(3, timeout=5)) == 3
    assert [d.job_id for d in receiver.wait_for(1, timeout=1, job_id="j2")] == ["j2"]
    assert len(receiver.wait_for(4, timeout=0.2)) == 3  # times out, returns what arrived
    for sender in senders:
        sender.join(5)
