"""The ``cloudburst`` commands as a script sees them: one JSON document and the exit code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cloudburst import __version__
from cloudburst.cli import main
from tests.client.conftest import BUCKET
from tests.client.media import earlier_folder


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    document = json.loads(captured.out) if "--json" in argv and captured.out.strip() else None
    return code, document, captured.err


def put_status(s3: Any, job_id: str, status: str, **fields: Any) -> None:
    document = {
        "job_id": job_id,
        "status": status,
        "created_at": "2026-11-29T02:00:00+00:00",
        "updated_at": "2026-11-29T02:00:30+00:00",
        "finished_at": "2026-11-29T02:00:30+00:00" if status != "RUNNING" else None,
        "total_scenes": 2,
        "scenes_succeeded": 2 if status == "SUCCEEDED" else 1,
        "scenes_failed": 0 if status == "SUCCEEDED" else 1,
        "tasks_used": 1,
        "cost_usd": 0.0016,
        "cancel_requested": False,
        **fields,
    }
    s3.put_object(Bucket=BUCKET, Key=f"outputs/{job_id}/status.json", Body=json.dumps(document))


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])

    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"cloudburst {__version__}"


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["cleanup"])  # neither --job nor --all

    assert exited.value.code == 2
    assert "one of the arguments --job --all is required" in capsys.readouterr().err


def test_without_a_deployment_a_command_says_what_to_export(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLOUDBURST_BUCKET", raising=False)

    code, document, err = run(capsys, "jobs", "--json")

    assert code == 2
    assert "export CLOUDBURST_BUCKET" in document["error"]
    assert "cloudburst local up" in err


def test_submit_json_names_the_job_at_once(
    s3: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = earlier_folder(tmp_path / "ep1", ["scene_001"])

    code, document, _ = run(capsys, "submit", str(folder), "--json", "--no-zoom")

    assert code == 0
    assert document["job_id"].startswith("ep1-")
    assert (document["scenes"], document["uploaded"], document["unchanged"]) == (1, 3, 0)
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key="manifests/ep1.json")["Body"].read())
    assert manifest["enable_zoom"] is False


def test_a_refused_manifest_exits_2_with_every_reason(
    s3: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = earlier_folder(tmp_path / "ep1", ["scene_001"])

    code, document, _ = run(
        capsys, "submit", str(folder), "--json", "--opacity", "2", "--scenes-per-batch", "0"
    )

    # then every reason is its own item of a JSON list, nothing was uploaded
    assert code == 2
    assert document["error"] == "2 problems"
    assert len(document["errors"]) == 2
    assert any("background_opacity" in error for error in document["errors"])
    assert any("scenes_per_batch" in error for error in document["errors"])
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


@pytest.mark.parametrize(
    ("state", "code"),
    [("SUCCEEDED", 0), ("RUNNING", 0), ("PARTIAL", 1), ("FAILED", 1), ("CANCELLED", 1)],
)
def test_status_exit_code_follows_the_job(
    s3: Any, capsys: pytest.CaptureFixture[str], state: str, code: int
) -> None:
    put_status(s3, "ep1-aaaaaaaaaaaa", state)

    exit_code, document, _ = run(capsys, "status", "ep1-aaaaaaaaaaaa", "--json")

    assert (exit_code, document["status"]) == (code, state)


def test_status_of_an_unknown_job_exits_2(s3: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, document, _ = run(capsys, "status", "nope", "--json")

    assert code == 2
    assert "no job 'nope'" in document["error"]


def test_watch_of_a_finished_job_prints_the_outcome_line_and_fetches(
    s3: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    put_status(s3, "ep1-bbbbbbbbbbbb", "SUCCEEDED")
    s3.put_object(Bucket=BUCKET, Key="outputs/ep1-bbbbbbbbbbbb/scene_001.mp4", Body=b"mp4")

    code = main(["watch", "ep1-bbbbbbbbbbbb", "--fetch", str(tmp_path / "out")])

    out = capsys.readouterr().out
    assert code == 0
    assert "SUCCEEDED: 2/2 scenes · 1 task · 30 s · $0.0016" in out
    assert (tmp_path / "out/scene_001.mp4").read_bytes() == b"mp4"


def test_watch_gives_up_after_its_timeout_with_exit_1(
    s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    put_status(s3, "ep1-cccccccccccc", "RUNNING")

    code, document, _ = run(
        capsys, "watch", "ep1-cccccccccccc", "--json", "--timeout", "0.2", "--interval", "0.1"
    )

    assert code == 1
    assert "still RUNNING" in document["error"]


def test_cancel_after_the_end_changes_nothing_and_exits_1(
    s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    put_status(s3, "ep1-dddddddddddd", "SUCCEEDED")

    code, document, _ = run(capsys, "cancel", "ep1-dddddddddddd", "--json")

    assert (code, document["outcome"]) == (1, "already_ended")
    assert "nothing changed" in document["message"]


def test_jobs_prints_a_table_of_state_scenes_cost_and_age(
    s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    put_status(s3, "ep1-eeeeeeeeeeee", "PARTIAL")

    code = main(["jobs"])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0].split() == ["JOB", "STATE", "SCENES", "COST", "AGE"]
    assert lines[1].split()[:5] == ["ep1-eeeeeeeeeeee", "PARTIAL", "1/2", "(1", "failed)"]


def test_estimate_json_lists_every_profile_on_demand_and_spot(
    capsys: pytest.CaptureFixture[str], aws_env: None, tmp_path: Path
) -> None:
    folder = earlier_folder(tmp_path / "ep1", ["scene_001", "scene_002"])

    code, document, _ = run(capsys, "estimate", str(folder), "--json", "--config-priority", "2")

    assert code == 0
    assert document["batch_sizes"] == [2]
    chosen = [p for p in document["profiles"] if p["chosen"]]
    assert [(p["config_priority"], p["spot"]) for p in chosen] == [(2, False)]
    assert len(document["profiles"]) == 10


def test_submit_json_with_wait_names_the_job_on_stderr_before_the_end(
    s3: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # given no pipeline in moto: the job never starts, so watching it times out
    folder = earlier_folder(tmp_path / "ep1", ["scene_001"])

    code, document, err = run(
        capsys, "submit", str(folder), "--json", "--wait", "--timeout", "0.3", "--interval", "0.1"
    )

    assert code == 1
    assert err.startswith("job ep1-")
    assert "not yet accepted" in document["error"]


def test_metadata_that_is_not_a_json_object_is_bad_usage(
    s3: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = earlier_folder(tmp_path / "ep1", ["scene_001"])

    code, document, _ = run(capsys, "submit", str(folder), "--json", "--metadata", "[1, 2]")

    assert code == 2
    assert document["error"].startswith("--metadata must be a JSON object")


def test_estimate_refuses_options_the_pipeline_would_refuse(
    capsys: pytest.CaptureFixture[str], aws_env: None, tmp_path: Path
) -> None:
    folder = earlier_folder(tmp_path / "ep1", ["scene_001"])

    code, document, _ = run(capsys, "estimate", str(folder), "--json", "--scenes-per-batch", "0")

    assert code == 2
    assert "scenes_per_batch" in document["error"]


def test_ctrl_c_while_watching_says_the_job_goes_on_and_how_to_follow_or_stop_it(
    s3: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a running job, and a user who presses Ctrl-C while watching it
    put_status(s3, "ep1-dddddddddddd", "RUNNING")

    def pressed(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("cloudburst.client.watch.wait_for_job", pressed)

    code, _, err = run(capsys, "watch", "ep1-dddddddddddd")

    # then only the command stopped, and it says so (not "everything stopped")
    assert code == 130
    assert err.strip() == (
        "stopped watching ep1-dddddddddddd; the job goes on in the pipeline: "
        "`cloudburst watch ep1-dddddddddddd` follows it again, "
        "`cloudburst cancel ep1-dddddddddddd` stops it"
    )


def test_ctrl_c_while_uploading_says_no_job_was_started(
    s3: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = earlier_folder(tmp_path / "ep1", ["scene_001"])

    def pressed(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("cloudburst.client.submit.sync_assets", pressed)

    code, _, err = run(capsys, "submit", str(folder), "--wait")

    assert code == 130
    assert err.strip().startswith("interrupted while uploading: no job was started")
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="manifests/")


def test_fetch_of_a_running_job_says_the_download_is_partial(
    s3: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # given a job still running, one scene of two already in S3
    put_status(s3, "ep1-eeeeeeeeeeee", "RUNNING", scenes_succeeded=1, scenes_failed=0)
    s3.put_object(Bucket=BUCKET, Key="outputs/ep1-eeeeeeeeeeee/scene_001.mp4", Body=b"mp4")

    code, document, err = run(capsys, "fetch", "ep1-eeeeeeeeeeee", str(tmp_path), "--json")

    # then what exists is downloaded, and the command says it is not everything
    assert (code, document["status"]) == (0, "RUNNING")
    assert (tmp_path / "scene_001.mp4").read_bytes() == b"mp4"
    assert "ep1-eeeeeeeeeeee is still RUNNING (1/2 scenes): these are its files so far" in err
