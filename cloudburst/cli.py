"""The ``cloudburst`` command: the job commands (:mod:`cloudburst.client`), ``local up``, ``demo``.

Ctrl-C (or SIGTERM) stops everything the command started: worker processes, dispatcher
threads, the webhook receiver and the moto server.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from cloudburst import __version__
from cloudburst.client.arguments import register as register_job_commands
from cloudburst.demo import DemoFailed, run_demo
from cloudburst.deploy import cli as deploy_cli
from cloudburst.local.console import route_output
from cloudburst.local.fargate import SpotInterruptions
from cloudburst.local.stack import (
    DEFAULT_PORT,
    DEFAULT_STATE_DIR,
    LOG_FILE,
    SECRET_ENV,
    LocalStack,
    StackError,
    reset_state,
)

_STOP_DEADLINE_SECONDS = 25.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    _interrupt_on_sigterm()
    try:
        return int(args.run(args))
    except KeyboardInterrupt as exc:  # an Interrupted says what goes on without the command
        print(f"\n{str(exc) or 'interrupted'}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `cloudburst jobs --json | head`: the reader has all it wants
        _discard_stdout()
        return EXIT_BROKEN_PIPE


EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell tool killed by a closed pipe exits with


def _discard_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush cannot fail again (and
    print "Exception ignored … BrokenPipeError" on the way out)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real descriptor (tests capture stdout)
        pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cloudburst", description="Render narrated-slide videos from a manifest in S3."
    )
    parser.add_argument("--version", action="version", version=f"cloudburst {__version__}")
    commands = parser.add_subparsers(title="commands")
    register_job_commands(commands)

    local = commands.add_parser("local", help="the embedded local stack")
    local_commands = local.add_subparsers(title="local commands")
    up = local_commands.add_parser(
        "up", help="serve S3, DynamoDB, ECS, EventBridge, SQS on 127.0.0.1 and run jobs"
    )
    up.add_argument("--port", type=int, default=DEFAULT_PORT, help="default %(default)s")
    up.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help="jobs, objects, webhook secret, logs, kept across restarts (default %(default)s)",
    )
    up.add_argument(
        "--spot-interrupt-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="interrupt the first Spot task this long into its run, as Fargate Spot may",
    )
    up.add_argument(
        "-v", "--verbose", action="store_true", help="show the JSON logs and metrics too"
    )
    up.set_defaults(run=_local_up)
    reset = local_commands.add_parser(
        "reset", help="forget the local stack's jobs, objects and webhook secret"
    )
    reset.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    reset.set_defaults(run=_local_reset)

    demo = commands.add_parser("demo", help="render two demo jobs through the commands, locally")
    demo.add_argument("--results", type=Path, default=Path("cloudburst_results"))
    demo.add_argument("--timeout", type=float, default=300.0, help="seconds for the job")
    demo.add_argument("-v", "--verbose", action="store_true", help="show stack logs")
    demo.set_defaults(run=_demo)
    deploy_cli.register(commands)
    return parser


def _local_up(args: argparse.Namespace) -> int:
    logging.getLogger().setLevel(logging.DEBUG if args.verbose else logging.INFO)
    for noisy in ("werkzeug", "botocore", "urllib3", "boto3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    spot = None
    if args.spot_interrupt_after is not None:
        spot = SpotInterruptions(after_seconds=args.spot_interrupt_after)
    try:
        stack = LocalStack(
            args.port, state_dir=args.state_dir, spot_interruptions=spot, persist=True
        )
    except OSError as exc:
        print(f"cloudburst: cannot use {args.state_dir}: {exc}", file=sys.stderr)
        return 1
    log_path = stack.state_dir / LOG_FILE
    with route_output(log_path, verbose=args.verbose) as terminal:
        try:
            stack.start()
        except StackError as exc:
            print(f"cloudburst: {exc}", file=sys.stderr)
            return 1
        try:
            print(stack.describe(), file=terminal, flush=True)
            print(
                f"\nWebhook secret ({_secret_source(stack)}):\n  {stack.webhook_secret}",
                file=terminal,
                flush=True,
            )
            where = "here and in" if args.verbose else "in"
            print(
                f"\nOne line per job event below; JSON logs and metrics {where} {log_path}."
                "\nPress Ctrl-C to stop.",
                file=terminal,
                flush=True,
            )
            # Wake up twice a second: Ctrl-C may land on another thread, and Python runs its
            # handler only when the main thread next runs; an untimed wait would never return.
            forever = threading.Event()
            while not forever.wait(0.5):
                pass
        except KeyboardInterrupt:
            print("\nstopping…", file=terminal, flush=True)
        finally:
            _stop_within(stack, _STOP_DEADLINE_SECONDS)
        print(f"stopped; state kept in {stack.state_dir}.", file=terminal, flush=True)
    return 0


def _secret_source(stack: LocalStack) -> str:
    if stack.secret_generated:
        return f"generated and kept in {stack.state_dir / 'webhook-secret'}"
    if stack.secret_source == SECRET_ENV:
        return f"from {SECRET_ENV}"
    return f"kept in {stack.secret_source} since an earlier run"


def _local_reset(args: argparse.Namespace) -> int:
    try:
        removed = reset_state(args.state_dir)
    except (StackError, OSError) as exc:
        print(f"cloudburst: {exc}", file=sys.stderr)
        return 1
    if removed:
        print(
            f"removed {args.state_dir}/ (jobs, objects, webhook secret, logs);"
            " the next `cloudburst local up` starts clean"
        )
    else:
        print(f"nothing to reset: {args.state_dir}/ does not exist")
    return 0


def _stop_within(stack: LocalStack, seconds: float) -> None:
    """Stop the stack; if that hangs, show where every thread is and leave anyway."""

    def give_up() -> None:
        print(f"cloudburst: stack did not stop within {seconds:.0f}s; threads:", file=sys.stderr)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        os._exit(1)

    watchdog = threading.Timer(seconds, give_up)
    watchdog.daemon = True
    watchdog.start()
    try:
        stack.stop()
    finally:
        watchdog.cancel()


def _demo(args: argparse.Namespace) -> int:
    _configure_logging(logging.INFO if args.verbose else logging.WARNING)
    try:
        results = run_demo(
            main, results_root=args.results, timeout=args.timeout, quiet=not args.verbose
        )
    except (DemoFailed, StackError) as exc:
        print(f"\ncloudburst demo FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"\n✔ demo finished; results in {', '.join(f'{r}/' for r in results)} (stack stopped)")
    return 0


def _configure_logging(level: int) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("cloudburst-local").setLevel(level)
    for noisy in ("werkzeug", "botocore", "urllib3", "boto3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _interrupt_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt so ``finally`` blocks stop the stack."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


if __name__ == "__main__":
    sys.exit(main())
