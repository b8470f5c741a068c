"""A stand-in worker for the local-stack tests: reports every scene of its batch rendered,
with the standard library only (about 30 ms to start, where boto3 alone takes 250 ms), so
fifty tasks exercise the orchestration around the worker and not Python's imports.

It talks to the stack's S3 path-style with SigV4-signed requests (the bucket refuses
anonymous ones); the records have the worker's own shape
(``chalicelib.contracts.SceneResult``), which the completion Lambda validates.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import urllib.parse
from datetime import UTC, datetime


def main() -> None:
    endpoint = urllib.parse.urlsplit(os.environ["AWS_ENDPOINT_URL"])
    assert endpoint.hostname in ("127.0.0.1", "localhost")
    bucket, _, key = os.environ["BATCH_SPEC"].removeprefix("s3://").partition("/")
    connection = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=60)
    spec = json.loads(_call(connection, "GET", f"/{bucket}/{key}"))
    for scene in spec["scenes"]:
        name = scene["scene_name"]
        record = {
            "job_id": spec["job_id"],
            "batch_number": spec["batch_number"],
            "attempt": spec["attempt"],
            "scene_name": name,
            "status": "succeeded",
            "output_key": f"{spec['outputs_prefix']}{name}.mp4",
            "bytes": 1,
            "duration_seconds": 1.0,
            "render_seconds": 0.01,
        }
        path = f"/{spec['bucket']}/{urllib.parse.quote(spec['results_prefix'] + name)}.json"
        _call(connection, "PUT", path, json.dumps(record).encode())


def _call(
    connection: http.client.HTTPConnection, method: str, path: str, body: bytes = b""
) -> bytes:
    """One request, tried again on a dropped connection (the stack may be loaded)."""
    for attempt in range(5):
        try:
            connection.request(method, path, body=body or None, headers=_signed(method, path, body))
            response = connection.getresponse()
            data = response.read()
        except (ConnectionError, TimeoutError, http.client.HTTPException):
            connection.close()
            if attempt == 4:
                raise
            continue
        if response.status >= 300:
            raise SystemExit(f"{method} {path}: HTTP {response.status} {data[:200]!r}")
        return data
    raise AssertionError("unreachable")


def _signed(method: str, path: str, body: bytes) -> dict[str, str]:
    """SigV4 headers for one S3 request with the stack's dummy credentials."""
    key_id, secret = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    region = os.environ.get("AWS_REGION", "us-east-1")
    now = datetime.now(UTC)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    host = urllib.parse.urlsplit(os.environ["AWS_ENDPOINT_URL"]).netloc
    payload = hashlib.sha256(body).hexdigest()
    headers = {"host": host, "x-amz-content-sha256": payload, "x-amz-date": stamp}
    names = ";".join(sorted(headers))
    canonical = "\n".join(
        [method, path, "", *(f"{k}:{headers[k]}" for k in sorted(headers)), "", names, payload]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = f"AWS4{secret}".encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, SignedHeaders={names}, "
        f"Signature={signature}"
    )
    del headers["host"]
    return headers


if __name__ == "__main__":
    main()
