"""Plain scenes: still image + narration → normalised H.264/AAC MP4."""

from __future__ import annotations

from pathlib import Path

import pytest
from cloudburst_worker.render import RenderSettings, SceneInput, render_scene
from PIL import Image
from render_media import audio_seconds, make_picture, make_tone, probe

PLAIN = RenderSettings(enable_zoom=False)
FRAME = 1 / 30


def test_plain_scene_is_landscape_1080p_h264_aac_as_long_as_the_audio(
    picture: Path, tone: Path, tmp_path: Path
) -> None:
    # given a 640x360 slide and 1.5 s of mono 44.1 kHz MP3 narration
    scene = SceneInput("intro", picture, tone)
    # when it is rendered without zoom
    result = render_scene(scene, PLAIN, tmp_path / "intro.mp4")
    # then the MP4 is 1920x1080 30 fps H.264 yuv420p + AAC 48 kHz stereo, audio-long
    assert result.ok, result.error
    p = probe(result.output)
    assert (p.width, p.height, p.video_codec, p.pix_fmt) == (1920, 1080, "h264", "yuv420p")
    assert p.fps == pytest.approx(30)
    assert (p.audio_codec, p.sample_rate, p.channels) == ("aac", 48_000, 2)
    assert p.colour == ("bt709", "bt709", "bt709", "tv")
    assert 100_000 <= p.audio_bitrate <= 160_000
    assert abs(p.video_seconds - audio_seconds(tone)) <= FRAME + 1e-6
    assert result.duration_seconds == pytest.approx(p.container_seconds, abs=0.05)
    assert result.bytes == result.output.stat().st_size
    assert result.error is None


def test_portrait_scene_is_1080x1920(picture: Path, tone: Path, tmp_path: Path) -> None:
    # given a landscape slide, when rendered with is_portrait
    result = render_scene(
        SceneInput("tall", picture, tone),
        RenderSettings(enable_zoom=False, is_portrait=True),
        tmp_path / "tall.mp4",
    )
    # then the frame is 1080 wide and 1920 high
    assert result.ok, result.error
    p = probe(result.output)
    assert (p.width, p.height) == (1080, 1920)


def test_output_is_faststart_with_moov_before_mdat(
    picture: Path, tone: Path, tmp_path: Path
) -> None:
    result = render_scene(SceneInput("fs", picture, tone), PLAIN, tmp_path / "fs.mp4")
    assert result.ok, result.error
    data = result.output.read_bytes()
    assert 0 < data.find(b"moov") < data.find(b"mdat")


@pytest.mark.parametrize(
    ("suffix", "rate", "channels", "codec_args"),
    [
        ("wav", 22_050, 1, []),
        ("m4a", 44_100, 2, ["-c:a", "aac"]),
        ("aac", 32_000, 1, ["-c:a", "aac"]),
        ("mp3", 48_000, 2, []),
    ],
)
def test_any_common_audio_format_sets_the_length(
    picture: Path,
    tmp_path: Path,
    suffix: str,
    rate: int,
    channels: int,
    codec_args: list[str],
) -> None:
    # given narration in various containers, rates and channel counts
    audio = make_tone(tmp_path / f"voice.{suffix}", 1.2, rate=rate, channels=channels)
    # when rendered
    result = render_scene(SceneInput("a", picture, audio), PLAIN, tmp_path / "a.mp4")
    # then the output is always 48 kHz stereo and as long as the narration (± 1 frame)
    assert result.ok, result.error
    p = probe(result.output)
    assert (p.sample_rate, p.channels) == (48_000, 2)
    assert abs(p.video_seconds - audio_seconds(audio)) <= FRAME + 1e-6


@pytest.mark.parametrize(
    ("name", "size", "alpha"),
    [("odd.png", (333, 777), False), ("tiny.jpg", (3, 5), False), ("wide.webp", (1001, 99), True)],
)
def test_odd_tiny_and_alpha_images_are_fitted_to_the_frame(
    tone: Path, tmp_path: Path, name: str, size: tuple[int, int], alpha: bool
) -> None:
    # given an image of an awkward size/format
    image = make_picture(tmp_path / name, *size, alpha=alpha and name.endswith((".png", ".webp")))
    # when rendered in portrait
    result = render_scene(
        SceneInput("odd", image, tone),
        RenderSettings(enable_zoom=False, is_portrait=True),
        tmp_path / "odd.mp4",
    )
    # then the output still has the normalised size
    assert result.ok, result.error
    p = probe(result.output)
    assert (p.width, p.height) == (1080, 1920)


def test_a_huge_photo_is_shrunk_while_decoding_and_fitted(tone: Path, tmp_path: Path) -> None:
    # given a 7000x5000 JPEG
    huge = tmp_path / "huge.jpg"
    Image.new("RGB", (7000, 5000), (40, 90, 160)).save(huge, quality=80)
    # when rendered
    result = render_scene(SceneInput("huge", huge, tone), PLAIN, tmp_path / "huge.mp4")
    # then it renders at the normal size
    assert result.ok, result.error
    assert (probe(result.output).width, probe(result.output).height) == (1920, 1080)


def audio_track_samples(path: Path) -> int:
    """Where the MP4's audio track ends, in 48 kHz samples: the last packet's pts plus its
    duration (the muxer trims the last AAC frame to the samples it carries)."""
    import av

    with av.open(str(path)) as c:
        packets = [p for p in c.demux(audio=0) if p.pts is not None and p.duration]
    last = max(packets, key=lambda p: p.pts)
    return int(last.pts + last.duration)


@pytest.mark.parametrize(
    ("seconds", "settings", "subtitled"),
    [
        (0.41, RenderSettings(enable_zoom=True), False),  # one pass, frames streamed
        (1.013, RenderSettings(enable_zoom=False), True),  # one pass, a looped still + SRT
        (12.345, RenderSettings(enable_zoom=False), False),  # one GOP repeated when muxing
    ],
)
def test_the_audio_track_carries_the_whole_narration_in_every_kind_of_scene(
    picture: Path, tmp_path: Path, seconds: float, settings: RenderSettings, subtitled: bool
) -> None:
    # given a narration that is not a whole number of frames long (WAV: no codec padding)
    narration = make_tone(tmp_path / "n.wav", seconds, rate=48_000)
    srt = tmp_path / "n.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:00,400\nhello\n", encoding="utf-8")
    scene = SceneInput("n", picture, narration, srt if subtitled else None)

    # when it is rendered
    result = render_scene(scene, settings, tmp_path / "n.mp4")

    # then the audio ends with the narration's last sample, not the video's last frame
    # (which is the nearest whole frame): nothing of the narration is cut
    assert result.ok, result.error
    assert audio_track_samples(result.output) == round(seconds * 48_000)
    assert probe(result.output).video_seconds == pytest.approx(round(seconds * 30) / 30)
