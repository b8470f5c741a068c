"""The one DynamoDB table's schema: keys, indexes and TTL attribute.

The code, the CloudFormation template (``infra/``) and the local stack all build the table
from :func:`table_definition`, so the three cannot drift apart.
"""

from __future__ import annotations

from typing import Any

TTL_ATTRIBUTE = "expires_at"
INDEXES = ("GSI2",)
KEY_ATTRIBUTES = ("PK", "SK", "GSI2PK", "GSI2SK")


def table_definition(table_name: str) -> dict[str, Any]:
    """``create_table`` arguments (also the template's ``AWS::DynamoDB::Table`` properties)."""

    def key(name: str, kind: str) -> dict[str, str]:
        return {"AttributeName": name, "KeyType": kind}

    def index(name: str) -> dict[str, Any]:
        return {
            "IndexName": name,
            "KeySchema": [key(f"{name}PK", "HASH"), key(f"{name}SK", "RANGE")],
            "Projection": {"ProjectionType": "ALL"},
        }

    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [key("PK", "HASH"), key("SK", "RANGE")],
        "AttributeDefinitions": [
            {"AttributeName": n, "AttributeType": "S"} for n in KEY_ATTRIBUTES
        ],
        "GlobalSecondaryIndexes": [index(name) for name in INDEXES],
    }


# Item keys. JOB#<id>/META is the job; JOB#<id>/BATCH#0001… its batches; JOB#<id>/SCENE#<name>
# a scene counted while its batch ran; the CAPACITY item
# counts running tasks; IDEMPOTENCY/<hash> items are powertools idempotency records.
META = "META"
IDEMPOTENCY_PK = "IDEMPOTENCY"
CAPACITY_KEY = {"PK": "CAPACITY", "SK": "RUNNING_TASKS"}
# GSI2 (sparse) holds three queues: waiting batches
# (PENDING, by job creation), running batches (RUNNING, by launch time) and webhooks due
# again (WEBHOOK_RETRY, by due time).
PENDING_QUEUE = "PENDING"
RUNNING_LIST = "RUNNING"
WEBHOOK_QUEUE = "WEBHOOK_RETRY"


def job_key(job_id: str) -> dict[str, str]:
    return {"PK": f"JOB#{job_id}", "SK": META}


def batch_key(job_id: str, batch_number: int) -> dict[str, str]:
    return {"PK": f"JOB#{job_id}", "SK": f"BATCH#{batch_number:04d}"}


def scene_key(job_id: str, scene_name: str) -> dict[str, str]:
    """A scene whose result record was counted on its batch (live progress), and how."""
    return {"PK": f"JOB#{job_id}", "SK": f"SCENE#{scene_name}"}


def queue_position(at: str, job_id: str, batch_number: int | None = None) -> str:
    """A ``GSI2SK``: time first (the queues are oldest first), then job (and batch)."""
    return f"{at}#{job_id}" if batch_number is None else f"{at}#{job_id}#{batch_number:04d}"
