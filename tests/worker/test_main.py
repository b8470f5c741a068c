"""``python -m cloudburst_worker``: environment in, exit code and JSON log lines out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from cloudburst_worker.__main__ import main
from moto.server import ThreadedMotoServer

from chalicelib.contracts import SceneResult, batch_spec_key, output_key, result_key

from .conftest import BUCKET, JOB_ID, Media, make_spec, scene_with_assets

REPO = Path(__file__).resolve().parents[2]
SPEC_URI = f"s3://{BUCKET}/{batch_spec_key(JOB_ID, 1)}"


def spec_errors(caplog: Any) -> list[str]:
    return [
        r.reason  # type: ignore[attr-defined]
        for r in caplog.records
        if r.getMessage() == "batch spec unusable"
    ]


def test_corrupt_spec_exits_2_with_the_reason_logged(s3: Any, caplog: Any) -> None:
    # given a batch spec that is not JSON at all
    s3.put_object(Bucket=BUCKET, Key=batch_spec_key(JOB_ID, 1), Body=b"{not json")

    # when the worker starts
    with caplog.at_level("INFO", logger="cloudburst-worker"):
        code = main({"BATCH_SPEC": SPEC_URI}, s3=s3)

    # then it exits 2 and says the spec is not a valid batch spec
    assert code == 2
    (reason,) = spec_errors(caplog)
    assert reason.startswith(f"batch spec {SPEC_URI} is not a valid batch spec: ")
    assert "Invalid JSON" in reason


def test_spec_with_an_unknown_field_exits_2_naming_the_field(s3: Any, caplog: Any) -> None:
    # given a spec with a field this worker does not know
    document = json.loads(make_spec([]).model_dump_json()) | {"priority": 3}
    s3.put_object(Bucket=BUCKET, Key=batch_spec_key(JOB_ID, 1), Body=json.dumps(document))

    # when the worker starts
    with caplog.at_level("INFO", logger="cloudburst-worker"):
        code = main({"BATCH_SPEC": SPEC_URI}, s3=s3)

    # then it exits 2 and the reason names the field
    assert code == 2
    (reason,) = spec_errors(caplog)
    assert "priority: Extra inputs are not permitted" in reason


def test_missing_spec_object_exits_2(s3: Any, caplog: Any) -> None:
    # given a URI with nothing behind it
    with caplog.at_level("INFO", logger="cloudburst-worker"):
        code = main({"BATCH_SPEC": SPEC_URI}, s3=s3)

    # then the worker exits 2, saying it could not read the spec
    assert code == 2
    (reason,) = spec_errors(caplog)
    assert reason == f"batch spec {SPEC_URI} could not be read: S3 error NoSuchKey"


@pytest.mark.parametrize("value", ["", "jobs/x/batches/0001.json", "s3://bucket-only"])
def test_absent_or_malformed_batch_spec_variable_exits_2(s3: Any, value: str) -> None:
    assert main({"BATCH_SPEC": value} if value else {}, s3=s3) == 2


def test_main_renders_a_batch_and_exits_0(s3: Any, media: Media) -> None:
    # given a one-scene batch spec in S3
    spec = make_spec([scene_with_assets(s3, media, "scene_001")])
    s3.put_object(Bucket=BUCKET, Key=batch_spec_key(JOB_ID, 1), Body=spec.model_dump_json())

    # when the worker runs it with the real renderer, as the batch's second task
    code = main({"BATCH_SPEC": SPEC_URI, "CLOUDBURST_ATTEMPT": "2"}, s3=s3)

    # then the scene is in S3, its record names the attempt, and the exit code says success
    assert code == 0
    record = s3.get_object(Bucket=BUCKET, Key=result_key(JOB_ID, "scene_001"))["Body"].read()
    result = SceneResult.model_validate_json(record)
    assert (result.status, result.attempt) == ("succeeded", 2)


@pytest.fixture
def moto_endpoint(aws_env: None) -> Iterator[str]:
    """A moto server on loopback, as the local stack runs it for worker subprocesses."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto's backends are process-wide: start each test from an empty account
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    try:
        yield endpoint
    finally:
        server.stop()


def test_worker_process_logs_json_lines_with_job_context_and_exit_code(
    moto_endpoint: str, media: Media
) -> None:
    # given a moto server holding a batch with one good and one missing scene
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    good = scene_with_assets(s3, media, "scene_001")
    bad = good.model_copy(
        update={"scene_name": "scene_002", "audio_uri": f"s3://{BUCKET}/gone.mp3"}
    )
    spec = make_spec([good, bad]).model_copy(update={"batch_number": 3, "attempt": 2})
    spec_uri = f"s3://{BUCKET}/{batch_spec_key(JOB_ID, 3)}"
    s3.put_object(Bucket=BUCKET, Key=batch_spec_key(JOB_ID, 3), Body=spec.model_dump_json())

    # when `python -m cloudburst_worker` runs with only BATCH_SPEC and the endpoint set
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env |= {
        "BATCH_SPEC": spec_uri,
        "AWS_ENDPOINT_URL": moto_endpoint,
        "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'container'}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "cloudburst_worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    # then it exits 1 (one scene failed), stdout is JSON lines, each with the job context
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines, done.stderr
    for line in lines:
        assert line["service"] == "cloudburst-worker"
        assert (line["job_id"], line["batch_number"], line["attempt"]) == (JOB_ID, 3, 2)
    outcomes = {line["scene_name"]: line for line in lines if line["message"].startswith("scene ")}
    assert outcomes["scene_001"]["message"] == "scene succeeded"
    assert outcomes["scene_001"]["render_seconds"] > 0
    assert outcomes["scene_002"]["message"] == "scene failed"
    assert "gone.mp3" in outcomes["scene_002"]["error"]
    assert s3.head_object(Bucket=BUCKET, Key=output_key(JOB_ID, "scene_001"))["ContentLength"]


SLOW_WORKER = """
import time
import cloudburst_worker.batch as batch

def never_finishing_render(scene, settings, output):
    time.sleep(60)
    raise AssertionError("SIGTERM should have stopped the worker")

batch.run_batch.__defaults__ = (never_finishing_render,)
from cloudburst_worker.__main__ import main
raise SystemExit(main())
"""


def test_sigterm_stops_the_worker_at_once_with_a_log_line(moto_endpoint: str, media: Media) -> None:
    # given a worker busy rendering a scene
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    spec = make_spec([scene_with_assets(s3, media, "scene_001")])
    s3.put_object(Bucket=BUCKET, Key=batch_spec_key(JOB_ID, 1), Body=spec.model_dump_json())
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env |= {
        "BATCH_SPEC": SPEC_URI,
        "AWS_ENDPOINT_URL": moto_endpoint,
        "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'container'}",
    }
    worker = subprocess.Popen(
        [sys.executable, "-c", SLOW_WORKER], env=env, stdout=subprocess.PIPE, text=True
    )
    assert worker.stdout is not None
    lines = []
    for line in worker.stdout:
        lines.append(json.loads(line))
        if lines[-1]["message"] == "batch started":
            break
    time.sleep(0.3)  # let the render begin

    # when ECS stops the task
    worker.send_signal(signal.SIGTERM)
    started = time.monotonic()
    code = worker.wait(timeout=10)

    # then it exits promptly with 128+SIGTERM, saying why, and leaves no record behind
    assert time.monotonic() - started < 5
    assert code == 128 + signal.SIGTERM
    last = json.loads(worker.stdout.read().splitlines()[-1])
    assert last["message"].startswith("SIGTERM")
    assert last["job_id"] == JOB_ID
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"jobs/{JOB_ID}/results/")
    assert "Contents" not in listed
