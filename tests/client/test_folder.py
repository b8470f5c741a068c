"""The earlier tools' folder layout becomes scenes; the language comes from the file names."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudburst.client.folder import (
    NARRATION_SUFFIXES,
    PICTURE_SUFFIXES,
    SUBTITLE_SUFFIX,
    FolderError,
    FolderScan,
    scan_folder,
)


def touch(path: Path, body: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return path


def test_a_chinese_folder_gives_scenes_with_optional_subtitles(tmp_path: Path) -> None:
    # given two Chinese scenes, the first with subtitles
    touch(tmp_path / "images/scene_001_chinese.png")
    touch(tmp_path / "images/scene_002_chinese.png")
    touch(tmp_path / "audio/scene_001_chinese.mp3")
    touch(tmp_path / "audio/scene_001_chinese.srt")
    touch(tmp_path / "audio/scene_002_chinese.mp3")

    # when the folder is scanned
    scan = scan_folder(tmp_path)

    # then the language is Chinese and each scene names its files
    assert scan.language == "chinese"
    assert [s.as_scene() for s in scan.scenes] == [
        {
            "scene_name": "scene_001",
            "image_path": str(tmp_path / "images/scene_001_chinese.png"),
            "audio_path": str(tmp_path / "audio/scene_001_chinese.mp3"),
            "subtitle_path": str(tmp_path / "audio/scene_001_chinese.srt"),
        },
        {
            "scene_name": "scene_002",
            "image_path": str(tmp_path / "images/scene_002_chinese.png"),
            "audio_path": str(tmp_path / "audio/scene_002_chinese.mp3"),
        },
    ]


_NO_PICTURE = "no picture images/scene_002_english.png (or .jpg, .webp …)"


@pytest.mark.parametrize(
    ("halves", "reasons"),
    [
        (  # a picture whose narration was never recorded
            ["images/scene_002_english.png"],
            [
                "images/scene_002_english.png: no narration audio/scene_002_english.mp3 "
                "(or .m4a, .aac, .wav, .ogg, .opus, .flac)"
            ],
        ),
        (  # a narration and a subtitle whose picture was never exported
            ["audio/scene_002_english.ogg", "audio/scene_002_english.srt"],
            [
                f"audio/scene_002_english.ogg: {_NO_PICTURE}",
                f"audio/scene_002_english.srt: {_NO_PICTURE}",
            ],
        ),
    ],
)
def test_half_a_scene_is_skipped_with_the_reason_not_dropped(
    tmp_path: Path, halves: list[str], reasons: list[str]
) -> None:
    # given one whole scene beside half of another
    touch(tmp_path / "images/scene_001_english.png")
    touch(tmp_path / "audio/scene_001_english.mp3")
    for half in halves:
        touch(tmp_path / half)

    scan = scan_folder(tmp_path)

    assert [s.scene_name for s in scan.scenes] == ["scene_001"]
    assert list(scan.skipped) == reasons


def test_a_folder_in_two_languages_needs_one_chosen(tmp_path: Path) -> None:
    for language in ("chinese", "english"):
        touch(tmp_path / f"images/scene_001_{language}.png")
        touch(tmp_path / f"audio/scene_001_{language}.mp3")

    with pytest.raises(FolderError, match="several languages"):
        scan_folder(tmp_path)
    english = scan_folder(tmp_path, "english")

    assert english.language == "english"
    assert english.scenes[0].audio.name == "scene_001_english.mp3"


def test_untagged_files_of_the_fargate_tool_are_read(tmp_path: Path) -> None:
    touch(tmp_path / "images/scene_007.png")
    touch(tmp_path / "audio/scene_007.mp3")

    scan = scan_folder(tmp_path)

    assert (scan.language, [s.scene_name for s in scan.scenes]) == (None, ["scene_007"])


def test_a_folder_without_the_layout_is_refused(tmp_path: Path) -> None:
    touch(tmp_path / "scene_001.png")

    with pytest.raises(FolderError, match="expected images/ and audio/"):
        scan_folder(tmp_path)
    touch(tmp_path / "images/cover.png")
    touch(tmp_path / "audio/readme.txt")
    with pytest.raises(FolderError, match="no scenes found"):
        scan_folder(tmp_path)


def test_a_second_picture_or_narration_for_a_scene_is_reported_and_the_first_format_used(
    tmp_path: Path,
) -> None:
    # given one scene exported twice, as PNG and JPEG, with MP3 and WAV narrations
    for name in ("images/scene_001.jpg", "images/scene_001.png", "audio/scene_001.wav"):
        touch(tmp_path / name)
    touch(tmp_path / "audio/scene_001.mp3")

    scan = scan_folder(tmp_path)

    # then one scene, PNG and MP3 (the suffixes' order), and the others named as unused
    [scene] = scan.scenes
    assert (scene.image.name, scene.audio.name) == ("scene_001.png", "scene_001.mp3")
    assert scan.skipped == (
        "images/scene_001.jpg: images/scene_001.png is used for the scene",
        "audio/scene_001.wav: audio/scene_001.mp3 is used for the scene",
    )


def test_files_not_named_as_the_layout_asks_are_reported_and_hidden_files_ignored(
    tmp_path: Path,
) -> None:
    touch(tmp_path / "images/scene_001_chinese.png")
    touch(tmp_path / "audio/scene_001_chinese.mp3")
    touch(tmp_path / "images/Scene 2.png")
    touch(tmp_path / "images/scene_003_chinese.gif")
    touch(tmp_path / "audio/scene_004_french.mp3")
    touch(tmp_path / "images/.DS_Store")
    (tmp_path / "images/drafts").mkdir()

    scan = scan_folder(tmp_path)

    assert [s.scene_name for s in scan.scenes] == ["scene_001"]
    assert [reason.split(": ")[0] for reason in scan.skipped] == [
        "images/Scene 2.png",
        "images/scene_003_chinese.gif",
        "audio/scene_004_french.mp3",
    ]
    assert all("not named scene_001_chinese" in reason for reason in scan.skipped)


def test_the_other_language_is_not_reported_when_one_is_chosen(tmp_path: Path) -> None:
    for language in ("chinese", "english"):
        touch(tmp_path / f"images/scene_001_{language}.png")
        touch(tmp_path / f"audio/scene_001_{language}.mp3")
    touch(tmp_path / "audio/scene_002_chinese.mp3")

    scan = scan_folder(tmp_path, "english")

    assert ([s.scene_name for s in scan.scenes], scan.skipped) == (["scene_001"], ())


_FILE_NAMES = st.tuples(
    st.sampled_from(["images", "audio"]),
    st.sampled_from(["scene_001", "scene_002_english", "scene_3", "cover", "Scene_004"]),
    st.sampled_from([*PICTURE_SUFFIXES, *NARRATION_SUFFIXES, SUBTITLE_SUFFIX, ".txt", ".PNG"]),
)


@settings(max_examples=150, deadline=None)
@given(st.sets(_FILE_NAMES, max_size=12))
def test_every_file_in_a_folder_is_a_scene_s_or_has_a_reason(tmp_path_factory, files) -> None:
    # given any mix of well and badly named files in the two folders
    root = tmp_path_factory.mktemp("folder")
    (root / "images").mkdir()
    (root / "audio").mkdir()
    for directory, stem, suffix in files:
        touch(root / directory / f"{stem}{suffix}")

    # when the folder is scanned, it is refused with a reason, or
    scan = scan_or_refusal(root)
    if isinstance(scan, str):
        assert "no scenes found" in scan or "several languages" in scan
        return

    # every file is used by exactly one scene or named by exactly one reason
    used = [p for s in scan.scenes for p in (s.image, s.audio, s.subtitle) if p is not None]
    reported = [reason.split(": ")[0] for reason in scan.skipped]
    every = sorted(f"{d}/{stem}{suffix}" for d, stem, suffix in files)
    assert sorted([f"{p.parent.name}/{p.name}" for p in used] + reported) == every


def scan_or_refusal(root: Path) -> FolderScan | str:
    try:
        return scan_folder(root)
    except FolderError as exc:
        return str(exc)
