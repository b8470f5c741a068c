"""The earlier API's pure parts: where files go and the result dict's shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudburst.client.api import result_dict, saving_directory


def test_saving_dir_priority_is_argument_then_results_dir_then_the_earlier_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RESULTS_DIR", "/data/env")
    assert saving_directory("/data/arg") == Path("/data/arg")
    assert saving_directory(None) == Path("/data/env")
    monkeypatch.delenv("RESULTS_DIR")
    assert saving_directory(None) == Path("cloudburst_fargate_results")


def test_the_result_dict_has_every_earlier_field_from_the_report() -> None:
    report = {
        "total_scenes": 2,
        "successful_scenes": 1,
        "failed_scenes": 1,
        "total_cost_usd": 0.0016,
        "total_duration": 12.5,
        "tasks_used": 1,
        "task_results": [{"batch_number": 1}],
        "efficiency": {
            "speedup_factor": 1.4,
            "processing_efficiency": 22.0,
            "cost_per_scene": 0.0016,
        },
        "errors": ["scene_002: image could not be decoded"],
    }

    result = result_dict("ep1-0123456789ab", "PARTIAL", report, ["b/scene_001.mp4"])

    assert result == {
        "success": False,
        "job_id": "ep1-0123456789ab",
        "status": "PARTIAL",
        "total_scenes": 2,
        "successful_scenes": 1,
        "failed_scenes": 1,
        "total_cost_usd": 0.0016,
        "total_duration": 12.5,
        "downloaded_files": ["b/scene_001.mp4"],
        "task_results": [{"batch_number": 1}],
        "tasks_used": 1,
        "efficiency": {
            "speedup_factor": 1.4,
            "processing_efficiency": 22.0,
            "cost_per_scene": 0.0016,
        },
        "errors": ["scene_002: image could not be decoded"],
    }


def test_importing_cloudburst_loads_no_client_code_until_an_api_name_is_used() -> None:
    import subprocess
    import sys

    probe = (
        "import sys, cloudburst; before = 'cloudburst.client.api' in sys.modules; "
        "cloudburst.execute_parallel_batches; print(before, 'cloudburst.client.api' in sys.modules)"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )

    assert shown.stdout.split() == ["False", "True"]


def view(**fields):
    from cloudburst.client.status import JobView

    document = {
        "job_id": "ep1-0123456789ab",
        "status": "RUNNING",
        "created_at": "2026-11-29T02:00:00+00:00",
        "total_scenes": 3,
        "scenes_succeeded": 1,
        "scenes_failed": 0,
        "tasks_running": 1,
        **fields,
    }
    return JobView.from_document(document)


def test_the_scene_bar_moves_as_scenes_finish_and_ends_with_the_outcome() -> None:
    import io

    from rich.console import Console

    from cloudburst.client.bars import RichScenes

    screen = io.StringIO()
    bar = RichScenes("ep1-0123456789ab", Console(file=screen, width=120, force_terminal=True))

    bar.update(None)
    bar.update(view())
    shown_running = screen.getvalue()
    bar.update(view(status="PARTIAL", scenes_succeeded=2, scenes_failed=1, tasks_running=0))
    bar.finish()

    assert "1/3" in shown_running
    assert "ETA" in shown_running
    final = screen.getvalue().rsplit("\r", 1)[-1]
    assert "3/3" in final
    assert "PARTIAL" in final
    assert "1 failed" in final


def test_the_api_follows_silently_off_a_terminal_and_with_a_bar_when_asked(
    s3, connection, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from cloudburst.client.api import follow_job

    document = {
        "job_id": "ep1-0123456789ab",
        "status": "SUCCEEDED",
        "created_at": "2026-11-29T02:00:00+00:00",
        "finished_at": "2026-11-29T02:00:30+00:00",
        "total_scenes": 2,
        "scenes_succeeded": 2,
    }
    key = "outputs/ep1-0123456789ab/status.json"
    s3.put_object(Bucket=connection.bucket, Key=key, Body=json.dumps(document))

    silent = follow_job(connection, "ep1-0123456789ab", None, progress=None)  # not a terminal
    quiet = capsys.readouterr()
    shown = follow_job(connection, "ep1-0123456789ab", None, progress=True)
    drawn = capsys.readouterr()

    assert silent.status == shown.status == "SUCCEEDED"
    assert (quiet.out, quiet.err) == ("", "")
    assert "2/2" in drawn.err
    assert drawn.out == ""


@pytest.mark.parametrize("progress", [False, True])
def test_ctrl_c_in_a_script_says_the_job_goes_on(
    connection, monkeypatch: pytest.MonkeyPatch, progress: bool
) -> None:
    from cloudburst.client.api import follow_job
    from cloudburst.client.output import Interrupted

    def pressed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("cloudburst.client.watch.wait_for_job", pressed)

    # a KeyboardInterrupt still (a script's own handler catches it), saying what goes on
    with pytest.raises(Interrupted, match="the job goes on in the pipeline"):
        follow_job(connection, "ep1-0123456789ab", None, progress=progress)
