"""The whole pipeline on the embedded local stack, driven the way a user drives it.

Plain boto3 (endpoint + dummy credentials) uploads assets and a manifest; everything after
that — intake, planning, RunTask, the worker, completion, report, webhook — is the
production code reacting to events.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import boto3
import pytest
from standardwebhooks import Webhook

from chalicelib.contracts import status_key
from chalicelib.events import job_id_for_upload
from cloudburst.demo import SceneAssets, download_prefix, make_scene_assets, upload_job
from cloudburst.local import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

FPS = 30
JOB_TIMEOUT_SECONDS = 90


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(port=0, state_dir=tmp_path_factory.mktemp("local-stack")) as running:
        yield running


@pytest.fixture(scope="module")
def s3(stack: LocalStack) -> Any:
    """What a user writes: plain boto3 with an endpoint and dummy credentials."""
    return boto3.client(
        "s3",
        endpoint_url=stack.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def wait_for_final_job(stack: LocalStack, manifest_key: str) -> dict[str, Any]:
    """The job's status document once final, found as a client finds it: from the version
    id of its upload (the bucket is versioned)."""
    s3 = stack.client("s3")
    version = s3.head_object(Bucket=stack.bucket, Key=manifest_key)["VersionId"]
    job_id = job_id_for_upload(stack.bucket, manifest_key, f"v:{version}")
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            body = s3.get_object(Bucket=stack.bucket, Key=status_key(job_id))["Body"].read()
        except s3.exceptions.NoSuchKey:
            body = b"{}"
        status = json.loads(body)
        if status.get("status", "RUNNING") != "RUNNING":
            return status  # type: ignore[no-any-return]
        time.sleep(0.25)
    pytest.fail(f"no final job for {manifest_key} within {JOB_TIMEOUT_SECONDS}s")


def tasks_of(stack: LocalStack, job_id: str) -> list[Any]:
    assert stack.fargate is not None
    return [
        task
        for task in stack.fargate.tasks.values()
        if job_id in task.environment.get("BATCH_SPEC", "")
    ]


def probe(path: Path) -> dict[str, Any]:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        return {
            "size": (video.codec_context.width, video.codec_context.height),
            "video_codec": video.codec_context.name,
            "audio_codec": audio.codec_context.name,
            "video_seconds": float(video.duration * video.time_base),
            "audio_seconds": float(audio.duration * audio.time_base),
        }


def audio_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        return float(container.duration) / av.time_base


def test_a_four_scene_manifest_renders_end_to_end(
    stack: LocalStack, s3: Any, tmp_path: Path
) -> None:
    scenes: list[SceneAssets] = make_scene_assets(
        tmp_path / "assets", 4, durations=(2.0, 2.6, 1.7, 2.3), subtitles_every=2
    )
    key = upload_job(
        s3,
        stack.bucket,
        scenes,
        name="e2e-four",
        options={
            "language": "english",
            "scenes_per_batch": 2,
            "max_parallel_tasks": 2,
            "config_priority": 5,
        },
    )

    job = wait_for_final_job(stack, key)

    assert job["status"] == "SUCCEEDED"
    tasks = tasks_of(stack, job["job_id"])
    assert len(tasks) == 2
    assert [t.exit_code for t in tasks] == [0, 0]
    assert {(t.events[-1]["cpu"], t.events[-1]["memory"]) for t in tasks} == {("1024", "2048")}
    described = stack.client("ecs").describe_tasks(
        cluster=stack.cluster, tasks=[t.task_arn for t in tasks]
    )["tasks"]
    outcomes = {(d["lastStatus"], d["stopCode"], d["containers"][0]["exitCode"]) for d in described}
    assert outcomes == {("STOPPED", "EssentialContainerExited", 0)}

    results = download_prefix(s3, stack.bucket, f"outputs/{job['job_id']}/", tmp_path / "out")
    assert sorted(str(p.relative_to(tmp_path / "out")) for p in results) == [
        "contact_sheet.jpg",
        "job.json",
        *(f"posters/{scene.scene_name}.jpg" for scene in scenes),
        "scene_001.mp4",
        "scene_002.mp4",
        "scene_003.mp4",
        "scene_004.mp4",
        "status.json",
    ]
    for scene in scenes:
        info = probe(tmp_path / "out" / f"{scene.scene_name}.mp4")
        expected = audio_seconds(scene.audio)
        assert info["size"] == (1920, 1080)
        assert (info["video_codec"], info["audio_codec"]) == ("h264", "aac")
        assert abs(info["video_seconds"] - expected) <= 1 / FPS + 1e-6, (scene, info, expected)

    report = json.loads((tmp_path / "out" / "job.json").read_text())
    assert report["job_id"] == job["job_id"]
    assert report["success"] is True
    assert report["manifest_key"] == key
    assert report["outputs_prefix"] == f"outputs/{job['job_id']}/"
    assert (report["total_scenes"], report["successful_scenes"], report["failed_scenes"]) == (
        4,
        4,
        0,
    )
    assert report["tasks_used"] == 2
    assert len(report["task_results"]) == 2
    assert report["total_cost_usd"] > 0
    assert sorted(report["outputs"]) == [
        f"outputs/{job['job_id']}/scene_00{n}.mp4" for n in range(1, 5)
    ]

    hooks = stack.receiver.wait_for(1, timeout=20, job_id=job["job_id"])
    assert stack.wait_until_quiet(timeout=20)
    hooks = [d for d in stack.receiver.deliveries if d.job_id == job["job_id"]]
    assert [h.type for h in hooks] == ["job.succeeded"]
    Webhook(stack.webhook_secret).verify(hooks[0].raw, hooks[0].headers)  # independently
    assert hooks[0].body["data"]["job_id"] == job["job_id"]
    assert hooks[0].body["data"]["successful_scenes"] == 4
    assert set(stack.dead_letters().values()) == {0}


MISSING_ASSET = {
    "scene_name": "scene_001",
    "image_path": "inputs/e2e-bad/ok.png",
    "audio_path": "inputs/e2e-bad/missing.mp3",
}
UNSAFE_NAME = {
    "scene_name": "../escape",
    "image_path": "inputs/e2e-bad/ok.png",
    "audio_path": "inputs/e2e-bad/ok.mp3",
}


@pytest.mark.parametrize(
    ("name", "scene", "named_in_errors"),
    [
        ("missing-asset", MISSING_ASSET, "inputs/e2e-bad/missing.mp3"),
        ("unsafe-name", UNSAFE_NAME, "../escape"),
    ],
    ids=["missing-asset", "unsafe-scene-name"],
)
def test_a_bad_manifest_is_rejected_with_reasons_and_starts_nothing(
    stack: LocalStack,
    s3: Any,
    tmp_path: Path,
    name: str,
    scene: dict[str, str],
    named_in_errors: str,
) -> None:
    [assets] = make_scene_assets(tmp_path / "assets", 1, durations=(1.0,))
    s3.upload_file(str(assets.image), stack.bucket, "inputs/e2e-bad/ok.png")
    s3.upload_file(str(assets.audio), stack.bucket, "inputs/e2e-bad/ok.mp3")
    manifest = {"version": 1, "scenes": [scene], "config_priority": 5}
    tasks_before = set(all_task_arns(stack))
    key = f"manifests/e2e-{name}.json"

    s3.put_object(Bucket=stack.bucket, Key=key, Body=json.dumps(manifest).encode())
    job = wait_for_final_job(stack, key)

    assert job["status"] == "REJECTED"
    report = json.loads(
        s3.get_object(Bucket=stack.bucket, Key=f"outputs/{job['job_id']}/job.json")["Body"].read()
    )
    assert report["success"] is False
    assert any(named_in_errors in error for error in report["errors"]), report["errors"]
    stack.receiver.wait_for(1, timeout=20, job_id=job["job_id"])
    assert stack.wait_until_quiet(timeout=20)
    hooks = [d for d in stack.receiver.deliveries if d.job_id == job["job_id"]]
    assert [h.type for h in hooks] == ["job.rejected"]
    assert hooks[0].body["data"]["errors"] == report["errors"]
    assert set(all_task_arns(stack)) == tasks_before
    assert not any(t for t in tasks_of(stack, job["job_id"]))


def all_task_arns(stack: LocalStack) -> list[str]:
    ecs = stack.client("ecs")
    arns: list[str] = []
    for page in ecs.get_paginator("list_tasks").paginate(cluster=stack.cluster):
        arns.extend(page["taskArns"])
    for page in ecs.get_paginator("list_tasks").paginate(
        cluster=stack.cluster, desiredStatus="STOPPED"
    ):
        arns.extend(page["taskArns"])
    return arns


def test_only_json_under_manifests_reaches_the_intake_handler(stack: LocalStack, s3: Any) -> None:
    assert stack.dispatcher is not None
    before = stack.dispatcher.invocations["on_manifest_uploaded"]

    for key in ("manifests/notes.txt", "inputs/scene.json", "manifestsx/a.json"):
        s3.put_object(Bucket=stack.bucket, Key=key, Body=b"{}")
    assert stack.wait_until_quiet(timeout=20)
    assert stack.dispatcher.invocations["on_manifest_uploaded"] == before

    s3.put_object(Bucket=stack.bucket, Key="manifests/sub/empty.json", Body=b"{}")
    job = wait_for_final_job(stack, "manifests/sub/empty.json")
    assert job["status"] == "REJECTED"  # matched, read, and refused with a reason
    assert stack.wait_until_quiet(timeout=20)  # the handler has returned
    assert stack.dispatcher.invocations["on_manifest_uploaded"] == before + 1


def test_one_manifest_with_a_missing_asset_and_an_unsafe_name_names_both(
    stack: LocalStack, s3: Any, tmp_path: Path
) -> None:
    [assets] = make_scene_assets(tmp_path / "assets", 1, durations=(1.0,))
    s3.upload_file(str(assets.image), stack.bucket, "inputs/e2e-bad/ok.png")
    s3.upload_file(str(assets.audio), stack.bucket, "inputs/e2e-bad/ok.mp3")
    manifest = {"version": 1, "scenes": [MISSING_ASSET, UNSAFE_NAME], "config_priority": 5}

    s3.put_object(
        Bucket=stack.bucket, Key="manifests/e2e-both.json", Body=json.dumps(manifest).encode()
    )
    job = wait_for_final_job(stack, "manifests/e2e-both.json")

    assert job["status"] == "REJECTED"
    errors = " | ".join(job["errors"])
    assert "../escape" in errors
    assert "inputs/e2e-bad/missing.mp3" in errors


BROKEN_SRT = "1\n00:00:00,000 --> 00:00:01,000\nhello\n\n2\nnot a timing line\n"


def test_a_failed_scenes_reason_reaches_status_json_and_the_cli_and_the_upload_finds_its_job(
    stack: LocalStack,
    s3: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cloudburst.cli import main

    # given two scenes, the second with a subtitle the worker cannot read
    scenes = make_scene_assets(tmp_path / "assets", 2, durations=(1.0, 1.0), subtitles_every=1)
    assert scenes[1].subtitle is not None
    scenes[1].subtitle.write_text(BROKEN_SRT)
    assert stack.dispatcher is not None
    reported_before = stack.dispatcher.invocations["on_scene_reported"]
    options = {"language": "english", "scenes_per_batch": 2, "config_priority": 5}
    key = upload_job(s3, stack.bucket, scenes, name="e2e-oneBad", options=options)
    version = s3.head_object(Bucket=stack.bucket, Key=key)["VersionId"]

    # when the job ends
    job = wait_for_final_job(stack, key)

    # then the upload's pointer names the job (README: aws s3 cp s3://B/uploads/<key>/<v>.json -)
    pointer_key = f"uploads/{key}/{version}.json"
    pointer = json.loads(s3.get_object(Bucket=stack.bucket, Key=pointer_key)["Body"].read())
    assert pointer["job_id"] == job["job_id"]
    assert job["job_id"].startswith("e2e-oneBad-")  # the name keeps its case
    # and status.json says why the scene failed, counting as job.json does
    assert job["status"] == "PARTIAL"
    assert (job["scenes_succeeded"], job["scenes_failed"], job["total_scenes"]) == (1, 1, 2)
    assert job["errors_total"] == 1
    [reason] = job["errors"]
    assert reason.startswith("scene 'scene_002': ")  # named once
    assert "line 6: expected a timing line" in reason
    # and every result record reached the scene-reported handler as the worker wrote it
    assert stack.wait_until_quiet(timeout=20)
    assert stack.dispatcher.invocations["on_scene_reported"] - reported_before == 2
    # and `cloudburst status` prints the reason and the same counts
    assert main(["status", job["job_id"]]) == 1
    out = capsys.readouterr().out
    assert "line 6: expected a timing line" in out
    assert "1/2 scenes (1 failed)" in out
    # and so does `cloudburst watch`
    assert main(["watch", job["job_id"]]) == 1
    out = capsys.readouterr().out
    assert "PARTIAL: 1/2 scenes (1 failed)" in out
    assert "line 6: expected a timing line" in out
