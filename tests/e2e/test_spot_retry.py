"""Fargate Spot takes a task's capacity back mid-batch: the batch runs again, nothing is lost.

The local stand-in interrupts the first Spot task once it has written its first result
record (SIGTERM, ``stopCode`` SpotInterruption), exactly as Fargate reports it; the rest is
production code. The moment is the task's progress, not wall time, so a faster machine cannot
finish the batch first: after the first record, three of the four scenes are still to render.
The first scene is short and the others five times longer, so the stand-in's poll, however
late under a loaded CI machine, still finds most of the batch unrendered (with the four scenes
of nearly equal length, one CI run saw the whole batch finish before the interruption).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudburst.demo import download_prefix, make_scene_assets, upload_job
from cloudburst.local import LocalStack, SpotInterruptions

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(
        port=0,
        state_dir=tmp_path_factory.mktemp("spot-stack"),
        spot_interruptions=SpotInterruptions(after_records=1),
    ) as running:
        yield running


def test_a_spot_interrupted_batch_is_retried_and_every_video_arrives(
    stack: LocalStack, tmp_path: Path
) -> None:
    # given four zooming scenes in one Spot batch, interrupted after its first (short) scene
    scenes = make_scene_assets(tmp_path / "assets", 4, durations=(1.0, 5.0, 5.0, 5.0))
    s3 = stack.client("s3")
    upload_job(
        s3,
        stack.bucket,
        scenes,
        name="e2e-spot",
        options={"language": "english", "scenes_per_batch": 4, "spot": True},
    )

    # when the job runs, the first task is interrupted, and the job still ends
    [delivery] = stack.receiver.wait_for(1, timeout=120)

    # then the webhook reports success after two tasks, the first stopped by Spot
    assert delivery.type == "job.succeeded", delivery.body["data"]["errors"]
    report_key = delivery.body["data"]["report_key"]
    report = json.loads(s3.get_object(Bucket=stack.bucket, Key=report_key)["Body"].read())
    assert report["tasks_used"] == 2
    [batch] = report["task_results"]
    assert (batch["attempt"], batch["retried_after"], batch["stop_code"]) == (
        2, "SpotInterruption", "EssentialContainerExited",
    )  # fmt: skip
    assert fargate_stops(stack) == ["SpotInterruption", "EssentialContainerExited"]
    # every scene's MP4 is in S3, each rendered once or taken over from the first task
    outputs = download_prefix(s3, stack.bucket, f"outputs/{report['job_id']}/", tmp_path / "out")
    videos = [f"{s.scene_name}.mp4" for s in scenes]
    assert sorted(p.name for p in outputs if p.parent.name != "posters") == [
        "contact_sheet.jpg", "job.json", *videos, "status.json",
    ]  # fmt: skip
    assert all(p.stat().st_size > 10_000 for p in outputs if p.suffix == ".mp4")
    # and the scene the first task finished was taken over, not rendered again
    records = download_prefix(s3, stack.bucket, f"jobs/{report['job_id']}/results/", tmp_path / "r")
    reused = [json.loads(p.read_text())["reused"] for p in records]
    assert 1 <= sum(reused) < len(scenes)


def fargate_stops(stack: LocalStack) -> list[str | None]:
    assert stack.fargate is not None
    tasks = sorted(stack.fargate.tasks.values(), key=lambda t: t.created_at)
    return [t.stop_code for t in tasks]
