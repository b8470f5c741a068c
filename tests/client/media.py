"""Small real scene files for client tests (the folder layout of the earlier tools)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def narration(path: Path, seconds: float) -> Path:
    """A silent MP3 of ``seconds`` (PyAV reads its duration like any narration)."""
    import imageio_ffmpeg

    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"anullsrc=r=48000:cl=stereo:d={seconds}",
         "-c:a", "libmp3lame", "-b:a", "64k", str(path)],
        check=True, timeout=60, capture_output=True,
    )  # fmt: skip
    return path


def earlier_folder(root: Path, names: list[str], language: str = "chinese") -> Path:
    """``images/<name>_<language>.png`` + ``audio/<name>_<language>.mp3`` (+ .srt for the first)."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(names):
        (root / "images" / f"{name}_{language}.png").write_bytes(b"\x89PNG fake " + name.encode())
        narration(root / "audio" / f"{name}_{language}.mp3", 1.0 + index)
        if index == 0:
            (root / "audio" / f"{name}_{language}.srt").write_text(
                "1\n00:00:00,000 --> 00:00:01,000\n你好\n", "utf-8"
            )
    return root
