"""The job commands' arguments, added to the ``cloudburst`` parser by :func:`register`.

Every command takes ``--stage S`` and ``--json``; errors the user can fix print one
sentence and exit 2 (:mod:`cloudburst.client.output`). The handlers are imported when a
command runs, not when the parser is built: ``cloudburst local up`` loads none of them.
"""

from __future__ import annotations

import argparse
import os
from functools import partial
from pathlib import Path
from typing import Any

DEFAULT_REASON = "cleanup requested"


def register(subparsers: Any) -> None:
    """Add submit, watch, status, jobs, fetch, cancel, estimate, tasks and cleanup."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--stage", default=None, help="deployment (default: the environment's)")
    common.add_argument("--json", action="store_true", help="print one JSON document")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = subparsers.add_parser(
            name, parents=[common], help=help_text, description=help_text
        )
        parser.set_defaults(run=partial(run, name))
        return parser

    submit = add("submit", "upload a manifest or folder and start a job")
    submit.add_argument("path", type=Path, help="manifest JSON (local paths allowed) or folder")
    submit.add_argument("--name", help="manifest name (default: the file or folder name)")
    submit.add_argument(
        "--keys",
        action="store_true",
        help="relative paths in the manifest are keys already in the bucket (nothing uploaded "
        "for them); without it, a path that is not a local file is an error",
    )
    _manifest_flags(submit)
    add_episode_flags(submit)
    submit.add_argument("--wait", action="store_true", help="follow the job until it ends")
    _follow_flags(submit)

    watch = add("watch", "live progress of a job until it ends")
    watch.add_argument("job")
    _follow_flags(watch)

    status = add("status", "a job's current state (default: the latest job)")
    status.add_argument("job", nargs="?")

    jobs = add("jobs", "recent jobs: state, scenes, cost, age")
    jobs.add_argument("--limit", type=int, default=20)

    fetch = add("fetch", "download a job's videos and report")
    fetch.add_argument("job")
    fetch.add_argument(
        "dir",
        nargs="?",
        type=Path,
        help="default: $RESULTS_DIR/<job>, else ./cloudburst_results/<job>",
    )

    cancel = add("cancel", "stop a job: its tasks, its waiting batches")
    cancel.add_argument("job")
    cancel.add_argument("--reason", default=None)

    estimate = add("estimate", "plan, wall time and cost before uploading")
    estimate.add_argument("path", type=Path, help="manifest JSON or folder (local audio)")
    _manifest_flags(estimate)
    add_episode_flags(estimate)
    estimate.add_argument(
        "--region", default=None, help="price region (default: the environment's)"
    )
    estimate.add_argument(
        "--startup-seconds",
        type=float,
        default=None,
        help="task start incl. image pull (default: measured, bench/results/image.json)",
    )

    tasks = add("tasks", "this deployment's running worker tasks")
    tasks.add_argument("--job", default=None)

    cleanup = add("cleanup", "stop this deployment's worker tasks")
    scope = cleanup.add_mutually_exclusive_group(required=True)
    scope.add_argument("--job", default=None, help="only this job's tasks")
    scope.add_argument("--all", action="store_true", help="every worker task of the deployment")
    cleanup.add_argument("--reason", default=DEFAULT_REASON)


def run(command: str, args: argparse.Namespace) -> int:
    """Run ``command``'s handler; turn the errors a user can fix into a sentence and exit 2."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    from cloudburst.client import handlers, output
    from cloudburst.client.cancel import UnknownJob
    from cloudburst.client.estimate import EstimateError
    from cloudburst.client.fetch import NothingToFetch
    from cloudburst.client.output import Printer
    from cloudburst.client.source import SourceError
    from cloudburst.client.submit import SubmitError
    from cloudburst.client.watch import WatchTimeout
    from cloudburst.stage import StageError

    printer = Printer(args.json)
    handler = getattr(handlers, command)
    try:
        return int(handler(args, printer))
    except (SubmitError, EstimateError) as exc:
        printer.error(exc.errors)
    except (StageError, SourceError, UnknownJob, NothingToFetch, LookupError, ValueError) as exc:
        printer.error(str(exc))
    except WatchTimeout as exc:
        printer.error(str(exc))
        return output.JOB_FAILED
    except BotoConnectionError as exc:
        printer.error(unreachable(exc, args.stage))
    except (ClientError, BotoCoreError) as exc:
        printer.error(f"AWS said: {exc}")
        return output.JOB_FAILED
    return output.USAGE


def unreachable(error: Exception, stage: str | None) -> str:
    """The sentence for an endpoint that does not answer: what to start or check."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if stage is None and endpoint:
        return (
            f"nothing answers at {endpoint}: start the local stack with `cloudburst local up` "
            "(and export what it prints), or pass --stage S for a deployment"
        )
    where = f"stage {stage!r}" if stage else "the deployment"
    return f"cannot reach AWS for {where} ({error}): check the network, the region and --stage"


def _manifest_flags(parser: argparse.ArgumentParser) -> None:
    """The manifest options (the earlier ``execute_parallel_batches`` arguments) as flags."""
    flags = parser.add_argument_group("manifest options (override the manifest's own)")
    flags.add_argument("--language", choices=("chinese", "english"), default=None)
    flags.add_argument("--zoom", action=argparse.BooleanOptionalAction, default=None)
    flags.add_argument("--portrait", action=argparse.BooleanOptionalAction, default=None)
    flags.add_argument("--watermark", type=Path, default=None, help="local image, top-left")
    flags.add_argument("--box", action=argparse.BooleanOptionalAction, default=None)
    flags.add_argument("--opacity", type=float, default=None, help="box transparency 0..1")
    flags.add_argument("--scenes-per-batch", type=int, default=None)
    flags.add_argument("--max-parallel-tasks", type=int, default=None)
    flags.add_argument("--min-scenes-per-batch", type=int, default=None)
    flags.add_argument("--config-priority", type=int, choices=(1, 2, 3, 4, 5), default=None)
    flags.add_argument("--spot", action=argparse.BooleanOptionalAction, default=None)
    flags.add_argument("--webhook-url", default=None)
    flags.add_argument("--metadata", default=None, help="JSON object echoed in reports (≤ 2 KB)")


def add_episode_flags(parser: argparse.ArgumentParser) -> None:
    flags = parser.add_argument_group("episode (one finished video of every scene)")
    flags.add_argument(
        "--episode", action="store_true", help="assemble the scenes into outputs/<job>/episode.mp4"
    )
    flags.add_argument(
        "--transition", default=None, metavar="TYPE[:SECONDS]",
        help="between scenes, e.g. fade:0.5, dissolve, wipeleft:1, none",
    )  # fmt: skip
    flags.add_argument("--pause", type=float, default=None, help="seconds between narrations")
    flags.add_argument("--music", type=Path, default=None, help="local background music file")
    flags.add_argument(
        "--loudness", type=float, default=None, metavar="LUFS", help="target loudness (-16)"
    )


def _follow_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fetch",
        nargs="?",
        const="",
        default=None,
        metavar="DIR",
        help="download when done (DIR, else $RESULTS_DIR/<job>, else ./cloudburst_results/<job>)",
    )
    parser.add_argument("--timeout", type=float, default=None, help="stop waiting after S s")
    parser.add_argument("--interval", type=float, default=1.0, help="poll every S s (1)")
