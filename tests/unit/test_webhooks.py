"""Webhooks are Standard Webhooks, sent only where they may go.

Signatures are verified by the standardwebhooks library itself. Destinations are judged by
the pure checks (a table row per refused range); the connection tests run a fake resolver
(numeric hosts only, plus a table of names) so no test sends a packet beyond loopback.
"""

import base64
import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from chalicelib import webhooks
from chalicelib.adapters import webhook_http
from cloudburst.local.receiver import WebhookReceiver

SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()
_REAL_GETADDRINFO = socket.getaddrinfo


class FakeDNS:
    """``socket.getaddrinfo`` that answers numeric hosts itself and names from a table.

    ``answers[name]`` is a list of answers, one per successive lookup (the last repeats),
    so a test can play a rebinding resolver. Every looked-up host is kept in ``lookups``.
    """

    def __init__(self) -> None:
        self.answers: dict[str, list[list[str]]] = {"localhost": [["127.0.0.1", "::1"]]}
        self.lookups: list[str] = []

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):
        self.lookups.append(host)
        try:
            return _REAL_GETADDRINFO(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        except socket.gaierror:
            pass
        answers = self.answers.get(host)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answer = answers[min(self.lookups.count(host), len(answers)) - 1]
        return [
            info
            for ip in answer
            for info in _REAL_GETADDRINFO(ip, port, 0, type, proto, socket.AI_NUMERICHOST)
        ]


@pytest.fixture(autouse=True)
def dns(monkeypatch) -> FakeDNS:
    fake = FakeDNS()
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


def deliver(url: str, *, allow_loopback: bool, timeout: float = 5) -> webhooks.Delivery:
    return webhook_http.send(
        url,
        SECRET,
        job_id="j",
        event_type="job.succeeded",
        data={"job_id": "j"},
        timeout=timeout,
        allow_loopback=allow_loopback,
    )


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
        delivery = webhook_http.send(
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
        delivery = webhook_http.send(
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
    delivery = webhook_http.send(
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
    problem = webhook_http.destination_problem("http://localhost:8080/hook", allow_loopback=False)

    assert problem is not None
    assert "not allowed" in problem
    assert webhook_http.destination_problem("ftp://example.com/x", allow_loopback=True) is not None


def test_undelivered_webhooks_are_retried_with_doubling_delays_then_given_up() -> None:
    from chalicelib.webhooks import MAX_ATTEMPTS, Delivery, retry_delay

    failed = Delivery(False, status=503, error="receiver answered HTTP 503")
    delays = [retry_delay(n, failed) for n in range(1, MAX_ATTEMPTS + 1)]
    assert delays == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16)] + [None]
    assert retry_delay(1, Delivery(True, status=204)) is None
    refused = Delivery(False, error="webhook URL 'ftp://x' is not an http(s) URL", retryable=False)
    assert retry_delay(1, refused) is None


# -- which addresses a webhook may reach: one row per refused range -------------------------

REFUSED_ADDRESSES = [
    # (address, words the refusal must say)
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("10.0.0.1", "private"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("169.254.169.254", "link-local"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.0.0.8", "reserved"),
    ("192.0.2.1", "documentation"),
    ("192.88.99.1", "reserved"),
    ("192.168.1.1", "private"),
    ("198.18.0.1", "benchmarking"),
    ("198.19.255.1", "benchmarking"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("224.0.0.251", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("64:ff9b:1::a00:1", "local-use IPv4/IPv6 translation"),
    ("100::1", "discard-only"),
    ("2001:2::1", "benchmarking"),
    ("2001::1", "reserved"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("fc00::1", "unique-local"),
    ("fd00::1", "unique-local"),
    ("fe80::1", "link-local"),
    ("fe80::1%1", "link-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("5f00::1", "reserved"),
    ("4000::1", "reserved"),
    # IPv6 forms of IPv4 addresses are judged by the IPv4 address they reach
    ("::ffff:127.0.0.1", "IPv4-mapped form of 127.0.0.1, a loopback"),
    ("::ffff:169.254.169.254", "IPv4-mapped form of 169.254.169.254, a link-local"),
    ("::ffff:10.1.2.3", "IPv4-mapped form of 10.1.2.3, a private"),
    ("::127.0.0.1", "IPv4-compatible form of 127.0.0.1"),
    ("::8.8.8.8", "IPv4-compatible form of 8.8.8.8"),
    ("64:ff9b::7f00:1", "NAT64 form of 127.0.0.1, a loopback"),
    ("64:ff9b::a9fe:a9fe", "NAT64 form of 169.254.169.254"),
    ("64:ff9b::6440:1", "NAT64 form of 100.64.0.1, a carrier-grade NAT"),
    ("2002:7f00:1::1", "6to4 form of 127.0.0.1, a loopback"),
    ("2002:a00:1::", "6to4 form of 10.0.0.1, a private"),
    ("2002:c0a8:101::1", "6to4 form of 192.168.1.1"),
]


@pytest.mark.parametrize(("address", "reason"), REFUSED_ADDRESSES)
def test_special_addresses_are_refused_in_every_stage(address, reason):
    ip = ipaddress.ip_address(address)

    problem = webhooks.address_problem(ip, allow_loopback=False)

    assert problem is not None
    assert reason in problem
    if "loopback" not in reason:  # the local stage's exemption covers loopback only
        assert webhooks.address_problem(ip, allow_loopback=True) == problem


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "100.63.255.255",
        "100.128.0.1",
        "172.32.0.1",
        "192.169.0.1",
        "198.20.0.1",
        "223.255.255.254",
        "2606:4700:4700::1111",
        "2a00:1450:4001:82a::200e",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_public_addresses_and_their_ipv6_forms_are_allowed(address):
    assert webhooks.address_problem(ipaddress.ip_address(address), allow_loopback=False) is None


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_the_local_stage_may_reach_loopback(address):
    assert webhooks.address_problem(ipaddress.ip_address(address), allow_loopback=True) is None


@pytest.mark.parametrize("address", ["64:ff9b::7f00:1", "2002:7f00:1::1"])
def test_translated_forms_of_loopback_leave_the_machine_so_the_local_stage_refuses_them(address):
    assert webhooks.address_problem(ipaddress.ip_address(address), allow_loopback=True)


def test_every_refused_range_has_a_row_in_the_table():
    rows = [ipaddress.ip_address(address.split("%")[0]) for address, _ in REFUSED_ADDRESSES]
    networks = [net for net, _ in webhooks.REFUSED_IPV4 + webhooks.REFUSED_IPV6]

    untested = [net for net in networks if not any(ip in net for ip in rows)]

    assert untested == []


# -- which URLs a webhook may use ---------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/x", "not an http(s) URL"),
        ("javascript:alert(1)", "not an http(s) URL"),
        ("http:///hooks", "not an http(s) URL"),
        ("https://hooks.example.com:99999/", "malformed"),
        ("https://user:hunter2@hooks.example.com/", "must not carry credentials"),
        ("https://user@hooks.example.com/", "must not carry credentials"),
        ("https://hooks.example.com\\@169.254.169.254/", "backslashes"),
        ("https://hooks.exa mple.com/", "spaces"),
        ("https://hooks.example.com/\r\nX-Injected: 1", "control characters"),
        ("https://" + "a" * 64 + ".example.com/", "not a valid host name"),
    ],
)
def test_malformed_or_credentialed_urls_are_refused_by_their_form(url, reason):
    problem = webhooks.url_problem(url)

    assert problem is not None
    assert reason in problem
    assert "hunter2" not in problem


@pytest.mark.parametrize(
    ("url", "answers", "reason"),
    [
        ("https://hooks.example.com/h", ["10.1.2.3"], "10.1.2.3 is a private address"),
        ("https://hooks.example.com/h", ["93.184.215.14", "10.0.0.1"], "10.0.0.1 is a private"),
        ("https://hooks.example.com/h", ["2606:2800::1", "fd00::1"], "fd00::1 is a unique-local"),
        ("https://hooks.example.com/h", ["::ffff:127.0.0.1"], "IPv4-mapped form of 127.0.0.1"),
        ("http://localhost:8080/hook", None, "127.0.0.1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]:8080/", None, "IPv4-mapped form of 127.0.0.1"),
        ("http://[::ffff:169.254.169.254]/", None, "169.254.169.254, a link-local"),
        ("http://[fd00::1]/", None, "unique-local"),
        ("http://2130706433/", None, "127.0.0.1 is a loopback"),
        ("http://0x7f.1/", None, "127.0.0.1 is a loopback"),
        ("http://169.254.169.254/latest/meta-data/", None, "link-local"),
        ("http://100.64.0.1/", None, "carrier-grade NAT"),
    ],
)
def test_a_host_resolving_to_any_refused_address_is_refused(dns, url, answers, reason):
    if answers:
        dns.answers["hooks.example.com"] = [answers]

    problem = webhook_http.destination_problem(url, allow_loopback=False)

    assert problem is not None
    assert "is not allowed" in problem
    assert reason in problem


def test_a_host_resolving_only_to_public_addresses_is_allowed(dns):
    dns.answers["hooks.example.com"] = [["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]]

    assert (
        webhook_http.destination_problem("https://hooks.example.com/h", allow_loopback=False)
        is None
    )


# -- the connection goes to the vetted address and nowhere else ---------------------------


def test_the_connection_goes_to_the_vetted_address_with_the_url_host_in_host(dns, tmp_path):
    with WebhookReceiver(SECRET, tmp_path) as receiver:
        port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
        dns.answers["hooks.example.com"] = [["127.0.0.1"]]

        delivery = deliver(f"http://hooks.example.com:{port}/hooks/cloudburst", allow_loopback=True)
        [received] = receiver.wait_for(1, timeout=5)

    assert delivery.ok
    assert received.headers["host"] == f"hooks.example.com:{port}"
    assert dns.lookups == ["hooks.example.com"]


def test_a_resolver_answering_differently_later_does_not_move_the_connection(dns, tmp_path):
    with WebhookReceiver(SECRET, tmp_path) as receiver:
        port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
        # Nothing listens on 127.0.0.2: a second lookup's answer would fail the delivery.
        dns.answers["rebind.example.com"] = [["127.0.0.1"], ["127.0.0.2"]]

        delivery = deliver(
            f"http://rebind.example.com:{port}/hooks/cloudburst", allow_loopback=True
        )
        received = receiver.wait_for(1, timeout=5)

    assert delivery.ok, delivery.error
    assert len(received) == 1
    assert dns.lookups == ["rebind.example.com"]


@pytest.mark.parametrize(
    "host", ["hooks.example.com", "localhost", "[::ffff:127.0.0.1]", "2130706433", "127.0.0.1"]
)
def test_loopback_in_any_spelling_is_refused_outside_the_local_stage(dns, tmp_path, host):
    dns.answers["hooks.example.com"] = [["127.0.0.1"]]
    with WebhookReceiver(SECRET, tmp_path) as receiver:
        port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])

        delivery = deliver(f"http://{host}:{port}/hooks/cloudburst", allow_loopback=False)

        assert receiver.deliveries == []
    assert not delivery.ok
    assert not delivery.retryable
    assert "loopback" in (delivery.error or "")


def test_a_host_that_does_not_resolve_is_a_retryable_failure():
    delivery = deliver("https://nowhere.invalid/hook", allow_loopback=False)

    assert not delivery.ok
    assert delivery.retryable
    assert "does not resolve" in (delivery.error or "")


def test_credentials_in_the_url_are_refused_without_echoing_them():
    delivery = deliver("https://bot:hunter2@hooks.example.com/h", allow_loopback=False)

    assert not delivery.ok
    assert not delivery.retryable
    assert "hunter2" not in (delivery.error or "")


class ScriptedServer:
    """A real HTTP(S) server on 127.0.0.1 that answers POST /hooks with ``status`` and
    ``headers`` and 200 with a secret body to anything else, keeping every request line."""

    def __init__(self, status: int = 204, headers=None, tls: ssl.SSLContext | None = None):
        self.status = status
        self.headers = headers or {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.server_names: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                server.requests.append(
                    (self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                )
                if self.path == "/hooks":
                    self.send_response(server.status)
                    for name, value in server.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self.send_response(200)
                    self.send_header("Content-Length", "6")
                    self.end_headers()
                    self.wfile.write(b"secret")

            do_GET = do_POST = _answer

            def log_message(self, format, *args) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> "ScriptedServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


def test_a_redirect_is_never_followed_and_is_a_retryable_failure(dns):
    with ScriptedServer(302) as server:
        server.headers["Location"] = f"http://127.0.0.1:{server.port}/latest/meta-data/iam/"
        dns.answers["hooks.example.com"] = [["127.0.0.1"]]

        delivery = deliver(f"http://hooks.example.com:{server.port}/hooks", allow_loopback=True)

    assert not delivery.ok
    assert delivery.status == 302
    assert "redirects are refused" in (delivery.error or "")
    assert delivery.retryable
    assert webhooks.retry_delay(1, delivery) == timedelta(minutes=1)
    assert [(method, path) for method, path, _ in server.requests] == [("POST", "/hooks")]


@pytest.mark.parametrize("status", [301, 303, 307, 308])
def test_no_redirect_status_counts_as_delivery(dns, status):
    with ScriptedServer(status, {"Location": "/elsewhere"}) as server:
        dns.answers["hooks.example.com"] = [["127.0.0.1"]]

        delivery = deliver(f"http://hooks.example.com:{server.port}/hooks", allow_loopback=True)

    assert not delivery.ok
    assert delivery.status == status
    assert len(server.requests) == 1


# -- TLS: the vetted address, the URL's name ----------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject, issuer, key, signing_key, *, ca: bool, dns_name: str | None = None):
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
            critical=False,
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(dns_name or "")]), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


@pytest.fixture
def tls_for(tmp_path, monkeypatch) -> Callable[[str], ssl.SSLContext]:
    """``tls_for(name)``: a server context whose certificate (from a test CA that the
    client's default context trusts through SSL_CERT_FILE) names ``name``."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate(
        _name("CloudBurst test CA"), _name("CloudBurst test CA"), ca_key, ca_key, ca=True
    )
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))

    def make(name: str) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(_name(name), ca.subject, key, ca_key, ca=False, dns_name=name)
        chain: Path = tmp_path / f"{name}.pem"
        chain.write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain)
        return context

    return make


def test_tls_verifies_the_url_host_name_and_sends_it_as_sni_to_the_vetted_address(dns, tls_for):
    with ScriptedServer(204, tls=tls_for("hooks.example.com")) as server:
        dns.answers["hooks.example.com"] = [["127.0.0.1"], ["127.0.0.2"]]

        delivery = deliver(f"https://hooks.example.com:{server.port}/hooks", allow_loopback=True)

    assert delivery.ok, delivery.error
    assert server.server_names == ["hooks.example.com"]
    assert server.requests[0][2]["host"] == f"hooks.example.com:{server.port}"
    assert dns.lookups == ["hooks.example.com"]


def test_a_certificate_for_another_name_fails_the_delivery(dns, tls_for):
    with ScriptedServer(204, tls=tls_for("other.example.com")) as server:
        dns.answers["hooks.example.com"] = [["127.0.0.1"]]

        delivery = deliver(f"https://hooks.example.com:{server.port}/hooks", allow_loopback=True)

    assert not delivery.ok
    assert delivery.retryable
    assert "hostname mismatch" in (delivery.error or "").lower()
    assert server.requests == []
