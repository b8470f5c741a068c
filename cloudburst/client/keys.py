"""Where things live in the bucket: the S3 contract between the client and the pipeline.

The pipeline writes ``outputs/<job>/status.json`` (current state) and ``job.json`` (final
report), and reads ``cancel/<job>.json`` — those keys come from :mod:`chalicelib.contracts`,
the pipeline's own; the client adds ``inputs/<name>/…`` and ``manifests/<name>.json``.
"""

from __future__ import annotations

from chalicelib.contracts import (
    INPUTS_PREFIX,
    MANIFESTS_PREFIX,
    OUTPUTS_PREFIX,
    cancel_key,
    outputs_prefix,
    report_key,
    status_key,
)

__all__ = [
    "OUTPUTS_PREFIX",
    "cancel_key",
    "inputs_prefix",
    "manifest_key",
    "outputs_prefix",
    "report_key",
    "status_key",
]


def manifest_key(name: str) -> str:
    return f"{MANIFESTS_PREFIX}{name}.json"


def inputs_prefix(name: str) -> str:
    return f"{INPUTS_PREFIX}{name}/"
