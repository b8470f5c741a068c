"""Manifest v1: every kind of bad input is refused with a reason naming the field or scene."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from manifest_helpers import errors_of

from chalicelib.manifest import (
    MAX_MANIFEST_BYTES,
    MAX_REPORTED_ERRORS,
    MAX_SCENES,
    MAX_TOTAL_ASSET_PATH_BYTES,
    ManifestError,
    listed_scene_count,
    parse_manifest,
    rejection_webhook_url,
)
from chalicelib.manifest_fields import MAX_SCENE_NAME_BYTES
from chalicelib.manifest_json import manifest_text


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
        (b'{"name": "\xd6\xd0\xce\xc4"}', "not UTF-8 text (undecodable at line 1, byte offset 10)"),
        (b"\xff\xfe", "manifest is not valid JSON: Expecting value at line 1 column 1"),
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


# -- every input ends in a verdict: limits checked up front, each named ---------------------


def nested(depth: int) -> object:
    value: object = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def raw_manifest(**raw_fields: str) -> bytes:
    """A valid manifest plus fields spliced in as raw JSON text (what json.dumps won't write)."""
    fields = "".join(f', "{name}": {text}' for name, text in raw_fields.items())
    return ('{"version": 1, "scenes": [' + json.dumps(scene()) + "]" + fields + "}").encode()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b" " * (MAX_MANIFEST_BYTES + 1), f"the limit is {MAX_MANIFEST_BYTES}"),
        (b"[" * 20_000 + b"]" * 20_000, "deeper than the limit of 32 levels"),
        (b"{" * 20_000, "deeper than the limit of 32 levels"),
        (raw_manifest(metadata=json.dumps(nested(32))), "deeper than the limit of 32 levels"),
        (raw_manifest(scenes_per_batch="9" * 4301), "integer of 4301 digits"),
        (raw_manifest(metadata='{"n": -' + "1" * 21 + "}"), "at most 20"),
        (raw_manifest(background_opacity="NaN"), "uses NaN"),
        (raw_manifest(background_opacity="-Infinity"), "uses -Infinity"),
        (raw_manifest(background_opacity="1e999"), "too large to represent: 1e999"),
        (b'{"scenes": [], "scenes": []}', "appears twice in one JSON object"),
        (
            raw_manifest().replace(
                b'"scene_name": "scene_001"', b'"scene_name": "a", "scene_name": "b"'
            ),
            "appears twice in one JSON object (ambiguous): 'scene_name'",
        ),
    ],
)
def test_unsafe_documents_are_refused_before_parsing_with_the_limit_named(body, expected):
    errors = errors_of(body)

    assert len(errors) == 1
    assert expected in errors[0]


def test_nesting_up_to_the_limit_is_read():
    parsed = parse_manifest(manifest(metadata=nested(31)))  # + the manifest object = 32

    assert parsed.metadata is not None


def test_brackets_inside_strings_are_text_not_nesting():
    parsed = parse_manifest(manifest(scenes=[scene("[" * 40 + "{")], metadata={"x": "]" * 99}))

    assert parsed.scenes[0].scene_name == "[" * 40 + "{"


def test_an_unterminated_string_full_of_brackets_is_reported_as_bad_json():
    [error] = errors_of(b'{"scenes": "' + b"[" * 100)

    assert error.startswith("manifest is not valid JSON: Unterminated string")


def test_a_20_digit_integer_is_a_number_like_any_other():
    parsed = parse_manifest(manifest(metadata={"order": 18446744073709551615}))

    assert parsed.metadata == {"order": 18446744073709551615}


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (raw_manifest().replace(b'"scene_001"', b'"\\ud800x"', 1), "scenes[0].scene_name"),
        (raw_manifest(metadata='{"\\udfff": 1}'), "metadata: a key contains"),
        (raw_manifest(metadata='{"id": ["ok", "\\udc00"]}'), "metadata.id[1]"),
        (raw_manifest(language='"\\ud83c"'), "language"),
    ],
)
def test_lone_surrogates_are_refused_with_the_field_named(body, where):
    errors = errors_of(body)

    assert any(where in error and "unpaired surrogate" in error for error in errors), errors
    assert all(error.encode("utf-8") for error in errors)  # every reason is storable text


def test_a_surrogate_pair_escape_is_one_real_character():
    body = raw_manifest().replace(b'"scene_001"', b'"\\ud83c\\udfac intro"', 1)

    assert parse_manifest(body).scenes[0].scene_name == "🎬 intro"


def test_more_scenes_than_the_limit_are_refused_by_count_alone():
    body = json.dumps({"scenes": [scene(f"s{i}") for i in range(MAX_SCENES + 1)]}).encode()

    assert errors_of(body) == [f"manifest lists {MAX_SCENES + 1} scenes; the limit is {MAX_SCENES}"]


def test_asset_paths_are_limited_in_total_bytes():
    folder = "inputs/" + "x" * 230 + "/"
    scenes = [
        {
            "scene_name": f"s{i}",
            "image_path": f"{folder}{i}.png",
            "audio_path": f"{folder}{i}.mp3",
            "subtitle_path": f"{folder}{i}.srt",
        }
        for i in range(6000)
    ]
    body = json.dumps({"scenes": scenes}, separators=(",", ":")).encode()
    assert len(body) <= MAX_MANIFEST_BYTES

    [error] = errors_of(body)

    assert f"the limit is {MAX_TOTAL_ASSET_PATH_BYTES}" in error
    assert error.startswith("asset paths total")


def test_scene_names_are_limited_in_utf8_bytes_as_well_as_characters():
    assert parse_manifest(manifest(scenes=[scene("第" * 66)]))  # 198 bytes
    errors = errors_of(manifest(scenes=[scene("第" * 67)]))  # 67 characters, 201 bytes

    assert any(f"at most {MAX_SCENE_NAME_BYTES} bytes in UTF-8" in e for e in errors), errors


def test_an_asset_key_longer_than_s3_allows_in_bytes_is_refused():
    errors = errors_of(manifest(scenes=[scene(image_path="inputs/" + "图" * 400)]))

    assert any("image_path" in e and "S3 keys hold at most 1024" in e for e in errors), errors


def test_a_long_list_of_problems_is_capped_and_says_how_many_more():
    errors = errors_of(manifest(scenes=[{"scene_name": f"bad/{i}"} for i in range(200)]))

    assert len(errors) == MAX_REPORTED_ERRORS + 1
    assert errors[-1] == f"… and {600 - MAX_REPORTED_ERRORS} more problems not listed"


def test_repeated_scene_names_are_listed_up_to_a_limit():
    scenes = [scene(f"s{i}") for i in range(30)] * 2

    [error] = errors_of(manifest(scenes=scenes))

    assert error.startswith("scene names must be unique; repeated: 's0', 's1',")
    assert error.endswith("… and 10 more")


def test_user_text_quoted_in_a_reason_is_clipped():
    errors = errors_of(manifest(**{"k" * 100_000: 1}))

    assert len(errors[0]) < 200
    assert "unknown field" in errors[0]


@pytest.mark.parametrize(
    ("webhook_url", "expected"),
    [
        ("https://example.com/" + "x" * 2048, "URL should have at most 2048 characters"),
        ("https://bot:hunter2@example.com/hook", "must not carry credentials"),
        ("https://bot@example.com/hook", "must not carry credentials"),
    ],
)
def test_webhook_urls_are_limited_in_length_and_carry_no_credentials(webhook_url, expected):
    errors = errors_of(manifest(webhook_url=webhook_url))

    assert any(error.startswith("webhook_url") and expected in error for error in errors), errors


# -- issue 13: saving_dir (accepted, ignored) and metadata (echoed) -------------------------


def test_saving_dir_from_a_seed_call_is_accepted_and_changes_nothing_else():
    with_dir = parse_manifest(manifest(saving_dir="./videos/episode 1"))
    without = parse_manifest(manifest())

    assert with_dir.saving_dir == "./videos/episode 1"
    assert with_dir.model_dump(exclude={"saving_dir"}) == without.model_dump(exclude={"saving_dir"})


def test_metadata_is_exposed_as_given():
    metadata = {"request_id": "req-42", "attempt": 2, "tags": ["a", "b"], "extra": None}

    assert parse_manifest(manifest(metadata=metadata)).metadata == metadata
    assert parse_manifest(manifest()).metadata is None


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"blob": "x" * 2100}, "metadata is 2111 bytes as compact JSON; the limit is 2048"),
        ({"blob": "字" * 700}, "metadata is 2111 bytes as compact JSON"),
        (["not", "an", "object"], "metadata: Input should be a valid dictionary"),
        ("text", "metadata: Input should be a valid dictionary"),
    ],
)
def test_metadata_must_be_a_small_json_object(metadata, expected):
    errors = errors_of(manifest(metadata=metadata))

    assert any(expected in error for error in errors), errors


# -- what a rejection report can still read -----------------------------------------------

HOOK = "https://hooks.example.com/cloudburst"


@pytest.mark.parametrize(
    "body",
    [
        manifest(webhook_url=HOOK, colour="red"),
        manifest(webhook_url=HOOK, scenes=[]),
        manifest(webhook_url=HOOK, scenes=[scene("a/b"), scene("a/b")]),
        manifest(webhook_url=HOOK, scenes_per_batch="9" * 5000),
        raw_manifest(webhook_url=json.dumps(HOOK), n="9" * 5000),
        raw_manifest(webhook_url=json.dumps(HOOK), metadata=json.dumps(nested(100))),
        raw_manifest(webhook_url=json.dumps(HOOK), x='"\\ud800"'),
        raw_manifest(webhook_url=json.dumps(HOOK)).replace(b"scene_001", b"scene_\xff", 1),
    ],
)
def test_a_rejected_manifest_still_names_its_own_webhook_url(body):
    with pytest.raises(ManifestError):
        parse_manifest(body)

    assert rejection_webhook_url(body) == HOOK


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xff\xfe\x00",
        b"{not json",
        b"[1, 2]",
        b"[" * 20_000 + b"]" * 20_000,
        manifest(webhook_url="ftp://example.com/hook"),
        manifest(webhook_url="https://bot:pw@example.com/hook"),
        manifest(webhook_url=["https://example.com/hook"]),
        raw_manifest(webhook_url='"https://example.com/\\ud800"'),
        manifest(webhook_url="https://example.com/" + "x" * 3000),
    ],
)
def test_no_webhook_url_is_read_from_what_is_not_an_acceptable_one(body):
    assert rejection_webhook_url(body) is None


def test_the_webhook_url_read_for_a_rejection_is_the_one_an_accepted_manifest_would_use():
    body = manifest(webhook_url="https://Hooks.Example.com")

    assert rejection_webhook_url(body) == str(parse_manifest(body).webhook_url)


@pytest.mark.parametrize(
    ("body", "count"),
    [
        (manifest(scenes=[scene("a"), scene("a/b"), {"x": 1}], colour="red"), 3),
        (json.dumps({"scenes": [scene(f"s{i}") for i in range(MAX_SCENES + 5)]}).encode(), 10_005),
        (manifest(scenes={"not": "a list"}), 0),
        (b"{not json", 0),
        (b"\x00\x01", 0),
        (b"[]", 0),
    ],
)
def test_listed_scene_count_is_what_the_manifest_listed(body, count):
    assert listed_scene_count(body) == count


_ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"]


@settings(max_examples=200, deadline=None)
@given(
    names=st.lists(
        st.text(st.characters(codec="utf-8", categories=["L", "N"]), min_size=1, max_size=12),
        min_size=1,
        max_size=4,
        unique=True,
    ),
    metadata=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
    encoding=st.sampled_from(_ENCODINGS),
)
def test_a_manifest_saved_as_utf_16_or_32_by_a_windows_editor_reads_as_its_utf_8_twin(
    names, metadata, encoding
):
    # given any manifest, saved in an encoding Windows editors write (BOM or none)
    text = json.dumps(
        {"version": 1, "scenes": [scene(n) for n in names], "metadata": metadata},
        ensure_ascii=False,
    )
    body = text.encode(encoding)

    # when the pipeline reads it, then it gets what UTF-8 would have given
    assert manifest_text(body) == text
    assert parse_outcome(body) == parse_outcome(text.encode())


def parse_outcome(body: bytes) -> object:
    try:
        return parse_manifest(body).model_dump()
    except ManifestError as exc:
        return errors_of(exc)
