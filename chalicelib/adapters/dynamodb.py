"""Conditional writes on the one table: the DynamoDB adapters share these few moves.

A failed condition is an answer (False: someone else made the move), never an exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.pricing import round_usd


class Table:
    def __init__(self, table_name: str, dynamodb: Any) -> None:
        """``dynamodb`` is a boto3 DynamoDB *resource*, whose client serialises plain values."""
        self.name = table_name
        self.table = dynamodb.Table(table_name)
        self.client = self.table.meta.client

    def get(self, key: dict[str, str]) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.table.get_item(Key=key, ConsistentRead=True).get("Item")
        return item

    def put_new(self, item: dict[str, Any]) -> bool:
        """Put ``item`` unless its key exists; False when it does."""
        return self._conditional(
            self.table.put_item, Item=item, ConditionExpression="attribute_not_exists(PK)"
        )

    def update_if(self, **update: Any) -> bool:
        """A conditional ``update_item``; False when its condition does not hold."""
        return self._conditional(self.table.update_item, **update)

    def transact(self, items: list[dict[str, Any]]) -> bool:
        """All of ``items`` or none; False when a condition does not hold."""
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons", [])
            if any(reason.get("Code") == "ConditionalCheckFailed" for reason in reasons):
                return False
            raise
        return True

    def query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item a query matches, page after page."""
        paginator = self.client.get_paginator("query")
        for page in paginator.paginate(TableName=self.name, **kwargs):
            yield from page["Items"]

    def query_page(self, **kwargs: Any) -> list[dict[str, Any]]:
        """One page: for queues read a few items at a time."""
        items: list[dict[str, Any]] = self.table.query(**kwargs)["Items"]
        return items

    @staticmethod
    def _conditional(call: Any, **kwargs: Any) -> bool:
        try:
            call(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True


def money(usd: float) -> Decimal:
    """A dollar figure as DynamoDB stores it (Decimal, rounded as pricing rounds)."""
    return Decimal(str(round_usd(usd)))
