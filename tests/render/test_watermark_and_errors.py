"""Watermark placement, and failures that come back as reasons instead of exceptions."""

from __future__ import annotations

import re
import wave
from pathlib import Path

import numpy as np
import pytest
from cloudburst_worker.render import RenderSettings, SceneInput, render_scene
from cloudburst_worker.render.commands import encode_args
from cloudburst_worker.render.ffmpeg import explain
from PIL import Image
from render_media import frame_at

PLAIN = RenderSettings(enable_zoom=False)


def test_watermark_sits_top_left_at_an_eighth_of_the_width_with_its_alpha(
    tmp_path: Path, picture: Path, tone: Path
) -> None:
    # given a black slide and a 200x100 watermark: left half opaque red, right half clear
    slide = tmp_path / "black.png"
    Image.new("RGB", (640, 360), (0, 0, 0)).save(slide)
    mark = np.zeros((100, 200, 4), np.uint8)
    mark[:, :100] = (255, 0, 0, 255)
    Image.fromarray(mark, "RGBA").save(tmp_path / "mark.png")
    # when rendered (with zoom on: the watermark must not move with the camera)
    result = render_scene(
        SceneInput("w", slide, tone),
        RenderSettings(watermark=tmp_path / "mark.png"),
        tmp_path / "w.mp4",
    )
    assert result.ok, result.error
    for t in (0.0, 1.2):
        frame = frame_at(result.output, t).astype(int)
        # then the red half spans x 10..130, y 10..130 (240 px wide = 1920/8, 10 px inset)
        red = frame[20:110, 20:120]
        assert red[..., 0].mean() > 200
        assert red[..., 1:].mean() < 40
        # the transparent half and everything beyond show the black slide
        assert frame[20:110, 140:240].mean() < 20
        assert frame[140:200, 20:240].mean() < 20


@pytest.mark.parametrize(
    ("role", "content", "expected"),
    [
        ("image", b"\x89PNG\r\n\x1a\n garbage", r"image 'broken\.png' could not be decoded: .+"),
        ("audio", b"ID3 this is not audio at all", r"audio 'broken\.mp3' could not be decoded: .+"),
        ("subtitle", b"\xff\xfe\xfa not utf8 \xc3", r"subtitle 'broken\.srt' is not UTF-8"),
    ],
)
def test_a_corrupt_input_fails_the_scene_with_a_specific_reason_and_no_file(
    tmp_path: Path, picture: Path, tone: Path, role: str, content: bytes, expected: str
) -> None:
    broken = (
        tmp_path / {"image": "broken.png", "audio": "broken.mp3", "subtitle": "broken.srt"}[role]
    )
    broken.write_bytes(content if role != "subtitle" else content[2:])
    scene = SceneInput(
        "bad",
        broken if role == "image" else picture,
        broken if role == "audio" else tone,
        subtitle=broken if role == "subtitle" else None,
    )
    result = render_scene(scene, PLAIN, tmp_path / "out" / "bad.mp4")
    assert not result.ok
    assert result.error is not None
    assert re.match(expected, result.error), result.error
    assert (result.bytes, result.duration_seconds) == (0, 0.0)
    assert list((tmp_path / "out").iterdir()) == []  # no partial file left behind


def test_missing_files_and_audio_without_sound_are_named(
    tmp_path: Path, picture: Path, tone: Path
) -> None:
    missing = render_scene(SceneInput("m", tmp_path / "nope.png", tone), PLAIN, tmp_path / "m.mp4")
    assert missing.error == "image 'nope.png' does not exist"
    silent = render_scene(SceneInput("s", picture, picture), PLAIN, tmp_path / "s.mp4")
    assert silent.error == "audio 'slide.png' has no audio stream"


def test_a_render_over_its_time_limit_fails_without_leaving_a_file(
    tmp_path: Path, picture: Path, tone: Path
) -> None:
    result = render_scene(
        SceneInput("slow", picture, tone),
        RenderSettings(timeout_seconds=0.05),
        tmp_path / "slow.mp4",
    )
    assert not result.ok
    assert result.error is not None
    assert "0.05 s" in result.error
    assert list(tmp_path.iterdir()) == []


def test_still_scenes_repeat_one_frame_in_the_graph_and_moving_ones_stream_every_frame() -> None:
    common = dict(width=1920, height=1080, frame_count=300, pcm=Path("a.pcm"), output=Path("o"))
    still = encode_args(still=True, subtitles="s.ass", fonts_dir="fonts", **common)  # type: ignore[arg-type]
    moving = encode_args(still=False, **common)  # type: ignore[arg-type]
    graph = still[still.index("-filter_complex") + 1]
    assert graph == (
        "[0:v]loop=loop=299:size=1:start=0,setpts=N/30/TB,"
        "subtitles=filename=s.ass:fontsdir=fonts[v]"
    )
    assert "-filter_complex" not in moving
    assert moving[moving.index("-map") + 1] == "0:v:0"
    for args in (still, moving):
        assert args[args.index("-c:v") + 1] == "libx264"
        assert "-frames:v" not in args  # it would end the output before the audio's end
        assert args[args.index("-movflags") + 1] == "+faststart"
        assert args[args.index("-b:a") + 1] == "128k"
        assert args[args.index("-threads") + 1] == "1"


def test_audio_shorter_than_a_frame_is_called_empty(tmp_path: Path, picture: Path) -> None:
    blip = tmp_path / "blip.wav"
    with wave.open(str(blip), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48_000)
        w.writeframes(b"\0\0" * 100)
    result = render_scene(SceneInput("b", picture, blip), PLAIN, tmp_path / "b.mp4")
    assert result.error == "audio 'blip.wav' is empty (shorter than one video frame)"


def test_the_reason_is_ffmpegs_first_real_error_without_its_prefixes() -> None:
    stderr = [
        "[mjpeg @ 0x56445e6c8900] No JPEG data found in image",
        "[vist#0:0/mjpeg @ 0x5644] [dec:mjpeg @ 0x5644] Decode error rate 1 exceeds maximum",
        "[vf#0:0 @ 0x56445e6d16c0] Task finished with error code: -1094995529",
        "[out#0/image2pipe @ 0x56] Nothing was written into output file",
    ]
    assert explain(stderr) == "No JPEG data found in image"


def test_a_relative_output_path_is_written_where_the_caller_means(
    tmp_path: Path, picture: Path, tone: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a caller working in its own folder and naming the output relative to it
    monkeypatch.chdir(tmp_path)

    # when the scene is rendered to "out/relative.mp4"
    result = render_scene(SceneInput("r", picture, tone), PLAIN, Path("out/relative.mp4"))

    # then the MP4 is there, and no partial file is left anywhere
    assert result.ok, result.error
    assert (tmp_path / "out" / "relative.mp4").stat().st_size == result.bytes > 0
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["relative.mp4"]


def test_a_gbk_subtitle_names_the_byte_offset_where_decoding_failed(
    tmp_path: Path, picture: Path, tone: Path
) -> None:
    # given an SRT saved as GBK: its first Chinese character starts at byte offset 32
    srt = tmp_path / "gbk.srt"
    srt.write_bytes("1\n00:00:00,000 --> 00:00:01,000\n你好\n".encode("gbk"))

    # when rendered
    result = render_scene(SceneInput("g", picture, tone, subtitle=srt), PLAIN, tmp_path / "g.mp4")

    # then the reason says it is an offset, and what to do
    assert result.error == (
        "subtitle 'gbk.srt' is not UTF-8 text (undecodable at byte offset 32); save it as UTF-8"
    )
