"""The earlier tools' folder layout becomes scenes; the language comes from the file names."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudburst.client.folder import FolderError, scan_folder


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


def test_an_image_without_narration_is_skipped_with_the_reason(tmp_path: Path) -> None:
    touch(tmp_path / "images/scene_001_english.png")
    touch(tmp_path / "images/scene_002_english.png")
    touch(tmp_path / "audio/scene_001_english.mp3")

    scan = scan_folder(tmp_path)

    assert [s.scene_name for s in scan.scenes] == ["scene_001"]
    assert scan.skipped == (
        "scene_002_english.png: no narration audio/scene_002_english.mp3 "
        "(or .m4a, .aac, .wav, .ogg, .opus, .flac)",
    )


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
