"""``python -m cloudburst_worker``: the Fargate task's entrypoint, a thin shell.

The task receives only ``BATCH_SPEC=s3://…`` and ``CLOUDBURST_ATTEMPT`` (RunTask overrides
are capped at 8 KiB); endpoints come from the standard AWS variables, which boto3 reads by
itself. Exit codes:
0 every scene succeeded (an assembly batch: the episode was assembled), 1 some scene failed
(the episode was not assembled), 2 the spec could not be read or validated.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType


def _stop_while_starting(signum: int, frame: FrameType | None) -> None:
    """SIGTERM before the logger exists (imports take ~0.5 s): one JSON line, then exit.

    As a container's PID 1 the default action of SIGTERM is to ignore it, so without this
    a task stopped while starting would run on until ECS kills it (stopTimeout, up to 120 s).
    """
    sys.stdout.write(
        '{"level":"WARNING","service":"cloudburst-worker","message":'
        '"SIGTERM while starting: the task is being stopped before any scene began"}\n'
    )
    sys.stdout.flush()
    os._exit(128 + signum)


# The first instruction: the heavy imports below (boto3, numpy, OpenCV, PyAV) come after it.
if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop_while_starting)

import tempfile  # noqa: E402 - after the SIGTERM handler, on purpose
import threading  # noqa: E402
from collections.abc import Iterator, Mapping  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from chalicelib.contracts import ATTEMPT_ENV, BATCH_SPEC_ENV  # noqa: E402
from cloudburst_worker.assembly import run_assembly  # noqa: E402
from cloudburst_worker.assets import S3Client  # noqa: E402
from cloudburst_worker.batch import SpecError, clean_workdir, load_batch_spec, run_batch  # noqa: E402
from cloudburst_worker.log import logger  # noqa: E402

EXIT_SPEC_UNUSABLE = 2
EXIT_CRASHED = 1
_CONTEXT_KEYS = ["batch_spec", "job_id", "batch_number", "attempt"]


def make_s3_client() -> S3Client:
    """The worker's S3 client, made at run time so ``AWS_ENDPOINT_URL`` set locally wins.

    The pool is sized for parallel renders each uploading with several threads while the
    downloader runs ahead; standard retries ride out S3's occasional 503 SlowDown.
    """
    config = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=64)
    client: S3Client = boto3.client("s3", config=config)
    return client


def main(environ: Mapping[str, str] | None = None, s3: S3Client | None = None) -> int:
    """Run the batch named by ``BATCH_SPEC`` and return the process exit code."""
    env = os.environ if environ is None else environ
    with _exit_promptly_on_sigterm():
        return _run(env, s3)


def _run(env: Mapping[str, str], s3: S3Client | None) -> int:
    uri = env.get(BATCH_SPEC_ENV, "").strip()
    if not uri:
        logger.error("BATCH_SPEC is not set: the task needs the s3:// URI of its batch spec")
        return EXIT_SPEC_UNUSABLE
    logger.append_keys(batch_spec=uri)
    try:
        client = s3 if s3 is not None else make_s3_client()
        try:
            spec = load_batch_spec(uri, client)
        except SpecError as error:
            logger.error("batch spec unusable", extra={"reason": str(error)})
            return EXIT_SPEC_UNUSABLE
        attempt = env.get(ATTEMPT_ENV, "").strip()
        if attempt.isdigit() and int(attempt) >= 1:  # a retried batch's task says which try
            spec = spec.model_copy(update={"attempt": int(attempt)})
        logger.append_keys(job_id=spec.job_id, batch_number=spec.batch_number, attempt=spec.attempt)
        workdir = Path(tempfile.mkdtemp(prefix="cloudburst-"))
        try:
            if spec.kind == "assembly":
                return run_assembly(spec, client, workdir)
            return run_batch(spec, client, workdir).exit_code
        finally:
            clean_workdir(workdir)
    except Exception:  # unexpected: log it as one JSON line with the trace, exit "failed"
        logger.exception("worker crashed")
        return EXIT_CRASHED
    finally:
        logger.remove_keys(_CONTEXT_KEYS)


@contextmanager
def _exit_promptly_on_sigterm() -> Iterator[None]:
    """Stop at once when ECS stops the task (StopTask, Spot interruption, scale-in).

    As a container's PID 1, Python would ignore SIGTERM and be SIGKILLed 30 s later with no
    word in the log. Exiting right away is safe: an MP4 is uploaded before its record, and
    S3 writes are atomic, so every scene without a record is simply retried by the
    completion Lambda. Installed only in the main thread (signals cannot be set elsewhere).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _stop_now)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stop_now(signum: int, frame: FrameType | None) -> None:
    logger.warning(
        "SIGTERM: the task is being stopped; scenes without a result record will be retried"
    )
    sys.stdout.flush()
    os._exit(128 + signum)


if __name__ == "__main__":
    raise SystemExit(main())
