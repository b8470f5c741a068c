"""The encoder starts on the narration's stated length, and never trusts it blindly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cloudburst_worker.render import RenderSettings, SceneInput, pipeline, render_scene
from cloudburst_worker.render.audio_length import header_seconds
from cloudburst_worker.render.ffmpeg import FfmpegError
from render_media import audio_seconds, make_tone, probe

PLAIN = RenderSettings(enable_zoom=False)
FRAME = 1 / 30


@pytest.mark.parametrize("suffix", ["wav", "m4a", "mp3"])
def test_a_narration_whose_header_states_its_length_is_not_decoded_first(
    suffix: str, picture: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tone = make_tone(tmp_path / f"n.{suffix}", 1.3)
    assert header_seconds(tone) is not None

    def no_decode(*_: object) -> float:
        raise AssertionError("the narration was decoded before the encode")

    monkeypatch.setattr(pipeline, "_decode_audio", no_decode)
    result = render_scene(SceneInput("s", picture, tone), PLAIN, tmp_path / "s.mp4")

    assert result.ok, result.error
    assert abs(probe(result.output).video_seconds - audio_seconds(tone)) <= FRAME + 1e-6


def test_a_header_that_overstates_the_length_is_caught_and_the_scene_rerendered(
    picture: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tone = make_tone(tmp_path / "n.wav", 1.0)
    real = pipeline.header_seconds

    def lying(path: Path) -> float | None:
        stated = real(path)
        return None if stated is None else stated * 2 if path == tone else stated

    monkeypatch.setattr(pipeline, "header_seconds", lying)
    result = render_scene(SceneInput("s", picture, tone), PLAIN, tmp_path / "s.mp4")

    assert result.ok, result.error
    assert abs(probe(result.output).video_seconds - 1.0) <= FRAME + 1e-6
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_an_encode_that_fails_on_the_stated_path_is_retried_from_decoded_pcm(
    picture: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tone = make_tone(tmp_path / "n.m4a", 1.0)
    real = pipeline.run_ffmpeg
    encodes: list[str] = []

    def first_encode_fails(args: list[str], **kwargs: Any) -> Any:
        if "libx264" in args:
            encodes.append(args[args.index("-i", args.index("pipe:0")) + 1])
            if len(encodes) == 1:
                raise FfmpegError("Error while decoding stream #1:0", lines=("decode error",))
        return real(args, **kwargs)

    monkeypatch.setattr(pipeline, "run_ffmpeg", first_encode_fails)
    result = render_scene(SceneInput("s", picture, tone), PLAIN, tmp_path / "s.mp4")

    assert result.ok, result.error
    assert [Path(a).name for a in encodes] == ["n.m4a", "audio.pcm"]
    assert abs(probe(result.output).video_seconds - audio_seconds(tone)) <= FRAME + 1e-6
