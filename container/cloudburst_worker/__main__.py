"""``python -m cloudburst_worker``: the Fargate task's entrypoint, a thin shell.

The task receives only ``BATCH_SPEC=s3://…`` (RunTask overrides are capped at 8 KiB);
endpoints come from the standard AWS variables, which boto3 reads by itself. Exit codes:
0 every scene succeeded, 1 some scene failed, 2 the spec could not be read or validated.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import boto3
from botocore.config import Config

from cloudburst_worker.assets import S3Client
from cloudburst_worker.batch import SpecError, clean_workdir, load_batch_spec, run_batch
from cloudburst_worker.log import logger

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
    uri = env.get("BATCH_SPEC", "").strip()
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
        logger.append_keys(job_id=spec.job_id, batch_number=spec.batch_number, attempt=spec.attempt)
        workdir = Path(tempfile.mkdtemp(prefix="cloudburst-"))
        try:
            return run_batch(spec, client, workdir).exit_code
        finally:
            clean_workdir(workdir)
    except Exception:  # unexpected: log it as one JSON line with the trace, exit "failed"
        logger.exception("worker crashed")
        return EXIT_CRASHED
    finally:
        logger.remove_keys(_CONTEXT_KEYS)


if __name__ == "__main__":
    raise SystemExit(main())
