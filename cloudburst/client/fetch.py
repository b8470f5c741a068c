"""``fetch``: copy a job's ``outputs/<job>/`` (MP4s, job.json, status.json, the episode with its
sidecars, ``posters/`` and the contact sheet) to a local folder.

Where, as the earlier tools decided: the folder given, else ``RESULTS_DIR``, else
``./cloudburst_results/<job_id>/``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cloudburst.client import keys
from cloudburst.client.connection import Connection
from cloudburst.client.uploads import ByteProgress, NoProgress

RESULTS_ENV = "RESULTS_DIR"
_FOLDERS = ("", "posters")  # outputs/<job>/ itself and its posters/
DEFAULT_RESULTS = Path("cloudburst_results")


class NothingToFetch(LookupError):
    """No object under the job's outputs prefix."""


@dataclass(frozen=True)
class Fetched:
    job_id: str
    directory: Path
    files: tuple[Path, ...]
    bytes: int

    @property
    def videos(self) -> tuple[Path, ...]:
        return tuple(p for p in self.files if p.suffix == ".mp4")

    def summary(self) -> str:
        """``3 files (2.5 MB) in DIR/``, as ``fetch`` and ``watch --fetch`` print it."""
        count = len(self.files)
        noun = "file" if count == 1 else "files"
        return f"{count} {noun} ({self.bytes / 1e6:.1f} MB) in {self.directory}/"


def results_directory(
    job_id: str, directory: Path | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    """DIR if given, else ``$RESULTS_DIR/<job_id>``, else ``./cloudburst_results/<job_id>``."""
    if directory is not None:
        return directory
    env = os.environ if environ is None else environ
    root = env.get(RESULTS_ENV)
    return (Path(root) if root else DEFAULT_RESULTS) / job_id


def fetch_job(
    connection: Connection,
    job_id: str,
    directory: Path,
    progress: ByteProgress | None = None,
    *,
    videos_only: bool = False,
) -> Fetched:
    """Download every object under ``outputs/<job_id>/`` into ``directory``."""
    progress = progress or NoProgress()
    prefix = keys.outputs_prefix(job_id)
    objects: list[tuple[str, int]] = []
    paginator = connection.s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=connection.bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            relative = obj["Key"][len(prefix) :]
            folder, _, name = relative.rpartition("/")
            if not name or folder not in _FOLDERS:
                continue
            if videos_only and not relative.endswith(".mp4"):
                continue
            objects.append((obj["Key"], int(obj["Size"])))
    if not objects:
        raise NothingToFetch(f"s3://{connection.bucket}/{prefix} holds nothing (yet)")
    directory.mkdir(parents=True, exist_ok=True)
    total = sum(size for _, size in objects)
    progress.start(total, len(objects))
    files: list[Path] = []
    try:
        for key, _ in objects:
            target = directory / key[len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            connection.s3.download_file(
                connection.bucket, key, str(target), Callback=progress.advance
            )
            files.append(target)
    finally:
        progress.finish()
    return Fetched(job_id, directory, tuple(sorted(files)), total)
