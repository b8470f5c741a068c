"""Still scenes encode one GOP and repeat it: the plan, the timestamps and real outputs."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest
from cloudburst_worker.render import RenderSettings, SceneInput, pipeline, render_scene, stillgop
from cloudburst_worker.render.commands import encode_args
from cloudburst_worker.render.stillgop import (
    GOP_MAX,
    GOP_MIN,
    GopMismatch,
    GopPlan,
    copy_schedule,
    decode_timestamps,
    one_pass_gops,
    plan_still_gops,
)
from hypothesis import given
from hypothesis import strategies as st
from render_media import frame_at, make_picture, make_tone, probe

PLAIN = RenderSettings(enable_zoom=False)


# --- the plan --------------------------------------------------------------------------


def test_a_ten_second_scene_encodes_half_its_frames() -> None:
    assert plan_still_gops(300) == GopPlan(gop=150, copies=2, remainder=0)


def test_the_remainder_is_one_short_final_gop() -> None:
    # 301 frames: no GOP length in range divides it; 150 + 1 is the least to encode
    assert plan_still_gops(301) == GopPlan(gop=150, copies=2, remainder=1)


def test_a_long_scene_keeps_at_most_one_idr_more_than_one_pass() -> None:
    # 61.3 s: one pass cuts 8 GOPs of <= 250 frames; 8 x 229 + 7 is 9, for 236 encoded frames
    assert plan_still_gops(1839) == GopPlan(gop=229, copies=8, remainder=7)
    assert one_pass_gops(1839) == 8


def test_scenes_shorter_than_two_gops_are_not_repeated() -> None:
    assert plan_still_gops(2 * GOP_MIN - 1) is None
    assert plan_still_gops(1) is None


def test_a_remainder_gop_is_not_worth_two_extra_idrs() -> None:
    # 245 frames: one pass has 1 GOP; 120 + 120 + 5 would have 3
    assert plan_still_gops(245) is None
    assert plan_still_gops(240) == GopPlan(gop=120, copies=2, remainder=0)


@given(st.integers(min_value=GOP_MAX, max_value=30_000))
def test_every_plan_adds_up_and_saves_work(frames: int) -> None:
    plan = plan_still_gops(frames)
    assert plan is not None
    assert plan.frame_count == frames
    assert GOP_MIN <= plan.gop <= GOP_MAX
    assert 0 <= plan.remainder < plan.gop
    assert plan.copies >= 2
    assert plan.encoded_frames < frames
    assert plan.gops <= one_pass_gops(frames) + 1


# --- timestamps and the copy schedule --------------------------------------------------


def test_decode_timestamps_start_early_enough_for_b_frame_reordering() -> None:
    # x264's B-pyramid decode order: I P B b b (display 0 4 2 1 3)
    pts = [0, 4, 2, 1, 3, 8, 6, 5, 7]
    dts = decode_timestamps(pts)
    assert dts == [-2, -1, 0, 1, 2, 3, 4, 5, 6]
    assert all(d <= p for d, p in zip(dts, pts, strict=True))


def test_decode_timestamps_without_reordering_equal_presentation() -> None:
    assert decode_timestamps([0, 1, 2, 3]) == [0, 1, 2, 3]


def test_copy_schedule_repeats_the_gop_then_appends_the_remainder() -> None:
    plan = GopPlan(gop=3, copies=2, remainder=2)
    schedule = copy_schedule(plan, packets=5, split=3)
    assert schedule == [(0, 0), (1, 0), (2, 0), (0, 3), (1, 3), (2, 3), (3, 3), (4, 3)]


def test_copy_schedule_refuses_gops_cut_elsewhere_than_planned() -> None:
    with pytest.raises(GopMismatch, match="wrote GOPs of 4 and 1 frames, planned 3 and 2"):
        copy_schedule(GopPlan(gop=3, copies=2, remainder=2), packets=5, split=4)


def test_repeated_gop_encode_args_cut_idrs_and_write_nut_with_all_the_audio() -> None:
    args = encode_args(
        width=1920, height=1080, frame_count=150, still=True, pcm=Path("a.pcm"),
        output=None, gop=150,
    )  # fmt: skip
    assert args[args.index("-g") : args.index("-g") + 6] == [
        "-g", "150", "-keyint_min", "150", "-sc_threshold", "0",
    ]  # fmt: skip
    assert args[-3:] == ["-f", "nut", "pipe:1"]
    assert "-frames:v" not in args  # the video stops at 150 frames, the audio must not


# --- real renders ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 8.5 s → 255 frames: two GOPs of 127 and a final one-frame GOP
    return make_tone(tmp_path_factory.mktemp("gop") / "long.wav", 8.5, rate=44_100)


def _keyframe_times(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        tb = stream.time_base
        assert tb is not None
        return sorted(
            float(p.pts * tb) for p in c.demux(stream) if p.is_keyframe and p.pts is not None
        )


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="yuv420p") for f in c.decode(video=0)]


def _audio_samples(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(f.samples for f in c.decode(audio=0))


def test_a_long_still_scene_is_its_gop_repeated_and_matches_one_pass(
    picture: Path, long_tone: Path, tmp_path: Path
) -> None:
    assert plan_still_gops(255) == GopPlan(gop=127, copies=2, remainder=1)
    scene = SceneInput("still", picture, long_tone)
    # given the same scene rendered with repeated GOPs and in one pass
    repeated = render_scene(scene, PLAIN, tmp_path / "repeated.mp4")
    one_pass_settings = replace(PLAIN, repeat_still_gops=False)
    one_pass = render_scene(scene, one_pass_settings, tmp_path / "one_pass.mp4")
    assert repeated.ok, repeated.error
    assert one_pass.ok, one_pass.error

    # then it is a normal, faststart 1080p H.264/AAC MP4 with every frame and sample
    p, q = probe(repeated.output), probe(one_pass.output)
    assert (p.width, p.height, p.video_codec, p.pix_fmt, p.fps) == (
        1920,
        1080,
        "h264",
        "yuv420p",
        30,
    )
    assert p.colour == q.colour == ("bt709", "bt709", "bt709", "tv")
    assert p.frames == q.frames == 255
    assert p.video_seconds == pytest.approx(255 / 30)
    assert _audio_samples(repeated.output) == _audio_samples(one_pass.output)
    assert repeated.duration_seconds == pytest.approx(one_pass.duration_seconds, abs=1e-3)
    data = repeated.output.read_bytes()
    assert 0 < data.find(b"moov") < data.find(b"mdat")
    # an IDR starts each GOP, and the copies decode to bit-identical pictures
    assert _keyframe_times(repeated.output) == pytest.approx([0, 127 / 30, 254 / 30])
    frames = _frames(repeated.output)
    assert len(frames) == 255
    assert all(np.array_equal(frames[i], frames[i + 127]) for i in (0, 7, 60, 126))
    # and the picture is the one-pass picture, to within x264's noise
    reference = _frames(one_pass.output)
    for i in (0, 130, 254):
        diff = np.abs(frames[i].astype(np.int16) - reference[i].astype(np.int16))
        assert diff.mean() < 1.0


def test_unrepeatable_gops_fall_back_to_one_pass_and_say_so(
    picture: Path,
    long_tone: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given an encoder that (say, another ffmpeg build) cut its GOPs elsewhere
    def refuse(*args: object) -> None:
        raise GopMismatch("encoder wrote GOPs of 100 and 155 frames, planned 127 and 1")

    scene = SceneInput("fallback", picture, long_tone)
    marked = replace(PLAIN, watermark=make_picture(tmp_path / "logo.png", 64, 32, alpha=True))
    one_pass = render_scene(
        scene, replace(marked, repeat_still_gops=False), tmp_path / "one_pass.mp4"
    )
    monkeypatch.setattr(stillgop, "write_repeated", refuse)
    # when the long watermarked still scene renders
    with caplog.at_level(logging.WARNING, logger=pipeline.__name__):
        result = render_scene(scene, marked, tmp_path / "f.mp4")
    # then it still renders, in one pass, and the log names the scene and the reason
    assert result.ok, result.error
    assert probe(result.output).frames == 255
    assert _keyframe_times(result.output) == pytest.approx([0, 250 / 30])  # x264's own keyint
    assert "scene fallback: GOPs not repeatable (encoder wrote GOPs of 100" in caplog.text
    # and the second encode got the same picture (the watermark composited once, not twice)
    assert one_pass.ok, one_pass.error
    assert np.array_equal(frame_at(result.output, 0), frame_at(one_pass.output, 0))
