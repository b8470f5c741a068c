"""A job with an episode on the whole local stack: scenes render, one assembly task runs on the
same worker, and the user finds one finished video with its sidecars, posters and contact
sheet — probed from the files (PyAV), not from the pipeline's bookkeeping."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest

from cloudburst.demo import (
    CHINESE_NARRATION,
    download_prefix,
    make_music,
    make_scene_assets,
    upload_job,
)
from cloudburst.local import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

DURATIONS = (1.7, 2.3, 1.9)
PAUSE = 0.3


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(port=0, state_dir=tmp_path_factory.mktemp("episode-stack")) as running:
        yield running


def test_an_episode_job_ends_with_one_finished_video_its_sidecars_and_posters(
    stack: LocalStack, tmp_path: Path
) -> None:
    # given three short Chinese scenes with subtitles, music and fades between them
    scenes = make_scene_assets(
        tmp_path / "assets", 3, durations=DURATIONS, subtitles_every=1, language="chinese",
        narration=CHINESE_NARRATION,
    )  # fmt: skip
    s3 = stack.client("s3")
    music = make_music(tmp_path / "music.mp3", 2.0)  # shorter than the episode: looped
    s3.upload_file(str(music), stack.bucket, "inputs/e2e-episode/music.mp3")
    episode = {
        "name": "story",
        "transition": {"type": "fade", "duration": 0.5},
        "pause": PAUSE,
        "music": {"path": "inputs/e2e-episode/music.mp3", "volume": 0.3},
    }
    upload_job(
        s3, stack.bucket, scenes, name="e2e-episode",
        options={"enable_zoom": False, "config_priority": 5, "episode": episode},
    )  # fmt: skip

    # when the job runs to its end
    [delivery] = stack.receiver.wait_for(1, timeout=240)

    # then it succeeded after two tasks (the scene batch, then the assembly) and says so
    data = delivery.body["data"]
    assert delivery.type == "job.succeeded", data["errors"]
    job_id = data["job_id"]
    assert data["tasks_used"] == 2
    block = data["episode"]
    assert block["key"] == f"outputs/{job_id}/story.mp4"
    assert block["subtitles_keys"] == [f"outputs/{job_id}/story.srt", f"outputs/{job_id}/story.vtt"]
    out = tmp_path / "out"
    files = download_prefix(s3, stack.bucket, f"outputs/{job_id}/", out)
    names = {str(p.relative_to(out)) for p in files}
    assert {"story.mp4", "story.srt", "story.vtt", "story.jpg", "contact_sheet.jpg"} <= names
    assert {f"posters/{s.scene_name}.jpg" for s in scenes} <= names
    assert block["bytes"] == (out / "story.mp4").stat().st_size

    # and the file itself: as long as the narrations plus the pauses, audio as long as the
    # video, one chapter per scene titled with its name
    expected = sum(narration_seconds(s.audio) for s in scenes) + PAUSE * (len(scenes) - 1)
    with av.open(str(out / "story.mp4")) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        video_seconds = float(video.duration * video.time_base)
        audio_seconds = float(audio.duration * audio.time_base)
        chapters = container.chapters()
    assert video_seconds == pytest.approx(expected, abs=1 / 30 + 0.001)
    assert abs(audio_seconds - video_seconds) <= 1 / 30
    assert [c["metadata"].get("title") for c in chapters] == [s.scene_name for s in scenes]
    assert block["duration"] == pytest.approx(video_seconds, abs=1 / 30)
    # the subtitles are every scene's Chinese cues on the episode's timeline
    srt = (out / "story.srt").read_text("utf-8")
    assert srt.count(" --> ") == 2 * len(scenes)
    assert CHINESE_NARRATION[2][:2] in srt
    report = json.loads((out / "job.json").read_text())
    assert report["episode"] == block
    assert report["status"] == "SUCCEEDED"


def narration_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        stream: Any = container.streams.audio[0]
        return float(stream.duration * stream.time_base)
