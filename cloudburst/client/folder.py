"""The earlier tools' folder layout, read into scenes.

``images/scene_001_chinese.png`` + ``audio/scene_001_chinese.mp3`` (+ optional
``audio/scene_001_chinese.srt``) make scene ``scene_001`` in Chinese. The language comes
from the file names; the Fargate tool's untagged ``images/scene_001.png`` is read too. Any
picture and narration format the renderer decodes is taken, not only PNG and MP3. Paths
come back absolute: a folder named relative to the working directory is resolved once, here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

LANGUAGES = ("chinese", "english")
# What the renderer decodes (render/frames.py; ffmpeg for narration), in order of preference
# when one scene has several.
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
NARRATION_SUFFIXES = (".mp3", ".m4a", ".aac", ".wav", ".ogg", ".opus", ".flac")
SUBTITLE_SUFFIX = ".srt"
_NAME = re.compile(r"^(?P<scene>scene_\d+)(?:_(?P<language>chinese|english))?$", re.IGNORECASE)
_LAYOUT = "scene_001_chinese (or _english, or no language) with"


class FolderError(ValueError):
    """The folder cannot become a job; the message says what to change."""


@dataclass(frozen=True)
class FolderScene:
    scene_name: str
    image: Path
    audio: Path
    subtitle: Path | None

    def as_scene(self) -> dict[str, str]:
        """The scene dict ``execute_parallel_batches`` takes (local paths)."""
        scene = {
            "scene_name": self.scene_name,
            "image_path": str(self.image),
            "audio_path": str(self.audio),
        }
        if self.subtitle is not None:
            scene["subtitle_path"] = str(self.subtitle)
        return scene


@dataclass(frozen=True)
class FolderScan:
    folder: Path
    language: str | None  # None: the files carry no language tag
    scenes: tuple[FolderScene, ...]
    skipped: tuple[str, ...]  # images without narration, each with the reason


def scan_folder(folder: Path, language: str | None = None) -> FolderScan:
    """Every scene in ``folder``; ``language`` picks one when the folder holds both.

    Nothing the folder holds is dropped in silence: a picture without narration, a narration
    or subtitle without a picture, a second picture or narration for one scene (the first
    in the suffixes' order is used) and a file not named as the layout asks each come back in
    ``skipped`` with the reason. Hidden files (``.DS_Store``) and the other language's files
    when ``language`` is given are not scenes and not reported."""
    root = folder.resolve()
    images_dir, audio_dir = root / "images", root / "audio"
    if not images_dir.is_dir() or not audio_dir.is_dir():
        raise FolderError(f"{folder}: expected images/ and audio/ folders (the earlier layout)")
    if language is not None and language not in LANGUAGES:
        raise FolderError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    skipped: list[str] = []
    pictures = _by_stem(images_dir, PICTURE_SUFFIXES, language, skipped)
    sounds = _by_stem(audio_dir, (*NARRATION_SUFFIXES, SUBTITLE_SUFFIX), language, skipped)
    found: dict[str | None, list[FolderScene]] = {}
    for stem, (scene, tag, images) in pictures.items():
        heard = sounds[stem][2] if stem in sounds else []
        narrations = [f for f in heard if f.suffix.lower() != SUBTITLE_SUFFIX]
        if not narrations:
            others = ", ".join(NARRATION_SUFFIXES[1:])
            skipped += [
                f"{f.parent.name}/{f.name}: no narration audio/{stem}.mp3 (or {others})"
                for f in images + heard
            ]
            continue
        skipped += _not_used(images[1:], images[0], "images") + _not_used(
            narrations[1:], narrations[0], "audio"
        )
        subtitle = next((f for f in heard if f.suffix.lower() == SUBTITLE_SUFFIX), None)
        found.setdefault(tag, []).append(FolderScene(scene, images[0], narrations[0], subtitle))
    for stem, (_, _, files) in sounds.items():
        if stem not in pictures:
            skipped += [
                f"audio/{file.name}: no picture images/{stem}.png (or .jpg, .webp …)"
                for file in files
            ]
    tags = sorted(found, key=str)
    if not found:
        detail = f" ({'; '.join(skipped)})" if skipped else ""
        raise FolderError(
            f"{folder}: no scenes found: expected images/scene_001_chinese.png (or .jpg, .webp …) "
            f"with audio/scene_001_chinese.mp3 (or .m4a, .wav …){detail}"
        )
    if len(tags) > 1:
        named = ", ".join(t or "untagged" for t in tags)
        raise FolderError(f"{folder} holds scenes in several languages ({named}): pass --language")
    tag = tags[0]
    return FolderScan(root, tag or language, tuple(found[tag]), tuple(skipped))


def _by_stem(
    directory: Path, suffixes: tuple[str, ...], language: str | None, skipped: list[str]
) -> dict[str, tuple[str, str | None, list[Path]]]:
    """``directory``'s files named as the layout asks, by stem (``scene_001_chinese``): the
    scene name, the language tag and the files in ``suffixes``' order. Files named otherwise
    are added to ``skipped`` with the reason."""
    by_stem: dict[str, tuple[str, str | None, list[Path]]] = {}
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        suffix = path.suffix.lower()
        match = _NAME.match(path.name[: -len(path.suffix)] if path.suffix else path.name)
        if suffix not in suffixes or not match:
            wanted = ", ".join(suffixes)
            skipped.append(f"{directory.name}/{path.name}: not named {_LAYOUT} {wanted}")
            continue
        tag = match["language"].lower() if match["language"] else None
        if language is not None and tag not in (language, None):
            continue
        stem = path.name[: -len(path.suffix)]
        by_stem.setdefault(stem, (match["scene"], tag, []))[2].append(path)
    for _, _, files in by_stem.values():
        files.sort(key=lambda f: suffixes.index(f.suffix.lower()))
    return by_stem


def _not_used(others: list[Path], used: Path, directory: str) -> list[str]:
    return [f"{directory}/{o.name}: {directory}/{used.name} is used for the scene" for o in others]
