"""The episode from the user's side: flags over the manifest's object, the music uploaded like
any asset, and the assembly task in the estimate."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from cloudburst.client.episode_flags import episode_overrides, with_episode
from cloudburst.client.estimate import SceneWork, assembly_rate, estimate_job
from cloudburst.client.source import JobSource
from cloudburst.client.submit import localize
from tests.client.test_estimate import SPEEDS


def flags(**given: object) -> argparse.Namespace:
    values: dict[str, object] = {
        "episode": False, "transition": None, "pause": None, "music": None, "loudness": None,
    }  # fmt: skip
    values.update(given)
    return argparse.Namespace(**values)


def test_no_episode_flag_leaves_the_manifest_alone() -> None:
    source = JobSource({"version": 1, "scenes": []}, Path("."), "ep1")

    assert episode_overrides(flags()) is None
    assert with_episode(source, None) is source


def test_flags_override_the_manifests_episode_field_by_field(tmp_path: Path) -> None:
    # given a manifest whose episode has music at half volume and its own loudness
    music = tmp_path / "music.mp3"
    music.write_bytes(b"ID3")
    episode = {"name": "ep", "music": {"path": "old.mp3", "volume": 0.5}, "pause": 1.0,
               "loudness": {"target_lufs": -14, "true_peak_db": -2}}  # fmt: skip
    source = JobSource({"version": 1, "scenes": [], "episode": episode}, tmp_path, "ep1")

    # when --transition, --music and --loudness are given
    changed = with_episode(
        source, episode_overrides(flags(transition="wipeleft:1.5", music=music, loudness=-18))
    )

    # then those fields change and the others stay
    assert changed.document["episode"] == {
        "name": "ep",
        "music": {"path": str(music.resolve()), "volume": 0.5},
        "pause": 1.0,
        "loudness": {"target_lufs": -18, "true_peak_db": -2},
        "transition": {"type": "wipeleft", "duration": 1.5},
    }
    assert with_episode(source, episode_overrides(flags(episode=True))).document == source.document


def test_a_local_music_file_is_uploaded_under_the_jobs_inputs(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"png")
    (tmp_path / "a.mp3").write_bytes(b"mp3")
    (tmp_path / "bed.mp3").write_bytes(b"ID3")
    scenes = [{"scene_name": "a", "image_path": "a.png", "audio_path": "a.mp3"}]
    source = with_episode(
        JobSource({"version": 1, "scenes": scenes}, tmp_path, "ep1"),
        episode_overrides(flags(music=tmp_path / "bed.mp3", transition="fade")),
    )

    document, assets = localize(source, "ep1")

    assert document["episode"]["music"]["path"] == "inputs/ep1/bed.mp3"
    assert document["episode"]["transition"] == {"type": "fade"}
    assert sorted(a.key for a in assets) == [
        "inputs/ep1/a.mp3",
        "inputs/ep1/a.png",
        "inputs/ep1/bed.mp3",
    ]


def test_a_transition_duration_that_is_not_seconds_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="--transition 'fade:slow'"):
        episode_overrides(flags(transition="fade:slow"))


def test_the_estimate_adds_one_assembly_task_after_the_last_batch() -> None:
    scenes = [SceneWork(f"s{i}", 30.0, "zoom") for i in range(20)]
    rate = assembly_rate()

    plain = estimate_job(scenes, speeds=SPEEDS, startup_seconds=30, chosen_priority=5)
    episode = estimate_job(
        scenes, speeds=SPEEDS, startup_seconds=30, chosen_priority=5, assembly_per_second=rate
    )

    before = next(p for p in plain.profiles if p.config_priority == 5 and not p.spot)
    after = next(p for p in episode.profiles if p.config_priority == 5 and not p.spot)
    assembly = 30 + 600 * rate
    assert after.wall_seconds == pytest.approx(before.wall_seconds + assembly, abs=0.1)
    assert after.billed_seconds == before.billed_seconds + max(60, -(-assembly // 1))
    assert after.cost_usd > before.cost_usd
    assert any("assembly task" in a for a in episode.assumptions)


def test_watch_says_when_the_episode_is_being_assembled() -> None:
    from datetime import datetime

    from cloudburst.client.progress import progress_line
    from tests.client.test_progress import CREATED, status

    now = datetime.fromisoformat(CREATED)
    rendering = status(scenes_succeeded=20, phase="rendering")
    assembling = status(scenes_succeeded=24, tasks_running=1, phase="assembling")

    assert "assembling" not in progress_line(rendering, now)
    assert progress_line(assembling, now).startswith("RUNNING · assembling the episode · ")
