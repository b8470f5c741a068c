"""``make demo`` runs ``cloudburst demo``; this runs the same code, smaller, twice in a row."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from cloudburst.demo import run_demo

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def test_the_demo_renders_downloads_and_verifies_and_runs_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the demo writes ./cloudburst_results and ./.local-stack
    outputs = [io.StringIO(), io.StringIO()]

    runs = [run_demo(scenes=4, timeout=120, out=out) for out in outputs]

    assert runs[0] != runs[1]
    for results, out in zip(runs, outputs, strict=True):
        text = out.getvalue()
        assert results.parent == Path("cloudburst_results")
        assert sorted(p.name for p in results.iterdir()) == [
            "job.json",
            "scene_001.mp4",
            "scene_002.mp4",
            "scene_003.mp4",
            "scene_004.mp4",
            "status.json",
            "webhook.json",
        ]
        report = json.loads((results / "job.json").read_text())
        assert (report["success"], report["successful_scenes"], report["tasks_used"]) == (
            True,
            4,
            2,
        )
        webhook = json.loads((results / "webhook.json").read_text())
        assert webhook["type"] == "job.succeeded"
        assert webhook["body"]["data"]["job_id"] == results.name
        assert "scenes 4/4" in text
        assert "tasks running 2" in text
        assert "SUCCEEDED" in text
        assert "signature verified" in text
