"""``estimate``: the pipeline's plan, the bench's render speeds and the pricing rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.pricing import PROFILES, fargate_rate, task_cost_usd
from cloudburst.client.estimate import (
    EstimateError,
    RenderSpeeds,
    SceneWork,
    estimate_job,
    makespan,
    scene_work,
)
from cloudburst.client.source import load_source
from tests.client.media import earlier_folder

SPEEDS = RenderSpeeds({"plain": 0.2, "zoom": 0.7, "subtitles": 0.4, "full": 0.8}, 1.5, "test")


def test_scenes_fill_a_tasks_vcpus_in_batch_order() -> None:
    assert makespan([10, 10, 10], 1) == 30
    assert makespan([10, 10, 10], 2) == 20
    assert makespan([10, 10, 10], 16) == 10


def test_each_profile_is_priced_by_the_billing_rule_with_its_minute_minimum() -> None:
    # given 20 zoom scenes of 30 s: two batches of 10 (the seed's rule), 21 vCPU-s each
    scenes = [SceneWork(f"s{i}", 30.0, "zoom") for i in range(20)]

    estimate = estimate_job(scenes, speeds=SPEEDS, startup_seconds=30, chosen_priority=5)

    # then economy (1 vCPU) renders 10 × 21 s one after another: 240 s per task, billed so
    economy = next(p for p in estimate.profiles if p.config_priority == 5 and not p.spot)
    assert estimate.batch_sizes == [10, 10]
    assert economy.wall_seconds == pytest.approx(30 + 210)
    assert economy.billed_seconds == 2 * 240
    assert economy.cost_usd == pytest.approx(
        2 * task_cost_usd(1, 2, 240, fargate_rate("us-east-1", "x86_64", False)), abs=1e-6
    )
    assert economy.chosen
    # and 16 vCPUs finish each batch at once but pay the one-minute minimum
    maximum = next(p for p in estimate.profiles if p.config_priority == 4 and p.spot)
    assert maximum.wall_seconds == pytest.approx(51)
    assert maximum.billed_seconds == 120
    assert maximum.cost_usd < 2 * task_cost_usd(
        16, 32, 60, fargate_rate("us-east-1", "x86_64", False)
    )
    assert len(estimate.profiles) == 2 * len(PROFILES)
    assert any("60 s" in a for a in estimate.assumptions)


def test_portrait_scenes_take_the_portrait_factor_longer() -> None:
    landscape = SPEEDS.render_seconds(SceneWork("a", 10, "full"))
    portrait = SPEEDS.render_seconds(SceneWork("a", 10, "full", portrait=True))

    assert (landscape, portrait) == pytest.approx((8.0, 12.0))


def test_the_bench_results_give_a_speed_for_every_mode() -> None:
    speeds = RenderSpeeds.from_bench()

    assert set(speeds.per_second) == {"plain", "zoom", "subtitles", "full"}
    assert speeds.per_second["plain"] < speeds.per_second["full"]
    assert speeds.portrait > 1


def test_narration_lengths_and_modes_are_read_from_local_files(tmp_path: Path) -> None:
    # given a folder whose first scene has subtitles, narrations of 1 s and 2 s
    folder = earlier_folder(tmp_path / "ep1", ["scene_001", "scene_002"])

    work = scene_work(load_source(folder).with_options({"enable_zoom": False}))

    assert [(w.name, w.mode) for w in work] == [("scene_001", "subtitles"), ("scene_002", "plain")]
    assert [w.seconds for w in work] == pytest.approx([1.0, 2.0], abs=0.1)


def test_scenes_whose_narration_is_not_local_cannot_be_estimated(tmp_path: Path) -> None:
    manifest = tmp_path / "m.json"
    manifest.write_text(
        '{"scenes": [{"scene_name": "a", "image_path": "k.png", "audio_path": "inputs/a.mp3"}]}'
    )

    with pytest.raises(
        EstimateError, match=r"scene 'a': audio_path 'inputs/a\.mp3': no such local file"
    ):
        scene_work(load_source(manifest))


def test_the_estimate_says_it_bills_storage_and_adds_a_public_ip_when_tasks_get_one() -> None:
    scenes = [SceneWork(f"s{i}", 30.0, "zoom") for i in range(20)]

    private = estimate_job(scenes, speeds=SPEEDS, startup_seconds=30)
    public = estimate_job(scenes, speeds=SPEEDS, startup_seconds=30, public_ipv4=True)

    for without, with_ip in zip(private.profiles, public.profiles, strict=True):
        hours = without.billed_seconds / 3600
        assert with_ip.cost_usd - without.cost_usd == pytest.approx(0.005 * hours, abs=1e-5)
    assert any("34 GiB of ephemeral storage" in line for line in private.assumptions)
