"""``make demo`` runs ``cloudburst demo``; this runs the same code, smaller, twice in a row."""

from __future__ import annotations

import io
import json
from pathlib import Path

import av
import pytest

from cloudburst.cli import main
from cloudburst.demo import run_demo

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def test_the_demo_submits_watches_fetches_verifies_and_runs_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the demo writes ./cloudburst_results and ./.local-stack
    outputs = [io.StringIO(), io.StringIO()]

    runs = [run_demo(main, scenes=2, timeout=150, out=out) for out in outputs]

    assert runs[0] != runs[1]
    for (chinese, english), out in zip(runs, outputs, strict=True):
        text = out.getvalue()
        # the user's commands, as typed
        assert "$ cloudburst submit demo-" in text
        assert "--portrait" in text
        assert f"$ cloudburst watch {chinese.name} --fetch" in text
        assert "SUCCEEDED: 2/2 scenes · 1 task ·" in text  # English
        assert "SUCCEEDED: 2/2 scenes · 2 tasks ·" in text  # Chinese: its batch, then its episode
        assert "signature verified" in text
        for results, scenes in ((chinese, 2), (english, 2)):
            assert results.parent == Path("cloudburst_results")
            names = sorted(p.name for p in results.iterdir())
            videos = [f"scene_{i:03d}.mp4" for i in range(1, scenes + 1)]
            if results == chinese:  # the episode, its sidecars and poster come with it
                videos = ["episode.mp4", *videos]
                assert {"episode.srt", "episode.vtt", "episode.jpg"} <= set(names)
            assert [n for n in names if n.endswith(".mp4")] == videos
            assert {"contact_sheet.jpg", "posters"} <= set(names)
            assert {"job.json", "webhook.json"} <= set(names)
            report = json.loads((results / "job.json").read_text())
            assert report["success"] is True
            webhook = json.loads((results / "webhook.json").read_text())
            assert webhook["type"] == "job.succeeded"
            assert webhook["body"]["data"]["job_id"] == results.name
        # the Chinese job is landscape, the English one portrait
        assert frame_size(chinese / "scene_001.mp4") == (1920, 1080)
        assert frame_size(english / "scene_001.mp4") == (1080, 1920)


def frame_size(video: Path) -> tuple[int, int]:
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        return stream.codec_context.width, stream.codec_context.height
