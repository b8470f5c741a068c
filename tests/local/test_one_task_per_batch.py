"""Issue 17, item 7: racing launchers of one batch start one task on the local stack.

Twelve small jobs submitted at once make the app's launchers race for the same waiting
batches; each RunTask carries the batch attempt's ``clientToken``, which the local ECS
honours as ECS does, so no second task starts and none is stopped as a duplicate.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from local_helpers import wait_for_final

from cloudburst.local import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local-stack")]  # the real app

WORKER = (sys.executable, str(Path(__file__).parent / "report_only_worker.py"))
JOBS = 12


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    with LocalStack(
        port=0, state_dir=tmp_path / "stack", worker_command=WORKER, max_running_tasks=6
    ) as running:
        yield running


def test_concurrent_submits_start_one_task_per_batch(
    stack: LocalStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    s3 = stack.client("s3")
    s3.put_object(Bucket=stack.bucket, Key="inputs/c/a.png", Body=b"p")
    s3.put_object(Bucket=stack.bucket, Key="inputs/c/a.mp3", Body=b"a")
    manifest = {
        "version": 1,
        "scenes": [
            {"scene_name": f"s{i}", "image_path": "inputs/c/a.png", "audio_path": "inputs/c/a.mp3"}
            for i in range(3)
        ],
        "scenes_per_batch": 1,
        "min_scenes_per_batch": 1,
        "max_parallel_tasks": 3,
    }
    keys = [f"manifests/race-{n}.json" for n in range(JOBS)]

    with ThreadPoolExecutor(JOBS) as pool:
        list(
            pool.map(
                lambda k: s3.put_object(Bucket=stack.bucket, Key=k, Body=json.dumps(manifest)), keys
            )
        )
    jobs = [wait_for_final(stack, key, timeout=180) for key in keys]

    assert [job["status"] for job in jobs] == ["SUCCEEDED"] * JOBS
    store = stack.job_store()
    batches = [b for job in jobs for b in store.list_batches(job["job_id"])]
    assert stack.fargate is not None
    started = list(stack.fargate.tasks)
    assert len(started) == len(batches) == JOBS * 3
    assert sorted(started) == sorted(b.task_arn for b in batches)
    assert "duplicate task stopped" not in caplog.text
