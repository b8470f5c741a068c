"""The assembler's and the renderer's ffmpeg argument lists, compared verbatim."""

from __future__ import annotations

from pathlib import Path

import av
from cloudburst_worker.episode.commands import (
    SeamPlan,
    encode_audio_args,
    music_args,
    mux_args,
    seam_args,
)
from cloudburst_worker.render import RenderSettings, SceneInput, render_scene
from cloudburst_worker.render.commands import encode_args, forced_keyframes
from cloudburst_worker.render.stillgop import GopPlan, plan_still_gops
from episode_media import narration, picture

Q = ["-hide_banner", "-nostdin", "-loglevel", "error"]
W = ["-hide_banner", "-nostdin", "-loglevel", "warning"]  # decodes read for lost data


def test_seam_seeks_to_the_placed_keyframe_and_blends_with_xfade():
    plan = SeamPlan("wipeleft", out_start=52, out_frames=60, out_keyframe=True, in_frames=7,
                    lead=9, offset=2, window=15, frames=16)  # fmt: skip
    args = seam_args(plan, Path("a.mp4"), Path("b.mp4"), Path("s.mp4"), threads=2)
    assert args == [
        *Q, "-filter_complex_threads", "2",
        "-noaccurate_seek", "-ss", "1.750000", "-an", "-i", "a.mp4",
        "-t", "0.266667", "-an", "-i", "b.mp4",
        "-filter_complex",
        "[0:v]trim=end_frame=8,settb=1/30,setpts=N,tpad=stop_mode=clone:stop=17,"
        "trim=end_frame=17[out];"
        "[1:v]trim=end_frame=7,settb=1/30,setpts=N,tpad=start_mode=clone:start=7"
        ":stop_mode=clone:stop=16,trim=end_frame=14,setpts=N[in];"
        "[out][in]xfade=transition=wipeleft:duration=0.500000:offset=0.066667,format=yuv420p[v]",
        "-map", "[v]", "-c:v", "libx264", "-preset", "veryfast", "-crf", "21",
        "-pix_fmt", "yuv420p", "-threads", "2",
        "-color_range", "tv", "-colorspace", "bt709", "-color_primaries", "bt709",
        "-color_trc", "bt709", "-frames:v", "16", "-map_metadata", "-1", "-f", "mp4", "-y", "s.mp4",
    ]  # fmt: skip


def test_music_is_looped_trimmed_and_faded():
    args = music_args(Path("m.mp3"), Path("m.pcm"), samples=96_000, volume=0.3,
                      fade_in=1.5, fade_out=4.0)  # fmt: skip
    assert args == [
        *W, "-stream_loop", "-1", "-i", "m.mp3", "-map", "0:a:0", "-vn", "-sn", "-dn",
        "-af", "aresample=48000,aformat=sample_fmts=flt:channel_layouts=stereo,"
        "atrim=end_sample=96000,apad=whole_len=96000,volume=0.300000,"
        "afade=t=in:st=0:d=1.000000,afade=t=out:st=1.000000:d=1.000000",
        "-ac", "2", "-ar", "48000", "-f", "s16le", "-c:a", "pcm_s16le", "-y", "m.pcm",
    ]  # fmt: skip


def test_audio_is_gained_limited_and_cut_to_the_video_length():
    args = encode_audio_args(Path("mix.f32"), Path("a.m4a"), samples=4800, gain_db=-3.25,
                             ceiling_db=-1.5)  # fmt: skip
    assert args == [
        *Q, "-f", "f32le", "-ar", "48000", "-ch_layout", "stereo", "-i", "mix.f32",
        "-af", "volume=-3.250dB,alimiter=limit=0.749894:attack=1:release=50:level=false"
        ":latency=true,apad=whole_len=4800,atrim=end_sample=4800",
        "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2", "-f", "mp4", "-y", "a.m4a",
    ]  # fmt: skip


def test_mux_copies_both_streams_with_chapters_and_faststart():
    assert mux_args(Path("v.mp4"), Path("a.m4a"), Path("c.txt"), Path("e.mp4")) == [
        *Q, "-i", "v.mp4", "-i", "a.m4a", "-f", "ffmetadata", "-i", "c.txt",
        "-map", "0:v:0", "-map", "1:a:0", "-map_metadata", "2", "-map_chapters", "2",
        "-c", "copy", "-movflags", "+faststart", "-f", "mp4", "-y", "e.mp4",
    ]  # fmt: skip


def test_renderer_forces_idrs_at_the_requested_frames():
    args = encode_args(width=64, height=36, frame_count=90, still=False, pcm=Path("a.pcm"),
                       output=Path("o.mp4"), keyframes=(8, 82))  # fmt: skip
    at = args.index("-force_key_frames")
    assert args[at : at + 4] == ["-force_key_frames", "expr:eq(n,8)+eq(n,82)", "-forced-idr", "1"]
    assert "-force_key_frames" not in encode_args(
        width=64, height=36, frame_count=90, still=False, pcm=Path("a.pcm"), output=None
    )
    assert forced_keyframes(90, 8, 8) == (8, 82)
    assert forced_keyframes(5, 8, 8) == (2, 3)  # each side keeps at most half the scene
    assert forced_keyframes(90, 0, 0) == ()


def test_still_gop_plans_honour_keyframes_or_step_aside():
    assert plan_still_gops(480, (240,)) == GopPlan(gop=240, copies=2, remainder=0)
    assert plan_still_gops(480, (8,)) is None


def test_rendered_scene_has_idrs_where_the_episode_needs_them(tmp_path: Path):
    audio = narration(tmp_path / "n.wav", 2.0123, frequency=400)
    image = picture(tmp_path / "p.png", (10, 200, 90))
    for effect in ("none", "zoom_in"):
        out = tmp_path / f"{effect}.mp4"
        result = render_scene(
            SceneInput("s", image, audio, effect=effect, keyframe_reach=(7, 9)),
            RenderSettings(threads=1),
            out,
        )
        assert result.ok, result.error
        with av.open(str(out)) as container:
            stream = container.streams.video[0]
            packets = [p for p in container.demux(stream) if p.size]
            origin = packets[0].pts
            keys = sorted(
                round((p.pts - origin) * p.time_base * 30) for p in packets if p.is_keyframe
            )
        assert keys == [0, 7, len(packets) - 9]
