"""One function per ``cloudburst`` command: parse nothing, call the use case, print, exit code.

Each takes the argparse namespace :mod:`cloudburst.client.arguments` built and returns the
exit code (:mod:`cloudburst.client.output`).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudburst.client import output
from cloudburst.client.connection import connect
from cloudburst.client.episode_flags import episode_overrides, with_episode
from cloudburst.client.following import follow
from cloudburst.client.output import Printer
from cloudburst.client.progress import (
    cost_text,
    duration_text,
    error_lines,
    outcome_line,
    progress_line,
    scenes_text,
)
from cloudburst.client.status import parse_time, read_status
from cloudburst.stage import StageError

if TYPE_CHECKING:
    from cloudburst.client.source import JobSource

Handler = Callable[[argparse.Namespace, Printer], int]


def submit(args: argparse.Namespace, printer: Printer) -> int:
    from cloudburst.client.bars import RichBytes
    from cloudburst.client.source import load_source
    from cloudburst.client.submit import SubmitError, problems_before_upload
    from cloudburst.client.submit import submit as submit_job

    source = load_source(args.path, language=args.language, keys=args.keys)
    source = with_episode(source.with_options(manifest_options(args)), episode_overrides(args))
    report_skipped(source, printer)
    try:
        connection = connect(args.stage)
    except StageError as exc:  # the manifest's own problems, in the same round
        raise SubmitError([*problems_before_upload(source, args.name), str(exc)]) from None
    bar = None if printer.as_json else RichBytes("uploading")
    submission = submit_job(connection, source, name=args.name, progress=bar)
    uploads = submission.uploads
    printer.line(f"job {submission.job_id}")
    if printer.as_json and (args.wait or args.fetch is not None):
        printer.note(f"job {submission.job_id}")  # at once; the JSON document comes at the end
    printer.line(
        f"  {submission.scenes} scenes · s3://{connection.bucket}/{submission.manifest_key} · "
        f"{len(uploads.sent)} files uploaded ({uploads.bytes_sent / 1e6:.1f} MB), "
        f"{len(uploads.skipped)} unchanged"
    )
    if not (args.wait or args.fetch is not None):
        printer.document(submission.as_dict())
        return output.OK
    # A path in a manifest is relative to the manifest, this one too.
    saving_dir = source.base / Path(source.saving_dir).expanduser() if source.saving_dir else None
    code, result = follow(connection, submission.job_id, args, printer, saving_dir)
    printer.document({**submission.as_dict(), **result})
    return code


def watch(args: argparse.Namespace, printer: Printer) -> int:
    connection = connect(args.stage)
    code, result = follow(connection, args.job, args, printer, None)
    printer.document(result)
    return code


def status(args: argparse.Namespace, printer: Printer) -> int:
    from cloudburst.client.listing import recent_jobs
    from cloudburst.client.status import read_status

    connection = connect(args.stage)
    if args.job:
        current = read_status(connection.s3, connection.bucket, args.job)
        if current is None:
            raise LookupError(f"no job {args.job!r} in s3://{connection.bucket}/")
    else:
        latest = recent_jobs(connection, limit=1)
        if not latest:
            raise LookupError(f"no jobs in s3://{connection.bucket}/ yet")
        current = latest[0]
    printer.document(current.document)
    printer.line(f"job {current.job_id}: {current.status}")
    printer.line(f"  {progress_line(current)}")
    if current.is_final:
        printer.line(f"  {outcome_line(current)}")
    if current.webhook_state:
        printer.line(f"  webhook {current.webhook_state}")
    for line in error_lines(current):
        printer.line(f"  {line}")
    return output.exit_code_for(current.status)


def jobs(args: argparse.Namespace, printer: Printer) -> int:
    from cloudburst.client.listing import recent_jobs

    found = recent_jobs(connect(args.stage), limit=args.limit)
    printer.document([job.document for job in found])
    if not found:
        printer.line("no jobs yet")
        return output.OK
    now = datetime.now(UTC)
    rows = [("JOB", "STATE", "SCENES", "COST", "AGE")]
    for job in found:
        created = parse_time(job.created_at)
        age = duration_text((now - created).total_seconds()) if created else "?"
        scenes = scenes_text(job.counts, noun=False)
        rows.append((job.job_id, job.status, scenes, cost_text(job.cost_usd), age))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        printer.line("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    return output.OK


def fetch(args: argparse.Namespace, printer: Printer) -> int:
    from cloudburst.client.bars import RichBytes
    from cloudburst.client.fetch import fetch_job, results_directory

    connection = connect(args.stage)
    directory = results_directory(args.job, args.dir)
    bar = None if printer.as_json else RichBytes("downloading")
    fetched = fetch_job(connection, args.job, directory, bar)
    printer.line(fetched.summary())
    view = read_status(connection.s3, connection.bucket, args.job)
    if view is not None and not view.is_final:  # a partial download must not pass for whole
        printer.note(
            f"{args.job} is still {view.status} ({scenes_text(view.counts)}): these are its "
            f"files so far; `cloudburst watch {args.job} --fetch` downloads all of them when "
            "it ends"
        )
    printer.document(
        {
            "job_id": args.job,
            "status": view.status if view is not None else None,
            "directory": str(directory),
            "files": [str(p) for p in fetched.files],
        }
    )
    return output.OK


def cancel(args: argparse.Namespace, printer: Printer) -> int:
    from cloudburst.client.cancel import cancel_job

    result = cancel_job(connect(args.stage), args.job, args.reason)
    printer.line(result.message)
    printer.document(
        {
            "job_id": result.job_id,
            "outcome": result.outcome,
            "status": result.status.status,
            "message": result.message,
        }
    )
    return output.JOB_FAILED if result.outcome == "already_ended" else output.OK


def report_skipped(source: JobSource, printer: Printer) -> None:
    """What a folder held that is not a scene, on stderr (``--json`` keeps stdout clean)."""
    for skipped in source.skipped:
        printer.note(f"skipped {skipped}")


def _narrations_in_s3(
    args: argparse.Namespace, source: JobSource, directory: Path, printer: Printer
) -> dict[str, Path]:
    """The job's ``s3://`` narrations, downloaded into ``directory`` so their length can be
    read; raises EstimateError naming each one that cannot be."""
    from cloudburst.client.estimate import EstimateError, remote_narrations
    from cloudburst.client.narration import download_narrations

    uris = remote_narrations(source)
    if not uris:
        return {}
    try:
        connection = connect(args.stage)
    except StageError as exc:
        raise EstimateError(
            [f"{len(uris)} narration(s) are in S3, from {uris[0]}: {exc}"]
        ) from None
    printer.note(f"reading {len(uris)} narration(s) from S3 for their length…")
    paths, errors = download_narrations(connection.s3, uris, directory)
    if errors:
        raise EstimateError(errors)
    return paths


def estimate(args: argparse.Namespace, printer: Printer) -> int:
    from chalicelib.manifest import manifest_defaults
    from cloudburst.client.estimate import RenderSpeeds, assembly_rate, estimate_job, scene_work
    from cloudburst.client.source import load_source
    from cloudburst.client.submit import localize, manifest_body

    source = load_source(args.path, language=args.language).with_options(manifest_options(args))
    source = with_episode(source, episode_overrides(args))
    report_skipped(source, printer)
    manifest_body(localize(source, source.default_name)[0])  # the pipeline's rules, no upload
    document = {**manifest_defaults(), **source.document}
    region = args.region or _default_region()
    with tempfile.TemporaryDirectory(prefix="cloudburst-estimate-") as downloads:
        work = scene_work(source, _narrations_in_s3(args, source, Path(downloads), printer))
    result = estimate_job(
        work,
        scenes_per_batch=document["scenes_per_batch"],
        max_parallel_tasks=document["max_parallel_tasks"],
        min_scenes_per_batch=document["min_scenes_per_batch"],
        region=region,
        speeds=RenderSpeeds.from_bench(),
        startup_seconds=args.startup_seconds,
        chosen_priority=document["config_priority"],
        chosen_spot=document["spot"] is True,
        assembly_per_second=assembly_rate() if document.get("episode") is not None else None,
    )
    printer.document(result.as_dict())
    sizes = result.batch_sizes
    printer.line(
        f"{result.scenes} scenes, {duration_text(result.narration_seconds)} of narration → "
        f"{len(sizes)} batch{'es' if len(sizes) != 1 else ''} "
        f"({' + '.join(str(s) for s in sizes)} scenes), one task each"
        + (", then one assembly task for the episode" if document.get("episode") else "")
    )
    printer.line(f"{'profile':<30}{'capacity':<11}{'wall':>10}{'billed':>10}{'cost':>10}")
    for row in result.profiles:
        marker = "▶ " if row.chosen else "  "
        name = f"{marker}{row.config_priority} {row.label} ({row.vcpu:g} vCPU/{row.memory_gb} GB)"
        printer.line(
            f"{name:<30}{'Spot' if row.spot else 'on-demand':<11}"
            f"{duration_text(row.wall_seconds):>10}{row.billed_seconds:>9}s"
            f"{'$' + format(row.cost_usd, '.4f'):>10}"
        )
    printer.line("assumes:")
    for assumption in result.assumptions:
        printer.line(f"  - {assumption}")
    return output.OK


def tasks(args: argparse.Namespace, printer: Printer) -> int:
    from cloudburst.client.tasks import list_worker_tasks

    connection = connect(args.stage)
    found = list_worker_tasks(connection.ecs, connection.cluster, args.job)
    printer.document([task.as_dict() for task in found])
    if not found:
        printer.line("no running worker tasks" + (f" for job {args.job}" if args.job else ""))
    for task in found:
        printer.line(
            f"{task.task_arn.rsplit('/', 1)[-1]}  {task.status:<12} job {task.job_id} "
            f"batch {task.batch_number}  {task.cpu or '?'} cpu  {task.capacity_provider or ''}"
        )
    return output.OK


def cleanup(args: argparse.Namespace, printer: Printer) -> int:
    from cloudburst.client.tasks import list_worker_tasks, stop_worker_tasks

    connection = connect(args.stage)
    job = None if args.all else args.job
    found = list_worker_tasks(connection.ecs, connection.cluster, job)
    result = stop_worker_tasks(connection.ecs, connection.cluster, found, args.reason)
    printer.document(result.as_dict())
    printer.line(result.as_dict()["message"])
    for arn, error in result.failed:
        printer.line(f"  {arn}: {error}")
    if job is not None and result.stopped:
        printer.line(f"  (to end job {job} as CANCELLED instead, use `cloudburst cancel {job}`)")
    return output.JOB_FAILED if result.failed else output.OK


def manifest_options(args: argparse.Namespace) -> dict[str, Any]:
    """Manifest fields the command-line flags set (None: the manifest's own value stands)."""
    import json

    metadata = None
    if args.metadata:
        try:
            metadata = json.loads(args.metadata)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--metadata is not JSON: {exc}") from None
        if not isinstance(metadata, dict):
            raise ValueError("--metadata must be a JSON object, e.g. '{\"episode\": 12}'")
    return {
        "enable_zoom": args.zoom,
        "is_portrait": args.portrait,
        "watermark_path": str(args.watermark.resolve()) if args.watermark else None,
        "background_box": args.box,
        "background_opacity": args.opacity,
        "scenes_per_batch": args.scenes_per_batch,
        "max_parallel_tasks": args.max_parallel_tasks,
        "min_scenes_per_batch": args.min_scenes_per_batch,
        "config_priority": args.config_priority,
        "spot": args.spot,
        "webhook_url": args.webhook_url,
        "metadata": metadata,
    }


def _default_region() -> str:
    import os

    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
