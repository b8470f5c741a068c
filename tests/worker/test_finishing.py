"""The worker's finishing work: an assembly batch's record (failed naming the file, or kept
when an earlier task succeeded), and the contact sheet made by the batch that finds every
scene of the job reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
from cloudburst_worker.__main__ import main
from cloudburst_worker.assembly import run_assembly
from cloudburst_worker.pictures import sheet_if_complete

from chalicelib.contracts import (
    ATTEMPT_ENV,
    BATCH_SPEC_ENV,
    EpisodeRecord,
    SceneResult,
    SceneStatus,
    contact_sheet_key,
    episode_record_key,
    poster_key,
    result_key,
)

from .conftest import BUCKET, JOB_ID, Media, _ffmpeg, make_spec, scene_with_assets


def assembly_spec(s3: Any, media: Media, names: list[str]):
    scenes = [scene_with_assets(s3, media, name) for name in names]
    return make_spec(scenes).model_copy(
        update={"kind": "assembly", "batch_number": 2, "episode": {"name": "ep"}}
    )


def read_episode_record(s3: Any) -> EpisodeRecord:
    body = s3.get_object(Bucket=BUCKET, Key=episode_record_key(JOB_ID))["Body"].read()
    return EpisodeRecord.model_validate_json(body)


def test_an_assembly_whose_scene_mp4_is_missing_fails_naming_it_and_writes_no_episode(
    s3: Any, media: Media, tmp_path: Path
) -> None:
    # given an assembly spec whose scenes were never uploaded as MP4s
    spec = assembly_spec(s3, media, ["one", "two"])
    s3.put_object(Bucket=BUCKET, Key="jobs/x.json", Body=spec.model_dump_json().encode())

    # when the task runs it (through the entrypoint, as Fargate would)
    code = main({BATCH_SPEC_ENV: f"s3://{BUCKET}/jobs/x.json", ATTEMPT_ENV: "2"}, s3)

    # then it exits 1 with a failed record naming the missing MP4, and no episode exists
    assert code == 1
    record = read_episode_record(s3)
    assert (record.status, record.attempt, record.key) == (SceneStatus.FAILED, 2, None)
    assert record.error is not None
    assert f"outputs/{JOB_ID}/one.mp4" in record.error
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"outputs/{JOB_ID}/").get("Contents", [])
    assert listed == []


def test_a_retried_assembly_after_a_recorded_episode_does_nothing_again(
    s3: Any, media: Media, tmp_path: Path
) -> None:
    spec = assembly_spec(s3, media, ["one"])
    done = EpisodeRecord(job_id=JOB_ID, attempt=1, status=SceneStatus.SUCCEEDED, key="k.mp4")
    s3.put_object(Bucket=BUCKET, Key=episode_record_key(JOB_ID), Body=done.model_dump_json())

    assert run_assembly(spec, s3, tmp_path) == 0
    assert read_episode_record(s3) == done


def test_the_contact_sheet_waits_for_every_scene_then_shows_each_rendered_one(
    s3: Any, media: Media, tmp_path: Path
) -> None:
    # given a job of three scenes in two batches; this batch holds the last two
    names = ["one", "two", "three"]
    spec = make_spec([scene_with_assets(s3, media, n) for n in names[1:]]).model_copy(
        update={"sheet_scenes": names}
    )
    for name in ("two", "three"):
        record(s3, name, SceneStatus.SUCCEEDED)
        picture = tmp_path / f"{name}.jpg"
        _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360", "-frames:v", "1", str(picture))
        s3.upload_file(str(picture), BUCKET, poster_key(JOB_ID, name))

    # when scene "one" of the other batch has not reported yet, no sheet is made
    assert sheet_if_complete(spec, s3, tmp_path / "a") is False
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=contact_sheet_key(JOB_ID))

    # and once it has reported (it failed), the sheet shows the two rendered scenes
    record(s3, "one", SceneStatus.FAILED)
    assert sheet_if_complete(spec, s3, tmp_path / "b") is True
    sheet = tmp_path / "sheet.jpg"
    s3.download_file(BUCKET, contact_sheet_key(JOB_ID), str(sheet))
    height, width = cv2.imread(str(sheet)).shape[:2]
    assert width > height > 0  # two tiles side by side


def record(s3: Any, name: str, status: SceneStatus) -> None:
    result = SceneResult(
        job_id=JOB_ID, batch_number=1, attempt=1, scene_name=name, status=status,
        duration_seconds=2.5,
    )  # fmt: skip
    s3.put_object(Bucket=BUCKET, Key=result_key(JOB_ID, name), Body=result.model_dump_json())
