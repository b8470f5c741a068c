"""Signed job-outcome webhooks (Standard Webhooks: webhook-id/-timestamp/-signature): the
message, its signature, the retry back-off and which addresses a webhook may go to (the host
resolved once, every address vetted: :func:`vet_destination`). The connection and the POST
to a vetted address are :mod:`chalicelib.adapters.webhook_http`.

The message id is derived from the job and event type, so every retry of one outcome
carries the same ``webhook-id`` and receivers can de-duplicate (delivery is at-least-once).
"""

from __future__ import annotations

import ipaddress
import json
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

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


# -- where a webhook may go -------------------------------------------------------------------

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_LOOPBACK = "a loopback address"

# Every IPv4 range a webhook must not reach, with the word the refusal uses. Written out
# rather than taken from ``ipaddress``'s ``is_private``/``is_global``, whose answers differ
# between Python versions and which count multicast as global.
REFUSED_IPV4: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(net), label)
    for net, label in (
        ("0.0.0.0/8", "an unspecified ('this network') address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a carrier-grade NAT (shared) address"),
        ("127.0.0.0/8", _LOOPBACK),
        ("169.254.0.0/16", "a link-local (cloud metadata) address"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "a reserved (IETF protocol assignments) address"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.88.99.0/24", "a reserved (6to4 relay anycast) address"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),  # includes the broadcast address 255.255.255.255
    )
)
# IPv6 ranges refused by name; anything else outside global unicast (2000::/3) is refused
# as reserved. The forms that embed an IPv4 address are unwrapped first (see below).
REFUSED_IPV6: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(net), label)
    for net, label in (
        ("::/128", "an unspecified address"),
        ("::1/128", _LOOPBACK),
        ("64:ff9b:1::/48", "a local-use IPv4/IPv6 translation address"),
        ("100::/64", "a discard-only address"),
        ("2001:2::/48", "a benchmarking address"),
        ("2001::/23", "a reserved (IETF protocol assignments, Teredo) address"),
        ("2001:db8::/32", "a documentation address"),
        ("3fff::/20", "a documentation address"),
        ("fc00::/7", "a unique-local address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local (deprecated) address"),
        ("ff00::/8", "a multicast address"),
    )
)
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")


def address_problem(address: IPAddress, allow_loopback: bool) -> str | None:
    """Why a webhook must not connect to ``address``, or None when it may.

    Loopback is allowed only with ``allow_loopback`` (the local stage, whose receiver listens
    on 127.0.0.1). IPv6 forms that carry an IPv4 address (mapped ``::ffff:a.b.c.d``,
    NAT64 ``64:ff9b::a.b.c.d``, 6to4 ``2002:AABB:CCDD::``) are judged by that address, so
    ``[::ffff:169.254.169.254]`` is refused like ``169.254.169.254``; only the mapped form
    of loopback is loopback (the others leave the machine), so only it may be exempted.
    """
    if isinstance(address, ipaddress.IPv4Address):
        label = _ipv4_label(address)
        return None if _allowed(label, allow_loopback) else f"{address} is {label}"
    address = ipaddress.IPv6Address(address.packed)  # drop a %scope: it changes no verdict
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        form, ipv4 = embedded
        label = _ipv4_label(ipv4)
        if _allowed(label, allow_loopback and form == "IPv4-mapped"):
            return None
        return f"{address} is the {form} form of {ipv4}, {label}"
    for network, label in REFUSED_IPV6:
        if address in network:
            return None if _allowed(label, allow_loopback) else f"{address} is {label}"
    if address in _IPV4_COMPATIBLE:
        ipv4 = ipaddress.IPv4Address(address.packed[-4:])
        return f"{address} is the deprecated IPv4-compatible form of {ipv4}"
    if address not in _GLOBAL_UNICAST:
        return f"{address} is a reserved address (outside IPv6 global unicast 2000::/3)"
    return None


def _ipv4_label(address: ipaddress.IPv4Address) -> str | None:
    for network, label in REFUSED_IPV4:
        if address in network:
            return label
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """(form, IPv4 address) for the IPv6 forms that reach an IPv4 address, else None."""
    for network, form in ((_IPV4_MAPPED, "IPv4-mapped"), (_NAT64, "NAT64")):
        if address in network:
            return form, ipaddress.IPv4Address(address.packed[-4:])
    if address in _SIX_TO_FOUR:
        return "6to4", ipaddress.IPv4Address(address.packed[2:6])
    return None


def _allowed(label: str | None, allow_loopback: bool) -> bool:
    return label is None or (label == _LOOPBACK and allow_loopback)


class Refused(Exception):
    """The webhook must not (or, for now, cannot) be sent to this URL."""

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


@dataclass(frozen=True)
class Destination:
    """A webhook URL taken apart, with the addresses its host resolved to, all vetted."""

    scheme: str
    host: str  # ASCII (IDNA) host name or IP literal: for TLS, SNI and the Host header
    port: int
    target: str  # path and query for the request line
    addresses: tuple[tuple[int, int, int, Any], ...]  # (family, type, proto, sockaddr)

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def destination_problem(url: str, allow_loopback: bool) -> str | None:
    """Why a webhook must not go to ``url`` (resolving its host once), or None."""
    try:
        vet_destination(url, allow_loopback)
    except Refused as refusal:
        return refusal.reason
    return None


def vet_destination(url: str, allow_loopback: bool) -> Destination:
    """``url`` taken apart and its host resolved once; raises Refused when it may not be used.

    A host that resolves to ANY refused address is refused, so a name cannot mix one public
    address with a private one and hope the connection picks the latter.
    """
    parts, host, port = parse_url(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise Refused(f"webhook host {host!r} does not resolve: {exc}", retryable=True) from None
    addresses = tuple((family, kind, proto, sockaddr) for family, kind, proto, _, sockaddr in infos)
    if not addresses:
        raise Refused(f"webhook host {host!r} resolves to no address", retryable=True)
    for _, _, _, sockaddr in addresses:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        problem = address_problem(ip, allow_loopback)
        if problem:
            raise Refused(f"webhook host {host!r} is not allowed: {problem}")
    target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    return Destination(parts.scheme, host, port, target, addresses)


def url_problem(url: str) -> str | None:
    """Why ``url`` is not a usable webhook URL by its form alone (no lookup), or None."""
    try:
        parse_url(url)
    except Refused as refusal:
        return refusal.reason
    return None


def parse_url(url: str) -> tuple[SplitResult, str, int]:
    """(parts, ASCII host, port) of an http(s) URL without credentials; raises Refused."""
    if any(ch.isspace() or ord(ch) < 0x20 or ch in "\x7f\\" for ch in url):
        raise Refused("webhook URL contains spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
        hostname = parts.hostname
    except ValueError as exc:  # a bad port or bracketed host
        raise Refused(f"webhook URL is malformed: {exc}") from None
    if "@" in parts.netloc:  # checked first: no message may echo a password
        raise Refused("webhook URL must not carry credentials (user:password@host)")
    if parts.scheme not in ("http", "https") or not hostname:
        raise Refused(f"webhook URL {clip_text(url)!r} is not an http(s) URL")
    try:
        host = hostname.encode("idna").decode("ascii") if not _is_ip(hostname) else hostname
    except UnicodeError:
        raise Refused(f"webhook host {clip_text(hostname)!r} is not a valid host name") from None
    return parts, host, port or (443 if parts.scheme == "https" else 80)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return True


def clip_text(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
