"""The one DynamoDB table's schema: keys, indexes and TTL attribute.

The code, the CloudFormation template (``infra/``) and the local stack all build the table
from :func:`table_definition`, so the three cannot drift apart.
"""

from __future__ import annotations

from typing import Any

TTL_ATTRIBUTE = "expires_at"
INDEXES = ("GSI1", "GSI2")
KEY_ATTRIBUTES = ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK")


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
