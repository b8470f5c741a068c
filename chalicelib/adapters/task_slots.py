"""The deployment-wide cap on running tasks: one counter item, or a number in memory.

The count is a cache of what runs: the sweeper sets it to the tasks it sees running (see
``reconcile``), so a slot leaked by a crash between taking it and recording the launch comes
back within one sweep.
"""

from __future__ import annotations

import threading

from chalicelib.adapters.dynamodb import Table
from chalicelib.adapters.table import CAPACITY_KEY

_RETRIES = 20


class DynamoTaskSlots:
    def __init__(self, table: Table) -> None:
        self._table = table

    def acquire(self, cap: int, wanted: int) -> int:
        """Optimistic: read the count, then set it only if unchanged, so a page of launches
        costs two requests however many batches it holds."""
        for _ in range(_RETRIES):
            taken = self.taken()
            granted = min(wanted, cap - taken)
            if granted <= 0:
                return 0
            if self._set_if(taken, taken + granted):
                return granted
        return 0

    def release(self, count: int) -> None:
        if count > 0:
            self._table.update_if(
                Key=CAPACITY_KEY,
                UpdateExpression="ADD running :minus",
                ConditionExpression="running >= :count",
                ExpressionAttributeValues={":minus": -count, ":count": count},
            )

    def taken(self) -> int:
        return int((self._table.get(CAPACITY_KEY) or {}).get("running", 0))

    def reconcile(self, seen: int, running: int) -> bool:
        return seen == running or self._set_if(seen, running)

    def _set_if(self, old: int, new: int) -> bool:
        unchanged = "running = :old"
        if old == 0:
            unchanged = "attribute_not_exists(running) OR running = :old"
        return self._table.update_if(
            Key=CAPACITY_KEY,
            UpdateExpression="SET running = :new",
            ConditionExpression=unchanged,
            ExpressionAttributeValues={":new": new, ":old": old},
        )


class InMemoryTaskSlots:
    def __init__(self) -> None:
        self._taken = 0
        self._lock = threading.Lock()

    def acquire(self, cap: int, wanted: int) -> int:
        with self._lock:
            granted = max(0, min(wanted, cap - self._taken))
            self._taken += granted
            return granted

    def release(self, count: int) -> None:
        with self._lock:
            if count > 0 and self._taken >= count:
                self._taken -= count

    def taken(self) -> int:
        return self._taken

    def reconcile(self, seen: int, running: int) -> bool:
        with self._lock:
            if self._taken != seen:
                return False
            self._taken = running
            return True
