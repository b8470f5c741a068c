"""The ``cloudburst`` commands and the earlier Python API, end to end on the local stack.

Everything goes through the client exactly as a user's shell would: the stack exports the
environment ``cloudburst local up`` prints, and the commands resolve the deployment from it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudburst import (
    cleanup_all_tasks,
    execute_parallel_batches,
    list_running_tasks,
    scan_and_test_folder,
)
from cloudburst.cli import main
from cloudburst.demo import make_scene_assets
from cloudburst.local import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

QUIET = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(
        port=0, state_dir=tmp_path_factory.mktemp("client-stack"), extra_env=QUIET
    ) as running:
        yield running


def folder_of(root: Path, count: int, language: str = "chinese") -> Path:
    make_scene_assets(root, count, durations=(2.0, 2.4, 1.8), language=language)
    return root


def test_submit_a_folder_waits_fetches_and_a_resubmit_sends_nothing(
    stack: LocalStack,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a folder in the earlier layout and a logo, beside the user's working directory
    folder = folder_of(tmp_path / "ep1", 3)
    (tmp_path / "logo.png").write_bytes((folder / "images/scene_001_chinese.png").read_bytes())
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RESULTS_DIR", raising=False)

    # when README's first example runs there, relative paths and all
    code = main(
        ["submit", "ep1/", "--watermark", "logo.png", "--scenes-per-batch", "2",
         "--min-scenes-per-batch", "1", "--config-priority", "5", "--wait", "--fetch"]
    )  # fmt: skip

    # then the job succeeded, the outcome line says so and every video is on disk
    out = capsys.readouterr().out
    assert code == 0, out
    job_id = out.splitlines()[0].removeprefix("job ")
    assert "SUCCEEDED: 3/3 scenes · 2 tasks ·" in out
    fetched = tmp_path / "cloudburst_results" / job_id
    assert sorted(p.name for p in fetched.iterdir()) == [
        "contact_sheet.jpg", "job.json", "posters", "scene_001.mp4", "scene_002.mp4",
        "scene_003.mp4", "status.json",
    ]  # fmt: skip
    assert sorted(p.name for p in (fetched / "posters").iterdir()) == [
        "scene_001.jpg", "scene_002.jpg", "scene_003.jpg",
    ]  # fmt: skip
    assert json.loads((fetched / "job.json").read_text())["job_id"] == job_id

    # and a second submit of the unchanged folder uploads no file, names a new job
    code = main(["submit", str(folder), "--json", "--min-scenes-per-batch", "1"])
    again = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (again["uploaded"], again["unchanged"], again["bytes_sent"]) == (0, 8, 0)  # no logo
    assert again["job_id"] != job_id

    # and status, jobs and fetch find the first job by its id
    assert main(["status", job_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "SUCCEEDED"
    assert main(["jobs", "--json"]) == 0
    assert job_id in [j["job_id"] for j in json.loads(capsys.readouterr().out)]
    assert main(["fetch", job_id, str(tmp_path / "again"), "--json"]) == 0
    # 3 MP4s, job.json, status.json, the contact sheet and 3 posters
    assert len(json.loads(capsys.readouterr().out)["files"]) == 9
    assert main(["watch", again["job_id"], "--timeout", "120"]) == 0


def test_a_job_with_a_broken_scene_ends_partial_with_exit_1(
    stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = folder_of(tmp_path / "ep2", 2, language="english")
    (folder / "images/scene_002_english.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")

    code = main(["submit", str(folder), "--wait", "--min-scenes-per-batch", "1", "--json"])

    document = json.loads(capsys.readouterr().out)
    assert code == 1
    assert document["status"]["status"] == "PARTIAL"
    assert document["outcome"].startswith("1/2 scenes")


def test_execute_parallel_batches_returns_the_earlier_result_and_files(
    stack: LocalStack, tmp_path: Path
) -> None:
    # given the earlier README's scene dicts with local paths
    assets = make_scene_assets(tmp_path / "assets", 3, durations=(1.6, 2.0, 1.8))
    scenes = [
        {"scene_name": a.scene_name, "image_path": str(a.image), "audio_path": str(a.audio)}
        | ({"subtitle_path": str(a.subtitle)} if a.subtitle else {})
        for a in assets
    ]

    # when the earlier call runs, with only its import line changed
    result = execute_parallel_batches(
        scenes=scenes,
        scenes_per_batch=2,
        max_parallel_tasks=2,
        min_scenes_per_batch=1,
        language="english",
        enable_zoom=True,
        config_priority=5,
        saving_dir=str(tmp_path / "results"),
        timeout=120,
    )

    # then the result has the earlier fields and the videos are under batch_YYYYMMDD_HHMMSS/
    assert result["success"] is True
    assert (result["total_scenes"], result["successful_scenes"], result["failed_scenes"]) == (
        3,
        3,
        0,
    )
    assert result["tasks_used"] == 2
    assert result["total_cost_usd"] > 0
    assert set(result["efficiency"]) == {
        "speedup_factor",
        "processing_efficiency",
        "cost_per_scene",
    }
    assert len(result["task_results"]) == 2
    files = [Path(f) for f in result["downloaded_files"]]
    assert [f.name for f in files] == ["scene_001.mp4", "scene_002.mp4", "scene_003.mp4"]
    assert all(f.parent.parent == tmp_path / "results" for f in files)
    assert files[0].parent.name.startswith("batch_")
    assert result["job_id"].startswith("batch-")


def test_scan_and_test_folder_renders_a_folder_into_results_dir(
    stack: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given two scenes and a narration whose picture was never exported
    folder = folder_of(tmp_path / "ep3", 2)
    narration = folder / "audio/scene_002_chinese.mp3"
    (folder / "audio/scene_009_chinese.mp3").write_bytes(narration.read_bytes())
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "env-results"))

    with pytest.warns(UserWarning, match="^skipped ") as told:
        result = scan_and_test_folder(
            str(folder), enable_zoom=False, config_priority=5, min_scenes_per_batch=1, timeout=120
        )

    assert result["success"] is True
    assert len(result["downloaded_files"]) == 2
    assert all(str(tmp_path / "env-results") in f for f in result["downloaded_files"])
    # and the stray narration is named, in the result and in a warning, not dropped in silence
    reason = (
        "audio/scene_009_chinese.mp3: no picture images/scene_009_chinese.png (or .jpg, .webp …)"
    )
    assert result["skipped"] == [reason]
    assert [str(w.message) for w in told] == [f"skipped {reason}"]


def test_cleanup_of_one_job_stops_only_its_tasks(stack: LocalStack, tmp_path: Path) -> None:
    # given two jobs running at once, each a single batch of several scenes
    first = _submit_json(folder_of(tmp_path / "a", 3), "a")
    second = _submit_json(folder_of(tmp_path / "b", 2), "b")
    running = _wait_for_tasks(first, timeout=60)
    assert {t["job_id"] for t in running} == {first}

    # when the first job's tasks are cleaned up through the earlier call, scoped to the job
    result = cleanup_all_tasks("test: stop job a", job_id=first)

    # then only its task stopped: it ends failed, the other job succeeds
    assert (result["terminated_count"], result["failed_count"]) == (1, 0)
    assert main(["watch", first, "--timeout", "60"]) == 1
    assert main(["watch", second, "--timeout", "90"]) == 0
    assert list_running_tasks(job_id=first) == []


def _submit_json(folder: Path, name: str) -> str:
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(
            ["submit", str(folder), "--name", name, "--json", "--min-scenes-per-batch", "1"]
        )
    assert code == 0, buffer.getvalue()
    return str(json.loads(buffer.getvalue())["job_id"])


def _wait_for_tasks(job_id: str, timeout: float) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = list_running_tasks(job_id=job_id)
        if running:
            return running
        time.sleep(0.2)
    raise AssertionError(f"no task of {job_id} ran within {timeout} s")
