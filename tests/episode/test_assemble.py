"""The finished episode, probed from its files (PyAV, ffmpeg ebur128/silencedetect).

Scenes are rendered by the renderer itself (tiny pictures, 1080p, narrations of awkward
lengths: not whole frames, not whole AAC frames), then assembled.
"""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from cloudburst_worker.episode import EpisodeFailed, assemble_episode, contact_sheet, poster
from cloudburst_worker.episode.posters import tile_label
from episode_media import (
    ebur128,
    music,
    noise_level_db,
    probe,
    render_scenes,
    silences,
    source_seconds,
)

from chalicelib.episode import TRANSITION_TYPES, Transition, parse_episode

FRAME = 1 / 30
# one scene per transition type (the last scene's own transition is unused)
TYPES = [t for t in TRANSITION_TYPES if t != "none"] + ["none"]
LENGTHS = [0.4613 + 0.0317 * i for i in range(len(TYPES) + 1)]


@pytest.fixture(scope="module")
def every_transition(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("every")
    spec = parse_episode({"name": "pilot", "transition": {"type": "fade", "duration": 0.4}})
    own = [Transition(type=t, duration=0.2 + 0.02 * i) for i, t in enumerate(TYPES)] + [None]
    scenes = render_scenes(root / "scenes", LENGTHS, spec, own=own)
    return spec, scenes, assemble_episode(spec, scenes, root / "out")


def test_episode_lasts_the_sum_of_its_narrations_and_ends_in_sync(every_transition):
    _, scenes, result = every_transition
    measured = probe(result.path)
    expected = sum(source_seconds(s.narration) for s in scenes)
    assert measured.audio_seconds == pytest.approx(expected, abs=FRAME)
    assert measured.video_seconds == pytest.approx(expected, abs=FRAME)
    assert abs(measured.video_seconds - measured.audio_seconds) <= FRAME
    assert measured.faststart


def test_every_transition_is_reencoded_and_none_is_copied(every_transition):
    _, _, result = every_transition
    assert result.seams_reencoded == len(TYPES) - 1
    assert 0 < result.reencoded_seconds < sum(LENGTHS) / 2


def test_no_join_inserts_silence(every_transition):
    _, _, result = every_transition
    # narrations are continuous tones: any gap at a join would show as silence
    assert silences(result.path, noise_db=-50, minimum=0.001) == []


def test_loudness_meets_the_target_and_ceiling(every_transition):
    spec, _, result = every_transition
    integrated, peak = ebur128(result.path)
    assert abs(integrated - spec.loudness.target_lufs) <= 1.0
    assert peak <= spec.loudness.true_peak_db


def test_chapters_and_sidecars_follow_the_scenes(every_transition):
    _, scenes, result = every_transition
    assert probe(result.path).chapters == [s.name for s in scenes]
    srt = next(p for p in result.subtitles if p.suffix == ".srt").read_text("utf-8")
    vtt = next(p for p in result.subtitles if p.suffix == ".vtt").read_text("utf-8")
    assert srt.count("-->") == len(scenes)
    assert "字幕 9" in srt
    second = sum(source_seconds(s.narration) for s in scenes[:1])
    millis = round(second * 1000)
    assert f"00:00:0{millis // 1000}.{millis % 1000:03d} -->" in vtt
    assert result.poster.is_file()
    assert result.path.name == "pilot.mp4"


def test_music_loops_and_ducks_under_narration(tmp_path: Path):
    # narrations hold a silence in the middle; music is shorter than the episode (loops)
    spec = parse_episode(
        {
            "pause": 1.5,
            "transition": {"type": "fadeblack", "duration": 0.4},
            "music": {"path": "m.wav", "volume": 0.5, "ducking_db": -12, "fade_in": 0.2,
                      "fade_out": 0.2},
        }
    )  # fmt: skip
    scenes = render_scenes(tmp_path / "scenes", [1.3011, 1.2077], spec)
    result = assemble_episode(
        spec, scenes, tmp_path / "out", music_file=music(tmp_path / "m.wav", 1.1)
    )
    first = source_seconds(scenes[0].narration)
    under = noise_level_db(result.path, 0.4, first - 0.1, tone=300)
    in_pause = noise_level_db(result.path, first + 0.55, first + 0.95, tone=300)
    assert in_pause - under >= 8.0
    measured = probe(result.path)
    expected = first + 1.5 + source_seconds(scenes[1].narration)
    assert measured.audio_seconds == pytest.approx(expected, abs=FRAME)
    assert abs(measured.video_seconds - measured.audio_seconds) <= FRAME
    integrated, peak = ebur128(result.path)
    assert abs(integrated + 16) <= 1.0
    assert peak <= -1.5


def test_one_scene_with_music_longer_than_the_episode(tmp_path: Path):
    spec = parse_episode({"music": {"path": "m.wav"}, "loudness": {"target_lufs": -20}})
    scenes = render_scenes(tmp_path / "scenes", [1.0413], spec, silence=0.2)
    result = assemble_episode(
        spec, scenes, tmp_path / "out", music_file=music(tmp_path / "m.wav", 9)
    )
    measured = probe(result.path)
    assert measured.audio_seconds == pytest.approx(source_seconds(scenes[0].narration), abs=FRAME)
    assert measured.chapters == ["scene 0"]
    assert result.seams_reencoded == 0
    assert abs(ebur128(result.path)[0] + 20) <= 1.0


def test_scenes_without_the_keyframes_fail_with_a_reason(tmp_path: Path):
    spec = parse_episode({"transition": {"type": "fade", "duration": 0.5}})
    scenes = render_scenes(tmp_path / "scenes", [1.5, 1.5], spec, keyframes=False)
    with pytest.raises(EpisodeFailed, match="has no keyframe at frame"):
        assemble_episode(spec, scenes, tmp_path / "out")
    assert not (tmp_path / "out" / "episode.mp4").exists()


def test_posters_and_contact_sheet(every_transition, tmp_path: Path):
    _, scenes, _ = every_transition
    posters = [poster(s.video, tmp_path / f"{i}.jpg") for i, s in enumerate(scenes[:3])]
    sheet = contact_sheet(
        posters, ["一", "two", "three"], [1.25, 61.0, 0.4], tmp_path / "sheet.jpg"
    )
    with av.open(str(posters[0])) as image:
        assert (image.streams.video[0].width, image.streams.video[0].height) == (1920, 1080)
    with av.open(str(sheet)) as image:
        stream = image.streams.video[0]
        assert stream.width == 3 * 320
        assert stream.height > 180


def test_contact_sheet_labels_fit_their_tile():
    assert tile_label("intro", 7.46, 13.3) == "intro  0:07.5"
    assert tile_label("a long scene name here", 61.0, 13.3) == "a long scen…  1:01.0"
    assert tile_label("长长长长长长长长长长", 0.4, 13.3) == "长长长长长长长…  0:00.4"
