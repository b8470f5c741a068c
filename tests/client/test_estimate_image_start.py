"""``estimate`` charges every task the start-up bench/image.py measured for the image."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudburst.client import estimate as module
from cloudburst.client.estimate import RenderSpeeds, SceneWork, estimate_job


def test_the_start_up_comes_from_the_image_bench(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the image bench's figures: a 12.5-s task start
    results = tmp_path / "image.json"
    results.write_text(json.dumps({"task_start_seconds": {"estimate": 12.5}}))
    monkeypatch.setattr(module, "IMAGE_RESULTS", results)
    speeds = RenderSpeeds({mode: 0.5 for mode in module.MODES}, 1.0, "test")

    # when a one-scene job is estimated without a start-up of the user's
    estimate = estimate_job([SceneWork("s", 10.0, "plain")], speeds=speeds)

    # then every wall time starts with the measured 12.5 s, and the assumption says so
    economy = next(row for row in estimate.profiles if row.vcpu == 1 and not row.spot)
    assert economy.wall_seconds == pytest.approx(12.5 + 5.0)
    assert any("starts in 12 s" in line and "image.json" in line for line in estimate.assumptions)


def test_without_measurements_the_start_up_is_the_earlier_tools_30_s(tmp_path: Path) -> None:
    assert module.measured_startup_seconds(tmp_path / "missing.json") == 30.0


def test_the_committed_bench_result_gives_the_start_up() -> None:
    figures = json.loads(module.IMAGE_RESULTS.read_text())
    assert module.measured_startup_seconds() == figures["task_start_seconds"]["estimate"]
