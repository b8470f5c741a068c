"""A local webhook endpoint that verifies Standard Webhooks signatures like a real consumer.

The demo and the end-to-end tests need proof that a *signed* webhook left the Lambda code,
so every POST is verified with the ``standardwebhooks`` library before it is kept.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

# Not under "cloudburst": that name is the Lambdas' powertools logger (its level, its JSON).
log = logging.getLogger("cloudburst-local.receiver")

_MAX_BODY_BYTES = 8 * 1024 * 1024
_SAFE_ID = re.compile(r"[^A-Za-z0-9_.-]")


def generate_secret() -> str:
    """A fresh secret in the Standard Webhooks format (``whsec_`` + base64 of 24 bytes)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


@dataclass(frozen=True)
class Delivery:
    """One verified webhook: its id (stable across retries), type and parsed body."""

    webhook_id: str
    type: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    raw: str = ""
    path: Path | None = None
    received_at: datetime | None = None  # when the verified POST arrived (UTC)

    @property
    def job_id(self) -> str | None:
        data = self.body.get("data")
        return data.get("job_id") if isinstance(data, dict) else None


class WebhookReceiver:
    """``ThreadingHTTPServer`` on 127.0.0.1 that keeps verified deliveries in memory and on disk.

    Answers 204 for a verified POST and 401 for a bad signature, so the sender's retry logic
    sees what a real consumer would answer.
    """

    def __init__(self, secret: str, directory: Path, *, port: int = 0) -> None:
        self.secret = secret
        self.directory = directory
        self._webhook = Webhook(secret)
        self._port = port
        self._deliveries: list[Delivery] = []
        self._rejected = 0
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> WebhookReceiver:
        self.directory.mkdir(parents=True, exist_ok=True)
        server = ThreadingHTTPServer(("127.0.0.1", self._port), self._handler_class())
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="webhook-receiver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
        self._server = None
        self._thread = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("receiver is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks/cloudburst"

    # -- what callers read ----------------------------------------------------------------
    @property
    def deliveries(self) -> list[Delivery]:
        with self._cond:
            return list(self._deliveries)

    @property
    def rejected_count(self) -> int:
        with self._cond:
            return self._rejected

    def wait_for(self, n: int, timeout: float, *, job_id: str | None = None) -> list[Delivery]:
        """Block until ``n`` verified deliveries (for ``job_id`` if given) or ``timeout`` seconds.

        Returns what arrived either way; callers compare the length with ``n``.
        """

        def matching() -> list[Delivery]:
            return [d for d in self._deliveries if job_id is None or d.job_id == job_id]

        with self._cond:
            self._cond.wait_for(lambda: len(matching()) >= n, timeout=timeout)
            return matching()

    # -- request handling -----------------------------------------------------------------
    def _accept(self, body: bytes, headers: dict[str, str]) -> HTTPStatus:
        received_at = datetime.now(UTC)
        try:
            payload = self._webhook.verify(body, headers)
        except (WebhookVerificationError, ValueError) as exc:
            log.warning("webhook rejected: %s", exc)
            with self._cond:
                self._rejected += 1
            return HTTPStatus.UNAUTHORIZED
        if not isinstance(payload, dict):
            return HTTPStatus.BAD_REQUEST
        webhook_id = headers.get("webhook-id", "")
        path = self.directory / f"{_SAFE_ID.sub('_', webhook_id) or 'webhook'}.json"
        record = {"webhook_id": webhook_id, "type": payload.get("type"), "body": payload}
        path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        delivery = Delivery(
            webhook_id=webhook_id,
            type=str(payload.get("type", "")),
            body=payload,
            headers=headers,
            raw=body.decode("utf-8", errors="replace"),
            path=path,
            received_at=received_at,
        )
        with self._cond:
            self._deliveries.append(delivery)
            self._cond.notify_all()
        log.info("webhook %s verified: %s", webhook_id, delivery.type)
        return HTTPStatus.NO_CONTENT

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > _MAX_BODY_BYTES:
                    self.send_response(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
                    self.end_headers()
                    return
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver._accept(body, headers)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("receiver: " + format, *args)

        return Handler
