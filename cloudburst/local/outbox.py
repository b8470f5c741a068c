"""What the Fargate stand-in owes moto, kept until moto has it.

EventBridge in AWS retries; here the stand-in is the only one who knows a task stopped, so
a state update or an event lost to a reset connection or a slow moto would leave its batch
RUNNING until the sweeper's ten-minute check. Everything goes through :class:`Outbox`:
task-state updates first (so DescribeTasks agrees with an event's handler), then the
events, ten per PutEvents. Entries leave only once moto accepted them — an update once the
control call answered, an event once PutEvents did not list it as failed — and a failed
delivery is tried again with exponential backoff. A retry may repeat an update or an event
that had in fact landed; both are harmless (updates are absolute states, the pipeline
ignores repeated and stale events).

One delivery at a time: the poll thread delivers after each poll, and ``stop`` delivers
what is left while a poll stuck on a slow moto may still be inside its own; two deliveries
of one queue would each pop what the other sent (an IndexError, or an entry added meanwhile
dropped unsent). A delivery that finds another under way returns False and is tried again.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("cloudburst-local.outbox")

PUT_EVENTS_LIMIT = 10  # entries per PutEvents call


class TaskStateWriter(Protocol):
    def update(self, cluster: str, updates: list[dict[str, Any]]) -> None: ...


@dataclass(frozen=True)
class Backoff:
    """Delay before the n-th retry (n ≥ 1): doubling from ``first``, capped, with jitter so
    the stand-in and the dispatcher do not retry in step against a struggling server."""

    first: float = 0.1
    cap: float = 5.0
    jitter: float = 0.25

    def delay(self, failures: int, draw: Callable[[], float] = random.random) -> float:
        if failures <= 0:
            return 0.0
        base = min(self.cap, self.first * 2 ** (failures - 1))
        return base * (1 - self.jitter + 2 * self.jitter * draw())


class Outbox:
    """Task-state updates and "ECS Task State Change" events not yet accepted by moto."""

    def __init__(
        self,
        control: TaskStateWriter,
        events: Callable[[], Any],
        cluster: str,
        *,
        backoff: Backoff = Backoff(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._control = control
        self._events = events
        self._cluster = cluster
        self._backoff = backoff
        self._clock = clock
        self._updates: deque[dict[str, Any]] = deque()
        self._entries: deque[dict[str, Any]] = deque()
        self._failures = 0
        self._next_try = 0.0
        self.retries = 0  # deliveries that failed and were kept (the fault test reads it)
        self._queue_lock = threading.Lock()  # the two queues, held for a moment
        self._delivering = threading.Lock()  # one delivery at a time, held over the calls

    def __len__(self) -> int:
        with self._queue_lock:
            return len(self._updates) + len(self._entries)

    def add(self, update: dict[str, Any], entry: dict[str, Any]) -> None:
        """One transition: moto's task state, then its event."""
        with self._queue_lock:
            self._updates.append(update)
            self._entries.append(entry)

    def deliver(self, *, now: bool = False) -> bool:
        """Send what is due (``now`` ignores the backoff); True once nothing is left, False
        while something is owed (or another thread is delivering it)."""
        if not self._delivering.acquire(blocking=False):
            return False
        try:
            return self._deliver(now)
        finally:
            self._delivering.release()

    def _deliver(self, now: bool) -> bool:
        if not self:
            return True
        if not now and self._clock() < self._next_try:
            return False
        try:
            self._send_updates()
            self._send_events()
        except Exception as exc:  # anything moto or the connection says: keep, retry later
            self._failures += 1
            self.retries += 1
            delay = self._backoff.delay(self._failures)
            self._next_try = self._clock() + delay
            log.warning(
                "moto did not take %d task update(s) and %d event(s) (%s: %s); retry in %.2fs",
                len(self._updates),
                len(self._entries),
                type(exc).__name__,
                exc,
                delay,
            )
            return False
        self._failures = 0
        self._next_try = 0.0
        return not self  # an add() meanwhile is for the next delivery

    def _send_updates(self) -> None:
        if not self._updates:
            return
        with self._queue_lock:
            sending = list(self._updates)
        self._control.update(self._cluster, sending)
        with self._queue_lock:
            for _ in sending:
                self._updates.popleft()

    def _send_events(self) -> None:
        with self._queue_lock:
            if self._updates:  # an event never overtakes its task's state
                return
        client = self._events()
        while batch := self._next_events():
            response = client.put_events(Entries=batch)
            failed = failed_entries(batch, response)
            with self._queue_lock:
                for _ in batch:
                    self._entries.popleft()
                self._entries.extendleft(reversed(failed))  # first in line, in order
            if failed:
                raise PutEventsFailed(response, len(failed))

    def _next_events(self) -> list[dict[str, Any]]:
        with self._queue_lock:
            return [self._entries[i] for i in range(min(PUT_EVENTS_LIMIT, len(self._entries)))]


class PutEventsFailed(RuntimeError):
    """PutEvents answered but refused some entries (``FailedEntryCount``)."""

    def __init__(self, response: dict[str, Any], count: int) -> None:
        codes = sorted({e["ErrorCode"] for e in response.get("Entries", []) if e.get("ErrorCode")})
        super().__init__(f"{count} entr{'y' if count == 1 else 'ies'} failed: {', '.join(codes)}")


def failed_entries(batch: list[dict[str, Any]], response: dict[str, Any]) -> list[dict[str, Any]]:
    """The entries of ``batch`` that PutEvents did not accept.

    Each answer entry lines up with its request entry; one with an ``ErrorCode`` (or no
    ``EventId``) failed. An answer that does not line up is taken as all failed: sending
    again is harmless, losing is not.
    """
    answers = response.get("Entries") or []
    if len(answers) != len(batch):
        return list(batch)
    return [
        entry
        for entry, answer in zip(batch, answers, strict=True)
        if answer.get("ErrorCode") or not answer.get("EventId")
    ]
