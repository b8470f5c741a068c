"""``watch`` and ``submit --wait``: live progress until the job ends, then the download.

A terminal sees one line updated in place; a log or pipe gets a new line only when the
scenes, tasks or state change (:meth:`Printer.live`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cloudburst.client import output
from cloudburst.client.connection import Connection
from cloudburst.client.output import Interrupted, Printer
from cloudburst.client.progress import error_lines, outcome_line, progress_line
from cloudburst.client.status import JobView


def follow(
    connection: Connection,
    job_id: str,
    args: argparse.Namespace,
    printer: Printer,
    saving_dir: Path | None,
) -> tuple[int, dict[str, Any]]:
    """Show live progress until the job ends, then fetch if ``--fetch``; (exit code, JSON).

    ``--fetch DIR`` downloads into DIR; ``--fetch`` alone into ``<saving_dir>/<job_id>/``
    (the manifest's ``saving_dir``, which means what ``RESULTS_DIR`` means: a folder holding
    one folder per job), else ``$RESULTS_DIR/<job_id>/``, else ``./cloudburst_results/<job_id>/``.
    """
    from cloudburst.client.watch import wait_for_job

    def show(current: JobView | None) -> None:
        if current is None:
            printer.live(f"{job_id}: waiting for the pipeline to accept the job…", "waiting")
        else:
            key = (current.status, current.scenes_done, current.tasks_running)
            printer.live(f"{job_id}: {progress_line(current)}", (*key, current.batches_waiting))

    try:
        final = wait_for_job(
            connection, job_id, timeout=args.timeout, interval=args.interval, on_update=show
        )
    except KeyboardInterrupt:
        printer.end_live()
        raise Interrupted.while_following(job_id) from None
    printer.end_live()
    printer.line(f"{final.status}: {outcome_line(final)}")
    for line in error_lines(final):
        printer.line(f"  {line}")
    result: dict[str, Any] = {"status": final.document, "outcome": outcome_line(final)}
    if args.fetch is not None:
        directory = Path(args.fetch) if args.fetch else None
        if directory is None and saving_dir is not None:
            directory = saving_dir / job_id
        result["fetched"] = download(connection, job_id, directory, printer)
    return output.exit_code_for(final.status), result


def download(
    connection: Connection, job_id: str, directory: Path | None, printer: Printer
) -> list[str]:
    """Fetch the ended job's outputs; a job that made nothing is said, not an error."""
    from cloudburst.client.bars import RichBytes
    from cloudburst.client.fetch import NothingToFetch, fetch_job, results_directory

    target = results_directory(job_id, directory)
    try:
        fetched = fetch_job(
            connection, job_id, target, None if printer.as_json else RichBytes("downloading")
        )
    except NothingToFetch as exc:
        printer.line(f"nothing to fetch: {exc}")
        return []
    printer.line(fetched.summary())
    return [str(p) for p in fetched.files]
