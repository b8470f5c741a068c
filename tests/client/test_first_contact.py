"""A new user's first commands, typed from their own working directory (issue 17).

Folders and manifests are named by relative paths, as a shell user names them; paths inside
a manifest are relative to the manifest; anything neither local nor clearly in S3 is an
error before anything is uploaded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cloudburst.cli import EXIT_BROKEN_PIPE, main
from cloudburst.client.connection import Connection
from cloudburst.client.following import follow
from cloudburst.client.output import Printer
from cloudburst.client.submit import webhook_refusal
from cloudburst.stage import Deployment
from tests.client.conftest import BUCKET, CLUSTER, REGION
from tests.client.media import earlier_folder

REPO = Path(__file__).resolve().parents[2]


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def bucket_keys(s3: Any) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def uploaded_manifest(s3: Any, name: str) -> dict[str, Any]:
    body = s3.get_object(Bucket=BUCKET, Key=f"manifests/{name}.json")["Body"].read()
    return dict(json.loads(body))


@pytest.mark.parametrize(
    ("typed", "cwd"), [("ep1/", "."), ("./ep1", "."), ("ep1", "."), ("../x/ep1", "elsewhere")]
)
def test_the_readme_example_submits_a_relative_folder_from_the_working_directory(
    s3: Any,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    typed: str,
    cwd: str,
) -> None:
    # given ep1/ and logo.png named relative to where the user stands
    home = tmp_path / ("x" if cwd == "elsewhere" else ".")
    earlier_folder(home / "ep1", ["scene_001", "scene_002"])
    workdir = tmp_path / cwd
    workdir.mkdir(exist_ok=True)
    (workdir / "logo.png").write_bytes(b"\x89PNG logo")
    monkeypatch.chdir(workdir)

    # when `cloudburst submit ep1/ --watermark logo.png` runs there
    code, document = run_json(capsys, "submit", typed, "--watermark", "logo.png")

    # then every scene names an object that was uploaded, under inputs/ep1/
    assert code == 0, document
    manifest = uploaded_manifest(s3, "ep1")
    named = [manifest["watermark_path"]]
    named += [scene[f] for scene in manifest["scenes"] for f in ("image_path", "audio_path")]
    assert manifest["scenes"][0]["image_path"] == "inputs/ep1/images/scene_001_chinese.png"
    assert set(named) <= set(bucket_keys(s3))
    assert manifest["watermark_path"] == "inputs/ep1/files/logo.png"


def test_estimate_reads_a_relative_folder(
    aws_env: None,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    earlier_folder(tmp_path / "ep1", ["scene_001"])
    monkeypatch.chdir(tmp_path)

    code, document = run_json(capsys, "estimate", "ep1")

    assert code == 0, document
    assert document["scenes"] == 1


@pytest.mark.parametrize("command", ["estimate", "submit"])
def test_what_a_folder_holds_beside_its_scenes_is_named_on_stderr_even_with_json(
    s3: Any,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    # given a scene and a narration whose picture is missing
    earlier_folder(tmp_path / "ep1", ["scene_001"])
    stray = tmp_path / "ep1/audio/scene_002_chinese.mp3"
    stray.write_bytes((tmp_path / "ep1/audio/scene_001_chinese.mp3").read_bytes())
    monkeypatch.chdir(tmp_path)

    # when the folder is estimated or submitted with --json
    code = main([command, "ep1", "--json"])
    out, err = capsys.readouterr()

    # then stdout is still one document and the stray file is named on stderr
    assert (code, json.loads(out)["scenes"]) == (0, 1)
    assert "skipped audio/scene_002_chinese.mp3: no picture images/scene_002_chinese.png" in err


@pytest.mark.parametrize(
    ("encoding", "accepted"), [("utf-16", True), ("utf-16-le", True), ("gbk", False)]
)
def test_a_manifest_saved_by_a_windows_editor_is_read_or_refused_with_what_to_do(
    s3: Any,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    encoding: str,
    accepted: bool,
) -> None:
    # given a manifest with a Chinese scene name, saved as Notepad's "Unicode" or as GBK
    earlier_folder(tmp_path / "media", ["scene_001"])
    scene = {
        "scene_name": "第一幕",
        "image_path": "media/images/scene_001_chinese.png",
        "audio_path": "media/audio/scene_001_chinese.mp3",
    }
    text = json.dumps({"version": 1, "scenes": [scene]}, ensure_ascii=False)
    (tmp_path / "ep1.json").write_bytes(text.encode(encoding))
    monkeypatch.chdir(tmp_path)

    # when it is submitted
    code, document = run_json(capsys, "submit", "ep1.json")

    # then UTF-16 is read as the same manifest, and GBK is refused, saying what to do
    if accepted:
        assert code == 0, document
        assert uploaded_manifest(s3, "ep1")["scenes"][0]["scene_name"] == "第一幕"
    else:
        assert code == 2
        offset = text.index("第")  # every byte before it is ASCII
        assert document["errors"] == [
            f"ep1.json: manifest is not UTF-8 text (undecodable at line 1, byte offset {offset}); "
            "save it as UTF-8"
        ]
        assert bucket_keys(s3) == []


def test_a_manifest_naming_a_missing_local_file_exits_2_and_uploads_nothing(
    s3: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a manifest in jobs/ whose first scene is fine and whose second names a typo
    earlier_folder(tmp_path / "media", ["scene_001"])
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs/ep1.json").write_text(
        json.dumps(
            {
                "version": 1,
                "scenes": [
                    {
                        "scene_name": "a",
                        "image_path": "../media/images/scene_001_chinese.png",
                        "audio_path": "../media/audio/scene_001_chinese.mp3",
                    },
                    {
                        "scene_name": "b",
                        "image_path": "../media/nope.png",
                        "audio_path": "../media/audio/scene_001_chinese.mp3",
                    },
                ],
                "scenes_per_batch": 0,
            }
        )
    )
    monkeypatch.chdir(tmp_path)

    # when it is submitted from the folder above
    code, document = run_json(capsys, "submit", "jobs/ep1.json")

    # then exit 2, the missing file and the manifest's own problem are both named, and
    # nothing at all went to the bucket
    assert code == 2
    missing = [e for e in document["errors"] if "'../media/nope.png'" in e]
    assert len(missing) == 1
    assert "scene 'b': image_path" in missing[0]
    assert str(tmp_path / "media/nope.png") in missing[0]
    assert any("scenes_per_batch" in e for e in document["errors"])
    assert bucket_keys(s3) == []


def test_an_empty_local_file_exits_2_and_uploads_nothing(
    s3: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a folder whose second picture is a 0-byte file (an interrupted copy)
    earlier_folder(tmp_path / "ep1", ["scene_001", "scene_002"])
    (tmp_path / "ep1/images/scene_002_chinese.png").write_bytes(b"")
    monkeypatch.chdir(tmp_path)

    code, document = run_json(capsys, "submit", "ep1")

    assert code == 2
    (empty,) = [e for e in document["errors"] if "is empty" in e]
    assert "scene_002_chinese.png" in empty
    assert bucket_keys(s3) == []


@pytest.fixture
def no_deployment(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials and a region, but no bucket or stage named anywhere."""
    monkeypatch.delenv("CLOUDBURST_BUCKET")


def test_without_a_deployment_the_manifests_own_problems_come_in_the_same_round(
    no_deployment: None,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given no deployment named anywhere, and a folder whose second picture is missing
    earlier_folder(tmp_path / "ep1", ["scene_001"])
    (tmp_path / "ep1.json").write_text(
        json.dumps({"scenes": [{"scene_name": "a", "image_path": "ep1/nope.png",
                                "audio_path": "ep1/audio/scene_001_chinese.mp3"}],
                    "scenes_per_batch": 0})
    )  # fmt: skip
    monkeypatch.chdir(tmp_path)

    code, document = run_json(capsys, "submit", "ep1.json")

    # then exit 2 with every reason: the missing file, the manifest's rule, the deployment
    assert code == 2
    errors = document["errors"]
    assert any("'ep1/nope.png': no such local file" in e for e in errors)
    assert any("scenes_per_batch" in e for e in errors)
    assert errors[-1].startswith("no deployment named")


def test_with_keys_relative_paths_are_bucket_keys_and_s3_uris_always_are(
    s3: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.put_object(Bucket=BUCKET, Key="inputs/shared/a.png", Body=b"png")
    (tmp_path / "ep.json").write_text(
        json.dumps(
            {
                "scenes": [
                    {
                        "scene_name": "a",
                        "image_path": "inputs/shared/a.png",
                        "audio_path": f"s3://{BUCKET}/inputs/shared/a.mp3",
                    }
                ]
            }
        )
    )
    monkeypatch.chdir(tmp_path)

    refused, _ = run_json(capsys, "submit", "ep.json")
    code, document = run_json(capsys, "submit", "ep.json", "--keys")

    assert refused == 2
    assert code == 0, document
    assert document["uploaded"] == 0
    assert uploaded_manifest(s3, "ep")["scenes"][0] == {
        "scene_name": "a",
        "image_path": "inputs/shared/a.png",
        "audio_path": f"s3://{BUCKET}/inputs/shared/a.mp3",
    }


def test_the_folder_layout_takes_every_format_the_renderer_reads(
    s3: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pairs = {
        "scene_001": (".jpg", ".m4a"),
        "scene_002": (".webp", ".wav"),
        "scene_003": (".JPEG", ".flac"),
    }
    for scene, (picture, narration) in pairs.items():
        for path in (
            f"ep2/images/{scene}_english{picture}",
            f"ep2/audio/{scene}_english{narration}",
        ):
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_bytes(scene.encode())
    monkeypatch.chdir(tmp_path)

    code, document = run_json(capsys, "submit", "ep2")

    assert code == 0, document
    scenes = uploaded_manifest(s3, "ep2")["scenes"]
    assert [(s["image_path"], s["audio_path"]) for s in scenes] == [
        (f"inputs/ep2/images/{scene}_english{p}", f"inputs/ep2/audio/{scene}_english{n}")
        for scene, (p, n) in pairs.items()
    ]


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://127.0.0.1:8000/hook",
        "http://[::ffff:192.168.0.1]/hook",
    ],
)
def test_a_webhook_to_a_private_address_is_refused_at_submit(
    s3: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, url: str
) -> None:
    folder = earlier_folder(tmp_path / "ep1", ["scene_001"])

    code, document = run_json(capsys, "submit", str(folder), "--webhook-url", url)

    assert code == 2
    assert document["errors"][0].startswith("webhook_url: webhook host")
    assert "not allowed" in document["errors"][0]
    assert bucket_keys(s3) == []


def test_the_local_stack_keeps_its_loopback_receiver_allowed() -> None:
    local = Connection(
        Deployment(None, REGION, BUCKET, CLUSTER, endpoint_url="http://127.0.0.1:4566")
    )
    deployed = Connection(Deployment("dev", REGION, BUCKET, CLUSTER))

    assert local.is_local_stack
    assert not deployed.is_local_stack
    assert webhook_refusal("http://127.0.0.1:8123/", local.is_local_stack) == []
    assert webhook_refusal("http://127.0.0.1:8123/", deployed.is_local_stack) != []
    assert webhook_refusal("http://10.0.0.1/", local.is_local_stack) != []


def test_a_stack_that_is_not_running_is_named_with_what_to_start(
    aws_env: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")

    code, document = run_json(capsys, "jobs")

    assert code == 2
    assert "cloudburst local up" in document["error"]
    assert f"127.0.0.1:{port}" in document["error"]


def test_saving_dir_holds_one_folder_per_job_with_fetch(
    s3: Any, connection: Connection, tmp_path: Path
) -> None:
    job = "ep1-cccccccccccc"
    status = {"job_id": job, "status": "SUCCEEDED", "total_scenes": 1, "scenes_succeeded": 1}
    s3.put_object(Bucket=BUCKET, Key=f"outputs/{job}/status.json", Body=json.dumps(status))
    s3.put_object(Bucket=BUCKET, Key=f"outputs/{job}/scene_001.mp4", Body=b"mp4")
    args = argparse.Namespace(fetch="", timeout=5.0, interval=0.1)

    follow(connection, job, args, Printer(True), tmp_path / "results")

    assert (tmp_path / "results" / job / "scene_001.mp4").read_bytes() == b"mp4"


@pytest.mark.parametrize("argv", [["estimate", "FOLDER", "--json"], ["jobs", "--json"]])
def test_json_into_a_closed_pipe_exits_quietly(tmp_path: Path, argv: list[str]) -> None:
    # given a reader that has already gone (`… --json | head -c0`)
    folder = earlier_folder(tmp_path / "ep1", ["scene_001"])
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CLOUDBURST_"))}
    argv = [str(folder) if a == "FOLDER" else a for a in argv]

    try:
        done = subprocess.run(
            [sys.executable, "-m", "cloudburst.cli", *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            cwd=REPO,
            env=env,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)

    assert done.returncode == EXIT_BROKEN_PIPE
    assert b"Traceback" not in done.stderr
    assert b"BrokenPipeError" not in done.stderr


def test_estimate_reads_narrations_already_in_s3_and_names_a_missing_one(
    s3: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given narrations of 1 s and 2 s already in the bucket, named by s3:// URIs
    earlier_folder(tmp_path / "ep1", ["scene_001", "scene_002"])
    for name in ("scene_001", "scene_002"):
        s3.upload_file(str(tmp_path / f"ep1/audio/{name}_chinese.mp3"), BUCKET, f"in/{name}.mp3")

    def manifest(*audio: str) -> Path:
        scenes = [
            {"scene_name": f"s{i}", "image_path": f"s3://{BUCKET}/in/p.png", "audio_path": a}
            for i, a in enumerate(audio)
        ]
        path = tmp_path / "m.json"
        path.write_text(json.dumps({"version": 1, "scenes": scenes}))
        return path

    uris = [f"s3://{BUCKET}/in/scene_001.mp3", f"s3://{BUCKET}/in/scene_002.mp3"]

    # when it is estimated, then their lengths are read from S3
    code, document = run_json(capsys, "estimate", str(manifest(*uris)))
    assert code == 0, document
    assert document["narration_seconds"] == pytest.approx(3.0, abs=0.1)

    # and a narration that is not there is named, exit 2
    code, document = run_json(capsys, "estimate", str(manifest(uris[0], uris[1] + "x")))
    assert code == 2
    assert document["errors"] == [f"{uris[1]}x does not exist"]


def test_estimate_of_narrations_in_s3_without_a_deployment_says_what_is_missing(
    no_deployment: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    scene = {"scene_name": "a", "image_path": "s3://b/p.png", "audio_path": "s3://b/a.mp3"}
    (tmp_path / "m.json").write_text(json.dumps({"version": 1, "scenes": [scene]}))

    code, document = run_json(capsys, "estimate", str(tmp_path / "m.json"))

    assert code == 2
    [reason] = document["errors"]
    assert reason.startswith("1 narration(s) are in S3, from s3://b/a.mp3: ")
