"""Issue 17, item 6: the local stack keeps its state and webhook secret across restarts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from local_helpers import wait_for_final
from standardwebhooks import Webhook

from cloudburst.local import LocalStack
from cloudburst.local.stack import StackError, reset_state

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local-stack")]  # the real app

WORKER = (sys.executable, str(Path(__file__).parent / "report_only_worker.py"))


def persistent(state_dir: Path) -> LocalStack:
    return LocalStack(port=0, state_dir=state_dir, worker_command=WORKER, persist=True)


def submit(stack: LocalStack, name: str) -> dict[str, Any]:
    s3 = stack.client("s3")
    s3.put_object(Bucket=stack.bucket, Key=f"inputs/{name}/a.png", Body=b"p")
    s3.put_object(Bucket=stack.bucket, Key=f"inputs/{name}/a.mp3", Body=b"a")
    manifest = {
        "version": 1,
        "scenes": [
            {
                "scene_name": "s1",
                "image_path": f"inputs/{name}/a.png",
                "audio_path": f"inputs/{name}/a.mp3",
            }
        ],
    }
    key = f"manifests/{name}.json"
    s3.put_object(Bucket=stack.bucket, Key=key, Body=json.dumps(manifest).encode())
    return wait_for_final(stack, key, timeout=60)


def keys(stack: LocalStack) -> set[str]:
    pages = stack.client("s3").get_paginator("list_objects_v2").paginate(Bucket=stack.bucket)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def test_a_restarted_stack_keeps_jobs_objects_and_its_webhook_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLOUDBURST_WEBHOOK_SECRET", raising=False)
    state_dir = tmp_path / ".local-stack"
    with persistent(state_dir) as first:
        before = submit(first, "before")
        first.receiver.wait_for(1, timeout=30, job_id=before["job_id"])
        secret, receiver_url, objects = first.webhook_secret, first.receiver.url, keys(first)
        assert not first.resumed

    with persistent(state_dir) as second:
        assert second.resumed
        assert second.webhook_secret == secret
        assert second.receiver.url == receiver_url  # old jobs' webhook URLs still answer
        assert keys(second) >= objects
        job = second.job_store().get_job(before["job_id"])
        assert job is not None
        assert str(job.status) == "SUCCEEDED"

        after = submit(second, "after")  # the pipeline goes on as before

        assert after["status"] == "SUCCEEDED"
        [delivery] = second.receiver.wait_for(1, timeout=30, job_id=after["job_id"])
        # a receiver of the user's own, still holding the first run's secret, accepts it
        assert (
            Webhook(secret).verify(delivery.raw, delivery.headers)["data"]["job_id"]
            == (after["job_id"])
        )
        with pytest.raises(StackError, match="stop it first"):
            reset_state(state_dir)  # not while it runs

    assert reset_state(state_dir)
    with persistent(state_dir) as clean:
        assert not clean.resumed
        assert clean.webhook_secret != secret
        assert clean.job_store().get_job(before["job_id"]) is None
