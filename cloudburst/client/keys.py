"""Where things live in the bucket: the S3 contract between the client and the pipeline.

The pipeline writes ``outputs/<job>/status.json`` (current state) and ``job.json`` (final
report), and reads ``cancel/<job>.json``; the client writes ``inputs/<name>/…`` and
``manifests/<name>.json``.
"""

from __future__ import annotations

MANIFESTS_PREFIX = "manifests/"
INPUTS_PREFIX = "inputs/"
OUTPUTS_PREFIX = "outputs/"
CANCEL_PREFIX = "cancel/"
STATUS_NAME = "status.json"
REPORT_NAME = "job.json"


def manifest_key(name: str) -> str:
    return f"{MANIFESTS_PREFIX}{name}.json"


def inputs_prefix(name: str) -> str:
    return f"{INPUTS_PREFIX}{name}/"


def outputs_prefix(job_id: str) -> str:
    return f"{OUTPUTS_PREFIX}{job_id}/"


def status_key(job_id: str) -> str:
    return f"{outputs_prefix(job_id)}{STATUS_NAME}"


def report_key(job_id: str) -> str:
    return f"{outputs_prefix(job_id)}{REPORT_NAME}"


def cancel_key(job_id: str) -> str:
    return f"{CANCEL_PREFIX}{job_id}.json"
