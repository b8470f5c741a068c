"""The earlier tools' folder layout, read into scenes.

``images/scene_001_chinese.png`` + ``audio/scene_001_chinese.mp3`` (+ optional
``audio/scene_001_chinese.srt``) make scene ``scene_001`` in Chinese. The language comes
from the file names; the Fargate tool's untagged ``images/scene_001.png`` is read too. Any
picture and narration format the renderer decodes is taken, not only PNG and MP3. Paths
come back absolute: a folder named relative to the working directory is resolved once, here.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path

LANGUAGES = ("chinese", "english")
# What the renderer decodes (render/frames.py; ffmpeg for narration), in order of preference
# when one scene has several.
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
NARRATION_SUFFIXES = (".mp3", ".m4a", ".aac", ".wav", ".ogg", ".opus", ".flac")
_IMAGE = re.compile(
    r"^(?P<scene>scene_\d+)(?:_(?P<language>chinese|english))?"
    rf"(?P<suffix>{'|'.join(re.escape(s) for s in PICTURE_SUFFIXES)})$",
    re.IGNORECASE,
)


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
    """Every scene in ``folder``; ``language`` picks one when the folder holds both."""
    root = folder.resolve()
    images_dir, audio_dir = root / "images", root / "audio"
    if not images_dir.is_dir() or not audio_dir.is_dir():
        raise FolderError(f"{folder}: expected images/ and audio/ folders (the earlier layout)")
    if language is not None and language not in LANGUAGES:
        raise FolderError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    found: dict[str | None, list[FolderScene]] = {}
    skipped: list[str] = []
    for image in sorted(images_dir.iterdir()):
        match = _IMAGE.match(image.name)
        if not match or not image.is_file():
            continue
        tag = match["language"].lower() if match["language"] else None
        if language is not None and tag not in (language, None):
            continue
        stem = image.name[: -len(match["suffix"])]
        audio = _narration(audio_dir, stem)
        if audio is None:
            others = ", ".join(NARRATION_SUFFIXES[1:])
            skipped.append(f"{image.name}: no narration audio/{stem}.mp3 (or {others})")
            continue
        subtitle = audio_dir / f"{stem}.srt"
        found.setdefault(tag, []).append(
            FolderScene(match["scene"], image, audio, subtitle if subtitle.is_file() else None)
        )
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


def _narration(audio_dir: Path, stem: str) -> Path | None:
    """The scene's narration in the first format present (case of the suffix ignored)."""
    by_suffix = {
        path.suffix.lower(): path
        for path in audio_dir.glob(f"{glob.escape(stem)}.*")
        if path.is_file() and path.name[: -len(path.suffix)] == stem
    }
    return next((by_suffix[s] for s in NARRATION_SUFFIXES if s in by_suffix), None)
