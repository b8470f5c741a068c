"""Webhook delivery over HTTP(S): the :class:`chalicelib.ports.WebhookSender` of the Lambdas.

A webhook URL is chosen by whoever uploads a manifest, so the Lambda must never become their
way into our network: the host is resolved once, every address it resolves to is vetted
(:func:`chalicelib.webhooks.address_problem`), and the connection goes to a vetted address —
never to a second lookup's answer (DNS rebinding) and never to a redirect's target. TLS still
verifies the certificate against the URL's host name, and SNI and ``Host`` carry that name.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from datetime import UTC, datetime
from typing import Any

from chalicelib.webhooks import (
    Delivery,
    Destination,
    Refused,
    build_message,
    clip_text,
    destination_problem,
    message_id,
    signed_headers,
    vet_destination,
)

__all__ = ["HttpWebhooks", "destination_problem", "send"]


class HttpWebhooks:
    """Sends with the deployment's timeout and loopback rule."""

    def __init__(self, *, timeout: float, allow_loopback: bool) -> None:
        self._timeout = timeout
        self._allow_loopback = allow_loopback

    def send(
        self, url: str, secret: str, *, job_id: str, event_type: str, data: dict[str, Any]
    ) -> Delivery:
        return send(
            url,
            secret,
            job_id=job_id,
            event_type=event_type,
            data=data,
            timeout=self._timeout,
            allow_loopback=self._allow_loopback,
        )


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
    """POST one signed event; a 2xx answer is delivery, anything else is reported, not raised.

    A redirect is a failed (retryable) delivery: following it would let a receiver send our
    signed POST — or a GET — anywhere, including where :func:`address_problem` forbids.
    """
    try:
        destination = vet_destination(url, allow_loopback)
    except Refused as refusal:
        return Delivery(False, error=refusal.reason, retryable=refusal.retryable)
    at = datetime.now(UTC)
    body = build_message(event_type, data, at)
    headers = signed_headers(secret, message_id(job_id, event_type), at, body)
    connection = _connection(destination, timeout)
    try:
        connection.request("POST", destination.target, body=body, headers=headers)
        response = connection.getresponse()
        status = response.status
        location = response.getheader("location")
        response.close()
    except (OSError, http.client.HTTPException) as exc:
        return Delivery(False, error=f"could not reach {destination.netloc}: {exc}")
    finally:
        connection.close()
    if 200 <= status < 300:
        return Delivery(True, status=status)
    if 300 <= status < 400:
        where = f" to {clip_text(location)!r}" if location else ""
        error = f"receiver answered HTTP {status} (redirect{where}); redirects are refused"
        return Delivery(False, status=status, error=error)
    return Delivery(False, status=status, error=f"receiver answered HTTP {status}")


# -- the connection to a vetted address ----------------------------------------------------


def _connection(destination: Destination, timeout: float) -> http.client.HTTPConnection:
    if destination.scheme == "https":
        return _VettedHTTPSConnection(destination, timeout)
    return _VettedHTTPConnection(destination, timeout)


def _open_socket(destination: Destination, timeout: float) -> socket.socket:
    """A TCP connection to the first vetted address that answers; never a new lookup."""
    last_error: OSError = OSError(f"no address to connect to for {destination.host}")
    for family, kind, proto, sockaddr in destination.addresses:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last_error = exc
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise last_error


class _VettedHTTPConnection(http.client.HTTPConnection):
    """HTTP to the vetted address; ``Host`` is the URL's host (http.client sets it)."""

    def __init__(self, destination: Destination, timeout: float) -> None:
        super().__init__(destination.host, destination.port, timeout=timeout)
        self._destination = destination
        self._timeout = timeout

    def connect(self) -> None:
        self.sock = _open_socket(self._destination, self._timeout)


class _VettedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the vetted address; the certificate is checked against the URL's host name,
    which SNI carries too (the default context verifies certificates and host names)."""

    def __init__(self, destination: Destination, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(destination.host, destination.port, timeout=timeout, context=self._tls)
        self._destination = destination
        self._timeout = timeout

    def connect(self) -> None:
        sock = _open_socket(self._destination, self._timeout)
        try:
            self.sock = self._tls.wrap_socket(sock, server_hostname=self._destination.host)
        except BaseException:
            sock.close()
            raise
