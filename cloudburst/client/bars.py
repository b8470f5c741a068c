"""Byte progress bars for uploads and downloads (rich, on stderr so stdout stays parseable)."""

from __future__ import annotations

from typing import Any


class RichBytes:
    """A :class:`~cloudburst.client.uploads.ByteProgress` drawn as one rich bar."""

    def __init__(self, description: str) -> None:
        self.description = description
        self._progress: Any = None
        self._task: Any = None

    def start(self, total_bytes: int, files: int) -> None:
        if files == 0:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._progress.start()
        noun = "file" if files == 1 else "files"
        self._task = self._progress.add_task(
            f"{self.description} {files} {noun}", total=total_bytes
        )

    def advance(self, sent_bytes: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, sent_bytes)

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
