"""``submit`` against a moto bucket: what is uploaded, what is skipped, and the job id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.events import job_id_for_upload
from cloudburst.client.connection import Connection
from cloudburst.client.source import load_source, source_from_scenes
from cloudburst.client.submit import SubmitError, submit
from tests.client.conftest import BUCKET
from tests.client.media import earlier_folder


def manifest_in_bucket(s3: Any, key: str) -> dict[str, Any]:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_a_folder_is_uploaded_and_its_job_id_is_the_pipelines(
    s3: Any, connection: Connection, tmp_path: Path
) -> None:
    # given a folder in the earlier layout
    folder = earlier_folder(tmp_path / "ep1", ["scene_001", "scene_002"])

    # when it is submitted
    submission = submit(connection, load_source(folder))

    # then every file went up under inputs/ep1/, the manifest names them, and the job id is
    # the one the pipeline derives from this upload's version
    manifest = manifest_in_bucket(s3, "manifests/ep1.json")
    assert manifest["language"] == "chinese"
    assert manifest["scenes"][0] == {
        "scene_name": "scene_001",
        "image_path": "inputs/ep1/images/scene_001_chinese.png",
        "audio_path": "inputs/ep1/audio/scene_001_chinese.mp3",
        "subtitle_path": "inputs/ep1/audio/scene_001_chinese.srt",
    }
    assert sorted(submission.uploads.sent) == sorted(
        [
            "inputs/ep1/images/scene_001_chinese.png",
            "inputs/ep1/images/scene_002_chinese.png",
            "inputs/ep1/audio/scene_001_chinese.mp3",
            "inputs/ep1/audio/scene_001_chinese.srt",
            "inputs/ep1/audio/scene_002_chinese.mp3",
        ]
    )
    head = s3.head_object(Bucket=BUCKET, Key="manifests/ep1.json")
    assert submission.version_id == head["VersionId"]
    assert submission.job_id == job_id_for_upload(
        BUCKET, "manifests/ep1.json", f"v:{head['VersionId']}"
    )
    assert submission.job_id.startswith("ep1-")


def test_a_job_name_keeps_its_case_and_the_client_names_the_job_as_the_pipeline_does(
    s3: Any, connection: Connection, tmp_path: Path
) -> None:
    folder = earlier_folder(tmp_path / "ep1", ["scene_001"])

    submission = submit(connection, load_source(folder), name="dupA")

    head = s3.head_object(Bucket=BUCKET, Key="manifests/dupA.json")
    assert submission.job_id.startswith("dupA-")
    assert submission.job_id == job_id_for_upload(
        BUCKET, "manifests/dupA.json", f"v:{head['VersionId']}"
    )


def test_unchanged_files_are_not_sent_again_and_changed_ones_are(
    s3: Any, connection: Connection, tmp_path: Path
) -> None:
    folder = earlier_folder(tmp_path / "ep1", ["scene_001", "scene_002"])
    first = submit(connection, load_source(folder))
    (folder / "images/scene_002_chinese.png").write_bytes(b"\x89PNG redrawn")

    second = submit(connection, load_source(folder))

    assert second.uploads.sent == ["inputs/ep1/images/scene_002_chinese.png"]
    assert len(second.uploads.skipped) == 4
    assert second.uploads.bytes_sent == len(b"\x89PNG redrawn")
    assert second.job_id != first.job_id  # a new upload of the same key is a new job


def test_a_manifest_keeps_bucket_keys_and_uris_and_uploads_its_local_files(
    s3: Any, connection: Connection, tmp_path: Path
) -> None:
    # given a manifest mixing a relative local file, an absolute one and URIs
    (tmp_path / "art").mkdir()
    (tmp_path / "art/a.png").write_bytes(b"png-a")
    logo = tmp_path.parent / f"{tmp_path.name}-logo.png"
    logo.write_bytes(b"logo")
    manifest = tmp_path / "my job 第一集.json"
    manifest.write_text(
        json.dumps(
            {
                "version": 1,
                "scenes": [
                    {
                        "scene_name": "a",
                        "image_path": "art/a.png",
                        "audio_path": f"s3://{BUCKET}/inputs/shared/a.mp3",
                    },
                    {
                        "scene_name": "b",
                        "image_path": "s3://other-bucket/b.png",
                        "audio_path": f"s3://{BUCKET}/inputs/shared/b.mp3",
                    },
                ],
                "watermark_path": str(logo),
                "saving_dir": "my-results",
            }
        ),
        "utf-8",
    )

    # when it is submitted with a flag overriding one option
    source = load_source(manifest).with_options({"language": "english", "spot": None})
    submission = submit(connection, source)

    # then only the two local files were uploaded; the rest is as written
    uploaded = manifest_in_bucket(s3, "manifests/my job 第一集.json")
    assert uploaded["scenes"][0]["image_path"] == "inputs/my job 第一集/art/a.png"
    assert uploaded["scenes"][0]["audio_path"] == f"s3://{BUCKET}/inputs/shared/a.mp3"
    assert uploaded["scenes"][1]["image_path"] == "s3://other-bucket/b.png"
    assert uploaded["watermark_path"] == f"inputs/my job 第一集/files/{logo.name}"
    assert uploaded["language"] == "english"
    assert "saving_dir" not in uploaded
    assert "spot" not in uploaded
    assert source.saving_dir == "my-results"
    assert submission.job_id.startswith("my-job-")


def test_a_manifest_the_pipeline_would_refuse_uploads_nothing(
    s3: Any, connection: Connection, tmp_path: Path
) -> None:
    folder = earlier_folder(tmp_path / "ep1", ["scene_001"])
    source = load_source(folder).with_options({"scenes_per_batch": 0, "background_opacity": 3.0})

    with pytest.raises(SubmitError) as refused:
        submit(connection, source)

    assert len(refused.value.errors) == 2
    assert any("scenes_per_batch" in e for e in refused.value.errors)
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_a_missing_absolute_path_and_a_bad_name_are_refused(
    connection: Connection, tmp_path: Path
) -> None:
    manifest = tmp_path / "ep.json"
    manifest.write_text(
        json.dumps(
            {"scenes": [{"scene_name": "a", "image_path": "/nope/a.png", "audio_path": "a.mp3"}]}
        )
    )

    with pytest.raises(SubmitError, match=r"image_path '/nope/a\.png': no such local file"):
        submit(connection, load_source(manifest))
    with pytest.raises(SubmitError, match="must not contain '/'"):
        submit(connection, load_source(manifest), name="a/b")


def test_an_unversioned_bucket_names_no_job_and_says_so(
    s3: Any, connection: Connection, tmp_path: Path
) -> None:
    s3.create_bucket(Bucket="plain")
    plain = Connection(
        connection.deployment.__class__(stage=None, region="us-east-1", bucket="plain")
    )
    folder = earlier_folder(tmp_path / "ep1", ["scene_001"])

    with pytest.raises(SubmitError, match="not versioned"):
        submit(plain, load_source(folder))


def test_the_python_api_takes_path_objects_wherever_a_path_goes(
    s3: Any, connection: Connection, tmp_path: Path
) -> None:
    # given scenes, a watermark and episode music named by pathlib.Path, as Python users do
    folder = earlier_folder(tmp_path / "ep1", ["scene_001"])
    scenes = [
        {
            "scene_name": "scene_001",
            "image_path": folder / "images/scene_001_chinese.png",
            "audio_path": folder / "audio/scene_001_chinese.mp3",
        }
    ]
    options = {
        "watermark_path": folder / "images/scene_001_chinese.png",
        "episode": {"music": {"path": folder / "audio/scene_001_chinese.mp3"}},
    }

    # when they are submitted as execute_parallel_batches submits them
    source = source_from_scenes(scenes, options, name="api", base=tmp_path)
    submit(connection, source, name="api")

    # then each was uploaded and the manifest names the keys (no TypeError from json)
    manifest = manifest_in_bucket(s3, "manifests/api.json")
    named = [
        manifest["scenes"][0]["image_path"],
        manifest["scenes"][0]["audio_path"],
        manifest["watermark_path"],
        manifest["episode"]["music"]["path"],
    ]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert all(key.startswith("inputs/api/") and key in keys for key in named)
