"""The manifest's ``episode`` and a scene's ``transition``: optional, every field checked, every
reason at once naming the field; manifest v1 stays valid without them."""

import json

from manifest_helpers import errors_of

from chalicelib.manifest import parse_manifest


def scene(name, **extra):
    return {
        "scene_name": name,
        "image_path": f"inputs/images/{name}.png",
        "audio_path": f"inputs/audio/{name}.mp3",
        **extra,
    }


def body(scenes=None, **fields) -> bytes:
    document = {"version": 1, "scenes": scenes or [scene("a"), scene("b")], **fields}
    return json.dumps(document).encode()


def test_a_manifest_without_an_episode_is_read_as_before():
    manifest = parse_manifest(body())

    assert manifest.episode is None
    assert [p for _, p in manifest.asset_paths() if "music" in p] == []


def test_an_empty_episode_object_takes_every_default_and_whole_numbers_are_seconds():
    manifest = parse_manifest(
        body(
            scenes=[scene("a", transition={"type": "dissolve", "duration": 1}), scene("b")],
            episode={"pause": 1, "music": {"path": "s3://other/music.mp3", "ducking_db": -12}},
        )
    )

    assert manifest.episode is not None
    assert manifest.scenes[0].transition == {"type": "dissolve", "duration": 1}
    assert ("episode.music.path", "s3://other/music.mp3") in manifest.asset_paths()


def test_every_bad_episode_field_is_named_at_once_beside_the_other_problems():
    errors = errors_of(
        body(
            scenes=[scene("a", transition={"type": "zoom"}), scene("b")],
            episode={
                "name": "../x",
                "transition": {"type": "fade", "duration": 0.05},
                "pause": 6,
                "music": {"path": "/abs/music.mp3", "volume": -1, "fade_in": "1"},
                "loudness": {"target_lufs": 0, "true_peak_db": 1},
                "subtitles": "yes",
                "extra": 1,
            },
            scenes_per_batch=0,
        )
    )

    text = "\n".join(errors)
    for field in (
        "scenes_per_batch",
        "episode.name",
        "episode.transition.duration",
        "episode.pause",
        "episode.music.path",
        "episode.music.volume",
        "episode.music.fade_in",
        "episode.loudness.target_lufs",
        "episode.loudness.true_peak_db",
        "episode.subtitles",
        "episode.extra: unknown field",
        "scenes[0] (scene 'a').transition.type: must be one of none, fade",
    ):
        assert field in text, text
    assert len(errors) == 12


def test_an_episode_named_like_a_scene_or_the_contact_sheet_is_refused():
    assert errors_of(body(episode={"name": "b"})) == [
        "episode.name: 'b' is taken (a scene's name or the contact sheet's); "
        "the episode would overwrite its file"
    ]
    assert len(errors_of(body(episode={"name": "contact_sheet"}))) == 1


def test_a_scene_transition_without_an_episode_is_refused():
    errors = errors_of(body(scenes=[scene("a", transition={"type": "fade"}), scene("b")]))

    assert errors == [
        "scenes[0] (scene 'a').transition: a scene's transition needs a top-level 'episode' object"
    ]


def test_an_episode_that_is_not_an_object_is_named():
    errors = errors_of(body(episode=[1]))

    assert len(errors) == 1
    assert errors[0].startswith("episode:")
