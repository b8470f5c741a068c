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


class RichScenes:
    """A job's scenes as one rich bar (the Python API's live progress), fed every
    :class:`~cloudburst.client.status.JobView` a poll reads: scenes done of all, the failed,
    tasks running and the ETA the ``watch`` line shows. ``console`` is for tests."""

    def __init__(self, job_id: str, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            console=console or Console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task(job_id, total=None, detail="waiting for the pipeline")
        self._progress.start()

    def update(self, view: Any) -> None:
        """Show one poll's status (None: the pipeline has not accepted the job yet)."""
        from cloudburst.client.progress import duration_text, eta_seconds

        if view is None:
            return
        counts = view.counts
        detail = [view.status]
        if counts.failed:
            detail.append(f"{counts.failed} failed")
        if not view.is_final:
            detail.append(f"{view.tasks_running} running")
            eta = eta_seconds(view)
            detail.append(f"ETA {duration_text(eta)}")
        self._progress.update(
            self._task, total=counts.total or None, completed=counts.done, detail=" · ".join(detail)
        )
        self._progress.refresh()  # each poll drawn at once, not at the next timed refresh

    def finish(self) -> None:
        self._progress.stop()
