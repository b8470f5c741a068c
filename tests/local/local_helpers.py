"""Helpers for the local-stack tests (a uniquely named module: several conftest.py exist)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.events import job_id_for_upload
from cloudburst.local import LocalStack


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll ``predicate`` until truthy; fail the test with a clear message at ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"condition not met within {timeout}s")


def wait_for_final(stack: LocalStack, key: str, timeout: float) -> dict[str, Any]:
    """The job of the manifest at ``key`` once final (its id derives from the upload's version)."""
    s3 = stack.client("s3")
    version = s3.head_object(Bucket=stack.bucket, Key=key)["VersionId"]
    job_id = job_id_for_upload(stack.bucket, key, f"v:{version}")
    store = stack.job_store()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = store.get_job(job_id)
        if job is not None and job.is_final:
            return {"job_id": job_id, "status": str(job.status)}
        time.sleep(0.5)
    pytest.fail(f"job of {key} not final within {timeout}s")


def use_test_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's in-process mock wants credentials; these never leave the process."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
