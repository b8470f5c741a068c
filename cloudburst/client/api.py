"""The earlier tools' Python API, on top of the pipeline: same calls, same result dict.

``execute_parallel_batches`` no longer drives tasks from the caller's machine: it uploads,
writes one manifest, waits for the job's report in S3 and downloads the MP4s. Files go
where the earlier tools put them: ``{saving_dir}/batch_YYYYMMDD_HHMMSS/``, ``saving_dir``
being the argument, else ``RESULTS_DIR``, else ``./cloudburst_fargate_results/``.
"""

from __future__ import annotations

import os
import sys
import warnings
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.contracts import report_key
from chalicelib.model import JobStatus
from cloudburst.client.connection import connect
from cloudburst.client.output import Interrupted
from cloudburst.client.status import read_json

if TYPE_CHECKING:
    from cloudburst.client.connection import Connection
    from cloudburst.client.status import JobView

DEFAULT_SAVING_DIR = Path("cloudburst_fargate_results")


def execute_parallel_batches(
    scenes: list[dict[str, Any]],
    scenes_per_batch: int = 10,
    max_parallel_tasks: int = 10,
    min_scenes_per_batch: int = 5,
    language: str = "chinese",
    enable_zoom: bool = True,
    config_priority: int = 1,
    watermark_path: str | os.PathLike[str] | None = None,
    is_portrait: bool = False,
    saving_dir: str | os.PathLike[str] | None = None,
    background_box: bool = True,
    background_opacity: float = 0.2,
    *,
    spot: bool = False,
    episode: dict[str, Any] | None = None,
    webhook_url: str | None = None,
    stage: str | None = None,
    timeout: float | None = None,
    keys: bool = False,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Render ``scenes`` (local paths, as strings or ``pathlib.Path``, ``s3://`` URIs, or with
    ``keys=True`` relative paths that are keys in the bucket) and download the MP4s.

    Local paths are relative to the working directory; one that names no file raises
    ``SubmitError`` before anything is uploaded. ``episode`` (the manifest's object, e.g.
    ``{"transition": {"type": "fade", "duration": 0.5}, "music": {"path": "music.mp3"}}``)
    also makes one finished video of every scene, downloaded with the scenes.

    Returns the earlier result dict — ``success, total_scenes, successful_scenes,
    failed_scenes, total_cost_usd, total_duration, downloaded_files, task_results,
    tasks_used, efficiency{speedup_factor, processing_efficiency, cost_per_scene}`` — plus
    ``job_id``, ``status`` and ``errors``. Raises ``WatchTimeout`` if ``timeout`` seconds pass
    first (the job goes on), ``SubmitError`` for scenes or options the pipeline would refuse.

    While the job runs, a progress bar on stderr shows scenes as they finish, with an ETA —
    when stderr is a terminal (``progress=None``), always (``True``) or never (``False``).
    """
    from cloudburst.client.fetch import fetch_job
    from cloudburst.client.source import source_from_scenes
    from cloudburst.client.submit import submit

    started = datetime.now()
    options = {
        "scenes_per_batch": scenes_per_batch,
        "max_parallel_tasks": max_parallel_tasks,
        "min_scenes_per_batch": min_scenes_per_batch,
        "language": language,
        "enable_zoom": enable_zoom,
        "config_priority": config_priority,
        "watermark_path": watermark_path,
        "is_portrait": is_portrait,
        "background_box": background_box,
        "background_opacity": background_opacity,
        "spot": spot,
        "webhook_url": webhook_url,
        "episode": episode,
    }
    name = f"batch-{started:%Y%m%d-%H%M%S}-{os.getpid()}"
    connection = connect(stage)
    source = source_from_scenes(scenes, options, name=name, base=Path.cwd(), keys=keys)
    submission = submit(connection, source, name=name)
    final = follow_job(connection, submission.job_id, timeout, progress)
    report = read_json(connection.s3, connection.bucket, report_key(final.job_id)) or {}
    directory = saving_directory(saving_dir) / f"batch_{started:%Y%m%d_%H%M%S}"
    downloaded: list[str] = []
    if report.get("outputs"):
        fetched = fetch_job(connection, final.job_id, directory, videos_only=True)
        downloaded = [str(path) for path in fetched.videos]
    return {**result_dict(final.job_id, final.status, report, downloaded), **_episode(report)}


def follow_job(
    connection: Connection, job_id: str, timeout: float | None, progress: bool | None
) -> JobView:
    """Wait for the job's end, with a scene bar on a terminal (see ``progress``)."""
    from cloudburst.client.bars import RichScenes
    from cloudburst.client.watch import wait_for_job

    try:
        if not (sys.stderr.isatty() if progress is None else progress):
            return wait_for_job(connection, job_id, timeout=timeout)
        bar = RichScenes(job_id)
        try:
            return wait_for_job(connection, job_id, timeout=timeout, on_update=bar.update)
        finally:
            bar.finish()
    except KeyboardInterrupt:
        raise Interrupted.while_following(job_id) from None


def scan_and_test_folder(
    folder_path: str | os.PathLike[str],
    language: str | None = None,
    enable_zoom: bool = True,
    config_priority: int = 1,
    saving_dir: str | os.PathLike[str] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Render a folder in the earlier layout (``images/scene_001_chinese.png`` …).

    The language comes from the file names unless ``language`` picks one; ``options`` are
    :func:`execute_parallel_batches`' other keyword arguments. What the folder holds that is
    not a scene (a picture without narration, a misnamed file …) is told at once, one
    ``UserWarning`` per reason (Python shows them on stderr; a logger would reach the
    Lambdas' JSON logger, which shares the ``cloudburst`` name), and returned as ``skipped``.
    """
    from cloudburst.client.folder import scan_folder

    scan = scan_folder(Path(folder_path), language)
    for reason in scan.skipped:
        warnings.warn(f"skipped {reason}", UserWarning, stacklevel=2)
    result = execute_parallel_batches(
        [scene.as_scene() for scene in scan.scenes],
        language=scan.language or language or "chinese",
        enable_zoom=enable_zoom,
        config_priority=config_priority,
        saving_dir=saving_dir,
        **options,
    )
    return {**result, "skipped": list(scan.skipped)}


def list_running_tasks(
    filter_animagent_only: bool = True, *, job_id: str | None = None, stage: str | None = None
) -> list[dict[str, Any]]:
    """This deployment's worker tasks not yet stopped (of one job, if ``job_id``).

    ``filter_animagent_only`` is accepted for old callers and changes nothing: other
    services' tasks are never listed.
    """
    from cloudburst.client.tasks import list_worker_tasks

    connection = connect(stage)
    return [t.as_dict() for t in list_worker_tasks(connection.ecs, connection.cluster, job_id)]


def cleanup_all_tasks(
    reason: str = "Cleanup requested",
    filter_animagent_only: bool = True,
    *,
    job_id: str | None = None,
    stage: str | None = None,
) -> dict[str, Any]:
    """Stop this deployment's worker tasks (only ``job_id``'s, if given).

    Returns ``{message, terminated_count, failed_count, …}``. Stopping a job's tasks fails
    their scenes; ``cloudburst cancel`` ends a job as CANCELLED instead.
    """
    from cloudburst.client.tasks import list_worker_tasks, stop_worker_tasks

    connection = connect(stage)
    found = list_worker_tasks(connection.ecs, connection.cluster, job_id)
    return stop_worker_tasks(connection.ecs, connection.cluster, found, reason).as_dict()


def _episode(report: dict[str, Any]) -> dict[str, Any]:
    """The report's ``episode`` block for a job that asked for one (None: not assembled)."""
    return {"episode": report["episode"]} if "episode" in report else {}


def saving_directory(saving_dir: str | os.PathLike[str] | None) -> Path:
    """The argument, else ``RESULTS_DIR``, else ``./cloudburst_fargate_results``."""
    if saving_dir:
        return Path(saving_dir)
    env = os.environ.get("RESULTS_DIR")
    return Path(env) if env else DEFAULT_SAVING_DIR


def result_dict(
    job_id: str, status: str, report: dict[str, Any], downloaded: list[str]
) -> dict[str, Any]:
    """The earlier result shape from the job report and the files downloaded."""
    efficiency = report.get("efficiency") or {}
    return {
        "success": status == JobStatus.SUCCEEDED,
        "job_id": job_id,
        "status": status,
        "total_scenes": report.get("total_scenes", 0),
        "successful_scenes": report.get("successful_scenes", 0),
        "failed_scenes": report.get("failed_scenes", 0),
        "total_cost_usd": report.get("total_cost_usd", 0.0),
        "total_duration": report.get("total_duration", 0.0),
        "downloaded_files": sorted(downloaded),
        "task_results": report.get("task_results", []),
        "tasks_used": report.get("tasks_used", 0),
        "efficiency": {
            "speedup_factor": efficiency.get("speedup_factor", 0.0),
            "processing_efficiency": efficiency.get("processing_efficiency", 0.0),
            "cost_per_scene": efficiency.get("cost_per_scene", 0.0),
        },
        "errors": report.get("errors", []),
    }
