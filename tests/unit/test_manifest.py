"""Manifest v1: every kind of bad input is refused with a reason naming the field or scene."""

import json

import pytest

from chalicelib.manifest import ManifestError, parse_manifest


def scene(name="scene_001", **extra):
    return {
        "scene_name": name,
        "image_path": f"inputs/images/{name}.png",
        "audio_path": f"inputs/audio/{name}.mp3",
        **extra,
    }


def manifest(**fields):
    document = {"version": 1, "scenes": [scene()]}
    document.update(fields)
    return json.dumps(document).encode()


def errors_of(body: bytes) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(body)
    return caught.value.errors


def test_a_seed_scene_list_gets_the_seed_defaults():
    parsed = parse_manifest(json.dumps({"scenes": [scene()]}).encode())

    assert parsed.language == "chinese"
    assert parsed.enable_zoom is True
    assert parsed.background_box is True
    assert parsed.background_opacity == 0.2
    assert (parsed.scenes_per_batch, parsed.max_parallel_tasks, parsed.min_scenes_per_batch) == (
        10,
        10,
        5,
    )
    assert parsed.config_priority == 1
    assert parsed.scenes[0].subtitle_path is None


def test_every_option_is_read():
    parsed = parse_manifest(
        manifest(
            scenes=[scene(subtitle_path="inputs/a.srt", effect="pan_left")],
            language="english",
            enable_zoom=False,
            is_portrait=True,
            watermark_path="s3://brand/logo.png",
            background_box=False,
            background_opacity=0.5,
            config_priority=5,
            spot=True,
            webhook_url="https://example.com/hook",
        )
    )

    assert parsed.scenes[0].effect == "pan_left"
    assert parsed.is_portrait
    assert parsed.spot
    assert not parsed.enable_zoom
    assert str(parsed.webhook_url) == "https://example.com/hook"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "manifest is not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[1, 2]", "must be a JSON object"),
        (manifest(scenes=[]), "scenes: List should have at least 1 item"),
        (manifest(colour="red"), "colour: unknown field"),
        (manifest(scenes=[scene(voice="x")]), "scenes[0] (scene 'scene_001').voice: unknown field"),
        (manifest(enable_zoom="yes"), "enable_zoom: Input should be a valid boolean"),
        (manifest(scenes_per_batch="10"), "scenes_per_batch: Input should be a valid integer"),
        (
            manifest(background_opacity=1.5),
            "background_opacity: Input should be less than or equal to 1",
        ),
        (
            manifest(scenes_per_batch=0),
            "scenes_per_batch: Input should be greater than or equal to 1",
        ),
        (
            manifest(max_parallel_tasks=-2),
            "max_parallel_tasks: Input should be greater than or equal to 1",
        ),
        (manifest(config_priority=9), "config_priority: Input should be 1, 2, 3, 4 or 5"),
        (manifest(language="klingon"), "language: Input should be 'chinese' or 'english'"),
        (manifest(version=2), "version: unsupported manifest version"),
        (
            manifest(webhook_url="ftp://example.com"),
            "webhook_url: URL scheme should be 'http' or 'https'",
        ),
        (manifest(scenes=[scene(effect="spin")]), "scenes[0] (scene 'scene_001').effect"),
        (manifest(scenes=[scene(image_path="https://x/y.png")]), "image_path: not an s3:// URI"),
        (manifest(scenes=[scene(audio_path="/abs/a.mp3")]), "drop the leading '/'"),
        (
            manifest(scenes=[scene(audio_path="")]),
            "audio_path: String should have at least 1 character",
        ),
    ],
)
def test_bad_manifests_are_refused_with_a_specific_reason(body, expected):
    assert any(expected in error for error in errors_of(body)), errors_of(body)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("a/b", "must not contain '/'"),
        ("..", "must not contain '..'"),
        ("x..y", "must not contain '..'"),
        (".hidden", "start with '.'"),
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("bell\x07", "control characters"),
        ("tab\tname", "control characters"),
        ("back\\slash", "must not contain '/' or '\\'"),
        ("x" * 200, "at most 120 characters"),
    ],
)
def test_unsafe_scene_names_are_refused(name, reason):
    errors = errors_of(manifest(scenes=[scene(name)]))

    assert any(reason in error and "scene_name" in error for error in errors), errors


def test_duplicate_scene_names_are_named_even_beside_other_errors():
    errors = errors_of(manifest(scenes=[scene("a"), scene("a"), scene("b")], config_priority=0))

    assert "scene names must be unique; repeated: 'a'" in errors
    assert any(error.startswith("config_priority") for error in errors)


def test_all_problems_are_reported_at_once():
    errors = errors_of(manifest(scenes=[scene("a/b", audio_path=3)], enable_zoom=1, extra=True))

    assert len(errors) == 4


def test_non_ascii_scene_names_are_fine():
    assert (
        parse_manifest(manifest(scenes=[scene("第一场 scene")])).scenes[0].scene_name
        == "第一场 scene"
    )
