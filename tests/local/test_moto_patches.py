"""moto's DynamoDB transactions in the local stack's server: atomic, and cheap.

moto copies every table a transaction touches and puts the copy back when a condition
fails, undoing what other threads wrote meanwhile (a finished batch went back to RUNNING
in the 10,000-scene bench). With the patch a failed transaction restores only its own
items, and no other write can land in between.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from local_helpers import use_test_credentials
from moto import mock_aws

from cloudburst.local.moto_patches import atomic_transactions

TABLE = "t"


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    use_test_credentials(monkeypatch)
    atomic_transactions()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                       {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                  {"AttributeName": "SK", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )  # fmt: skip
        for name in ("batch", "scene"):
            client.put_item(TableName=TABLE, Item=key(name) | {"n": {"N": "1"}})
        yield client


def key(name: str) -> dict[str, Any]:
    return {"PK": {"S": "job"}, "SK": {"S": name}}


def item(client: Any, name: str) -> dict[str, Any] | None:
    return client.get_item(TableName=TABLE, Key=key(name)).get("Item")


def failing_transaction(client: Any) -> None:
    """A new item, an update, then a condition that fails: all three must be undone."""
    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": key("new") | {"n": {"N": "7"}}}},
                {"Update": {"TableName": TABLE, "Key": key("scene"),
                            "UpdateExpression": "ADD n :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                {"ConditionCheck": {"TableName": TABLE, "Key": key("missing"),
                                    "ConditionExpression": "attribute_exists(PK)"}},
            ]
        )  # fmt: skip


def test_a_failed_transaction_undoes_its_own_writes(ddb: Any) -> None:
    failing_transaction(ddb)

    assert item(ddb, "new") is None
    assert item(ddb, "scene") == key("scene") | {"n": {"N": "1"}}


def test_a_failed_transaction_keeps_what_another_thread_wrote_meanwhile(
    ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.models import DynamoDBBackend

    # another thread finishes the batch while the transaction is checking its conditions
    finisher = threading.Thread(
        target=lambda: ddb.update_item(
            TableName=TABLE, Key=key("batch"), UpdateExpression="SET #s = :done",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":done": {"S": "SUCCEEDED"}},
        )
    )  # fmt: skip
    read = DynamoDBBackend.get_item

    def get_item_then_let_the_other_thread_in(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not finisher.is_alive() and finisher.ident is None:
            finisher.start()
            finisher.join(0.5)  # unpatched moto lets it land now; patched, it waits its turn
        return read(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "get_item", get_item_then_let_the_other_thread_in)
    failing_transaction(ddb)
    finisher.join(10)

    assert item(ddb, "batch") == key("batch") | {"n": {"N": "1"}, "status": {"S": "SUCCEEDED"}}
    assert item(ddb, "new") is None


def test_a_transaction_that_succeeds_writes_everything(ddb: Any) -> None:
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": key("new") | {"n": {"N": "7"}},
                     "ConditionExpression": "attribute_not_exists(PK)"}},
            {"Delete": {"TableName": TABLE, "Key": key("scene")}},
        ]
    )  # fmt: skip

    assert item(ddb, "new") == key("new") | {"n": {"N": "7"}}
    assert item(ddb, "scene") is None
