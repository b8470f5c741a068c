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
