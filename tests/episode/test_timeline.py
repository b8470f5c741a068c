"""The episode's timeline and spec, as pure values (property tests on the one rule)."""

from __future__ import annotations

import itertools

import pytest
from cloudburst_worker.render.commands import forced_keyframes
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.episode import (
    FRAME_SAMPLES,
    TRANSITION_TYPES,
    Cue,
    EpisodeError,
    Transition,
    keyframe_reach,
    merge_cues,
    parse_episode,
    parse_transition,
    pause_samples,
    plan_timeline,
    rendered_frames,
    scene_keyframes,
    seam_transitions,
    srt_text,
    vtt_text,
)

# the renderer refuses narrations shorter than one frame (1600 samples)
narrations = st.lists(st.integers(min_value=1600, max_value=48_000 * 20), min_size=1, max_size=200)
transitions = st.builds(
    Transition,
    type=st.sampled_from(TRANSITION_TYPES),
    duration=st.floats(min_value=0.1, max_value=2.0),
)


@settings(max_examples=60, deadline=None)
@given(narrations, st.data(), st.floats(min_value=0.0, max_value=5.0))
def test_narration_is_never_cut_overlapped_or_shifted(samples, data, pause):
    seams = data.draw(st.lists(transitions, min_size=len(samples) - 1, max_size=len(samples) - 1))
    timeline = plan_timeline(samples, seams, pause)
    gap = pause_samples(pause)
    narrated = sum(samples) + gap * (len(samples) - 1)
    assert narrated <= timeline.samples <= narrated + FRAME_SAMPLES // 2  # to the last frame
    for before, after in zip(timeline.scenes, timeline.scenes[1:], strict=False):
        assert after.start == before.end + gap  # no overlap, no inserted silence but the pause
    assert [s.samples for s in timeline.scenes] == list(samples)


@settings(max_examples=60, deadline=None)
@given(narrations, st.data(), st.floats(min_value=0.0, max_value=5.0))
def test_reencoded_spans_start_and_end_on_the_keyframes_the_renderer_places(samples, data, pause):
    seams = data.draw(st.lists(transitions, min_size=len(samples) - 1, max_size=len(samples) - 1))
    timeline = plan_timeline(samples, seams, pause)
    for i, slot in enumerate(timeline.scenes):
        head = seams[i - 1] if i > 0 else None
        tail = seams[i] if i < len(seams) else None
        keys = scene_keyframes(slot.frames, keyframe_reach(head, tail, pause))
        assert keys == forced_keyframes(slot.frames, *keyframe_reach(head, tail, pause))
        assert slot.copy_from in (0, *keys)
        assert slot.copy_to in (slot.frames, *keys)
        assert 0 <= slot.copy_from <= slot.copy_to <= slot.frames
    for seam in timeline.seams:
        a, b = timeline.scenes[seam.index], timeline.scenes[seam.index + 1]
        if seam.transition.type == "none":
            assert not seam.reencoded
        if not seam.reencoded:  # also a scene too short to hold any window: a cut
            assert (a.copy_to, b.copy_from) == (a.frames, 0)
            continue
        assert seam.span == (
            a.start + a.copy_to * FRAME_SAMPLES,
            b.start + b.copy_from * FRAME_SAMPLES,
        )
        assert seam.span[0] <= seam.window[0] <= seam.window[1] <= seam.span[1]
        # a window never re-encodes more than itself plus a frame at each end
        assert seam.span[1] - seam.span[0] <= (
            seam.transition.frames + 2
        ) * FRAME_SAMPLES + pause_samples(pause)


@settings(max_examples=30, deadline=None)
@given(narrations)
def test_chapters_tile_the_episode(samples):
    timeline = plan_timeline(samples, [Transition()] * (len(samples) - 1))
    chapters = timeline.chapters([f"s{i}" for i in range(len(samples))])
    assert chapters[0].start == 0
    assert chapters[-1].end == timeline.samples
    assert all(c.end == d.start for c, d in itertools.pairwise(chapters))


def test_two_hundred_scenes_of_awkward_length():
    samples = [48_000 * 3 + 1234 + 7 * i for i in range(200)]
    timeline = plan_timeline(samples, [Transition(type="dissolve", duration=0.7)] * 199, 0.25)
    assert timeline.duration == pytest.approx((sum(samples) + 199 * 12_000) / 48_000, abs=1 / 60)
    assert all(seam.reencoded for seam in timeline.seams)
    assert timeline.reencoded_samples < 200 * 24 * FRAME_SAMPLES


def test_renderer_frame_count_matches_the_pipeline_rule():
    assert rendered_frames(48_000) == 30
    assert rendered_frames(1) == 1
    assert rendered_frames(1600 * 10 + 799) == 10


def test_none_seams_copy_everything():
    timeline = plan_timeline([50_000, 70_001], [Transition(type="none", duration=0.5)], 1.0)
    assert timeline.reencoded_samples == 0
    assert [(s.copy_from, s.copy_to) for s in timeline.scenes] == [(0, 31), (0, 44)]


def test_every_bad_field_is_reported_at_once():
    with pytest.raises(EpisodeError) as caught:
        parse_episode(
            {
                "name": "a/b",
                "transition": {"type": "spin", "duration": 3},
                "pause": -1,
                "music": {"volume": 2},
                "loudness": {"target_lufs": "loud"},
                "colour": 1,
            }
        )
    text = "\n".join(caught.value.errors)
    for field in (
        "episode.name",
        "episode.transition.type",
        "episode.transition.duration",
        "episode.pause",
        "episode.music.path",
        "episode.music.volume",
        "episode.loudness.target_lufs",
        "episode.colour: unknown field",
    ):
        assert field in text


def test_defaults_and_null_loudness():
    episode = parse_episode({"music": {"path": "inputs/m.mp3"}, "loudness": None})
    assert episode.name == "episode"
    assert episode.pause == 0
    assert episode.loudness is None
    default = parse_episode({})
    assert default.loudness is not None
    assert default.loudness.target_lufs == -16
    assert default.loudness.true_peak_db == -1.5


def test_scene_override_wins_for_its_seam():
    episode = parse_episode({"transition": {"type": "fade", "duration": 1}})
    own = parse_transition({"type": "wipeleft", "duration": 0.3}, "scenes[0].transition")
    assert [t.type for t in seam_transitions(episode, [own, None, None])] == ["wipeleft", "fade"]
    with pytest.raises(EpisodeError, match=r"scenes\[1\].transition.duration"):
        parse_transition({"duration": 0}, "scenes[1].transition")


def test_subtitles_follow_the_scenes():
    timeline = plan_timeline([96_000, 48_000], [Transition()], pause=0.5)
    cues = merge_cues(
        [
            [Cue(0.0, 1.5, "一"), Cue(1.5, 9.0, "two")],
            [Cue(0.25, 0.75, "three"), Cue(5, 6, "late")],
        ],
        timeline,
    )
    assert [(c.start, c.end, c.text) for c in cues] == [
        (0.0, 1.5, "一"), (1.5, 2.0, "two"), (2.75, 3.25, "three"),
    ]  # fmt: skip
    assert srt_text(cues).startswith("1\n00:00:00,000 --> 00:00:01,500\n一\n")
    assert "00:00:02.750 --> 00:00:03.250\nthree" in vtt_text(cues)
    assert vtt_text(cues).startswith("WEBVTT\n")
