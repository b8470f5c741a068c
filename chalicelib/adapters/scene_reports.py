"""Scenes counted on their batch as their result records arrive (``Batch.report_scene`` as
one DynamoDB transaction).

The scene's own item (``JOB#<id>/SCENE#<name>``) says how it was counted, so a redelivered
event changes nothing and a scene a retry rendered moves from failed to succeeded; the batch
item keeps two counters, not the names (10,000 names would pass the 400 KB item limit).
"""

from __future__ import annotations

from chalicelib.adapters.dynamodb import Table
from chalicelib.adapters.table import TTL_ATTRIBUTE, batch_key, scene_key
from chalicelib.model import BatchStatus

_FINAL_BATCH = [status.value for status in BatchStatus if status.is_final]


def report_scene(
    table: Table, job_id: str, batch_number: int, scene_name: str, ok: bool, expires: int
) -> bool:
    """Count the scene on its batch while the batch runs; False when that changes nothing
    (counted so already, the batch has ended or is unknown, or a concurrent count won)."""
    key = scene_key(job_id, scene_name)
    item = table.get(key)
    before = None if item is None else bool(item["ok"])
    if before is ok:
        return False
    scene: dict[str, object] = {
        "TableName": table.name,
        "Item": {**key, "ok": ok, TTL_ATTRIBUTE: expires},
        "ConditionExpression": "attribute_not_exists(PK)",
    }
    if before is not None:
        scene["ConditionExpression"] = "ok = :before"
        scene["ExpressionAttributeValues"] = {":before": before}
    finals = {f":f{i}": status for i, status in enumerate(_FINAL_BATCH)}
    counters = {
        "TableName": table.name,
        "Key": batch_key(job_id, batch_number),
        "UpdateExpression": "ADD reported_succeeded :ok, reported_failed :failed",
        "ConditionExpression": f"attribute_exists(PK) AND NOT #s IN ({', '.join(finals)})",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {
            ":ok": (1 if ok else 0) - (1 if before is True else 0),
            ":failed": (0 if ok else 1) - (1 if before is False else 0),
            **finals,
        },
    }
    return table.transact([{"Put": scene}, {"Update": counters}])
