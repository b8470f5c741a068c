"""Following and cancelling a job with S3 alone, end to end on the local stack.

These need the pipeline side of issue 13 (the status document ``outputs/<job>/status.json``
and the cancel request ``cancel/<job>.json``). The deployment-wide cap of one running task
keeps a job's later batches waiting, so a cancel lands while batches are still queued.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudburst import list_running_tasks
from cloudburst.cli import main
from cloudburst.client.status import JobStatus, read_status
from cloudburst.demo import make_scene_assets
from cloudburst.local import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

QUIET = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(
        port=0,
        state_dir=tmp_path_factory.mktemp("cancel-stack"),
        extra_env=QUIET,
        max_running_tasks=1,
    ) as running:
        yield running


def submit(folder: Path, name: str, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    """Three batches of one scene each (with the cap, two of them wait)."""
    code = main(
        ["submit", str(folder), "--name", name, "--json", "--scenes-per-batch", "1",
         "--min-scenes-per-batch", "1", "--max-parallel-tasks", "3", "--config-priority", "5",
         *extra]
    )  # fmt: skip
    document = json.loads(capsys.readouterr().out)
    assert code == 0, document
    return str(document["job_id"])


def wait_for_status(stack: LocalStack, job_id: str, timeout: float = 15) -> JobStatus:
    s3 = stack.client("s3")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = read_status(s3, stack.bucket, job_id)
        if found is not None and "batches_waiting" in found.document:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no status document for {job_id} within {timeout} s")


def test_status_and_watch_follow_a_running_job_from_its_status_document(
    stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a job of three one-scene batches, one running at a time
    folder = tmp_path / "ep1"
    make_scene_assets(folder, 3, durations=(1.5, 1.5, 1.5), language="english")
    job_id = submit(folder, "follow", capsys, "--metadata", '{"episode": 12, "来源": "cli"}')

    # when its status document appears, status reads it while the job runs
    early = wait_for_status(stack, job_id)
    assert (early.total_scenes, early.batches_total) == (3, 3)
    assert early.status == "RUNNING"
    assert main(["status", job_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["job_id"] == job_id

    # then watch ends with the outcome line, and the status document is final
    assert main(["watch", job_id, "--timeout", "120"]) == 0
    out = capsys.readouterr().out
    assert "SUCCEEDED: 3/3 scenes · 3 tasks ·" in out
    final = wait_for_status(stack, job_id)
    assert (final.status, final.batches_final, final.tasks_running) == ("SUCCEEDED", 3, 0)
    assert final.document["report_key"] == f"outputs/{job_id}/job.json"
    # and the caller's metadata came back in the status document
    assert final.document["metadata"] == {"episode": 12, "来源": "cli"}


def test_cancel_mid_job_stops_its_task_launches_no_waiting_batch_and_says_so_twice(
    stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a running job whose second and third batches wait behind the cap
    folder = tmp_path / "ep2"
    make_scene_assets(folder, 3, durations=(8.0, 8.0, 8.0), language="english")
    job_id = submit(folder, "cancel-me", capsys)
    running = wait_for_running_task(job_id, timeout=60)

    # when the user cancels it
    code = main(["cancel", job_id, "--reason", "wrong voice", "--json"])
    first = json.loads(capsys.readouterr().out)

    # then the request is written, and the job ends CANCELLED (exit 1 for watch)
    assert (code, first.get("outcome")) == (0, "requested"), first
    assert main(["watch", job_id, "--timeout", "60", "--json"]) == 1
    final = json.loads(capsys.readouterr().out)["status"]
    assert final["status"] == "CANCELLED"
    assert final["cancel_requested"] is True
    # its one running task was stopped and no waiting batch ever got a task
    tasks = job_tasks(stack, job_id)
    assert [t.task_arn for t in tasks] == [running[0]["task_arn"]]
    assert tasks[0].stop_code == "UserInitiated"
    assert list_running_tasks(job_id=job_id) == []
    # the MP4s made before the cancel are kept, and counted
    videos = objects(stack, f"outputs/{job_id}/", ".mp4")
    assert len(videos) == final["scenes_succeeded"]
    # a signed job.cancelled webhook arrived (the receiver verified its signature)
    [hook] = stack.receiver.wait_for(1, timeout=30, job_id=job_id)
    assert hook.type == "job.cancelled"
    assert hook.body["data"]["status"] == "CANCELLED"

    # and cancelling again changes nothing and says so
    assert main(["cancel", job_id, "--json"]) == 1
    again = json.loads(capsys.readouterr().out)
    assert again["outcome"] == "already_ended"
    assert "already ended CANCELLED; nothing changed" in again["message"]
    versions = stack.client("s3").list_object_versions(
        Bucket=stack.bucket, Prefix=f"cancel/{job_id}.json"
    )
    assert len(versions.get("Versions", [])) == 1


def wait_for_running_task(job_id: str, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = [t for t in list_running_tasks(job_id=job_id) if t["status"] == "RUNNING"]
        if tasks:
            return tasks
        time.sleep(0.2)
    raise AssertionError(f"no task of {job_id} running within {timeout} s")


def job_tasks(stack: LocalStack, job_id: str) -> list[Any]:
    assert stack.fargate is not None
    return [
        t
        for t in stack.fargate.tasks.values()
        if str(t.description.get("startedBy", "")).startswith(f"cloudburst/{job_id}/")
    ]


def objects(stack: LocalStack, prefix: str, suffix: str) -> list[str]:
    listed = stack.client("s3").list_objects_v2(Bucket=stack.bucket, Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", []) if o["Key"].endswith(suffix)]
