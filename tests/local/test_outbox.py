"""The stand-in's outbox and the dispatcher's idea of "moto was unreachable", without moto."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from cloudburst.local.dispatcher import unreachable
from cloudburst.local.outbox import Backoff, Outbox, failed_entries


class FlakyControl:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.written: list[dict[str, Any]] = []

    def update(self, cluster: str, updates: list[dict[str, Any]]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionResetError(104, "Connection reset by peer")
        self.written += updates


class RefusingEvents:
    """PutEvents refusing the entries whose Detail is in ``refuse`` once each."""

    def __init__(self, refuse: set[str]) -> None:
        self.refuse = set(refuse)
        self.accepted: list[str] = []
        self.calls = 0

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        answers: list[dict[str, Any]] = []
        for entry in Entries:
            if entry["Detail"] in self.refuse:
                self.refuse.discard(entry["Detail"])
                answers.append({"ErrorCode": "InternalFailure", "ErrorMessage": "try again"})
            else:
                self.accepted.append(entry["Detail"])
                answers.append({"EventId": f"id-{len(self.accepted)}"})
        failed = sum(1 for a in answers if "ErrorCode" in a)
        return {"FailedEntryCount": failed, "Entries": answers}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def outbox(control: FlakyControl, events: RefusingEvents, clock: Clock) -> Outbox:
    return Outbox(control, lambda: events, "c", backoff=Backoff(jitter=0), clock=clock)


def test_an_update_that_fails_keeps_its_event_back_until_a_retry_lands_both() -> None:
    control, events, clock = FlakyControl(failures=1), RefusingEvents(set()), Clock()
    box = outbox(control, events, clock)
    box.add({"task_arn": "t1", "status": "STOPPED"}, {"Detail": "stopped t1"})

    assert box.deliver() is False
    assert events.calls == 0  # no event before its task's state
    assert box.deliver() is False  # backing off: nothing tried
    clock.now = 0.1
    assert box.deliver() is True

    assert control.written == [{"task_arn": "t1", "status": "STOPPED"}]
    assert events.accepted == ["stopped t1"]
    assert len(box) == 0


def test_entries_put_events_refused_are_sent_again_in_order_and_the_rest_once() -> None:
    control, events, clock = FlakyControl(0), RefusingEvents({"e3", "e12"}), Clock()
    box = outbox(control, events, clock)
    for n in range(1, 15):
        box.add({"task_arn": f"t{n}"}, {"Detail": f"e{n}"})

    assert box.deliver() is False  # e3 refused in the first batch of ten
    assert box.retries == 1
    assert box.deliver(now=True) is False  # e12 refused in the next
    assert box.deliver(now=True) is True

    assert sorted(events.accepted, key=lambda d: int(d[1:])) == [f"e{n}" for n in range(1, 15)]
    assert events.accepted.count("e3") == 1
    assert events.accepted.index("e3") < events.accepted.index("e12")


def test_a_put_events_call_that_raises_keeps_the_whole_batch() -> None:
    class Raising(RefusingEvents):
        def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
            if self.calls == 0:
                self.calls += 1
                raise ReadTimeoutError(endpoint_url="http://127.0.0.1:1")
            return super().put_events(Entries)

    events = Raising(set())
    box = outbox(FlakyControl(0), events, Clock())
    box.add({"task_arn": "t"}, {"Detail": "e"})

    assert box.deliver() is False
    assert box.deliver(now=True) is True
    assert events.accepted == ["e"]


def test_answers_that_do_not_line_up_count_as_all_failed() -> None:
    batch = [{"Detail": "a"}, {"Detail": "b"}]
    assert failed_entries(batch, {"FailedEntryCount": 0, "Entries": [{"EventId": "1"}]}) == batch
    assert failed_entries(batch, {"Entries": [{"EventId": "1"}, {"EventId": "2"}]}) == []
    assert failed_entries(batch, {"Entries": [{"EventId": "1"}, {}]}) == [{"Detail": "b"}]


def test_backoff_doubles_to_its_cap() -> None:
    backoff = Backoff(first=0.1, cap=1.0, jitter=0)
    assert [backoff.delay(n) for n in range(6)] == [0.0, 0.1, 0.2, 0.4, 0.8, 1.0]
    jittered = Backoff(first=1.0, cap=1.0, jitter=0.25)
    assert jittered.delay(1, draw=lambda: 0.0) == 0.75
    assert jittered.delay(1, draw=lambda: 1.0) == 1.25


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ConnectionClosedError(endpoint_url="http://127.0.0.1:1"), True),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), True),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), True),
        (ConnectionResetError(104, "reset"), True),
        (TimeoutError("timed out"), True),
        (ValueError("a bug"), False),
        (KeyError("job_id"), False),
    ],
)
def test_unreachable_tells_moto_trouble_from_a_handler_bug(exc: Exception, expected: bool) -> None:
    assert unreachable(exc) is expected


def test_unreachable_looks_at_what_caused_an_error() -> None:
    wrapped = RuntimeError("storage failed")
    wrapped.__cause__ = ConnectionClosedError(endpoint_url="http://127.0.0.1:1")

    assert unreachable(wrapped)


def test_deliveries_from_two_threads_send_everything_and_never_trip_over_each_other() -> None:
    """``stop`` delivers while a poll stuck on a slow moto may still be delivering: the
    second delivery waits its turn instead of popping what the first sent."""

    class SlowControl(FlakyControl):
        def update(self, cluster: str, updates: list[dict[str, Any]]) -> None:
            time.sleep(0.002)  # long enough for the other thread to arrive meanwhile
            super().update(cluster, updates)

    control, events = SlowControl(0), RefusingEvents(set())
    box = Outbox(control, lambda: events, "c", backoff=Backoff(first=0.001, jitter=0))
    errors: list[BaseException] = []

    def deliverer() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not finished.is_set():
            try:
                box.deliver(now=True)
            except BaseException as exc:  # the race this test is about raised IndexError
                errors.append(exc)
                return

    finished = threading.Event()
    threads = [threading.Thread(target=deliverer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for n in range(300):  # the poll thread's adds, interleaved with both deliveries
        box.add({"task_arn": f"t{n}"}, {"Detail": f"e{n}"})
        if n % 7 == 0:
            time.sleep(0.001)
    deadline = time.monotonic() + 20
    while len(box) and time.monotonic() < deadline:
        time.sleep(0.01)
    finished.set()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(box) == 0
    assert sorted(events.accepted, key=lambda d: int(d[1:])) == [f"e{n}" for n in range(300)]
    assert [u["task_arn"] for u in control.written] == [f"t{n}" for n in range(300)]
