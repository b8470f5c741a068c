"""EventBridge → SQS → the app's own handlers, in-process.

Each of the app's event sources becomes an EventBridge rule with its *own* pattern and an
SQS queue as target, so a pattern that would not match in AWS does not match here either.
Threads drain the queues and call the same Chalice handler function Lambda would call. A
failing handler leaves its message for redelivery; after ``max_receives`` attempts the
message moves to a dead-letter queue and is logged — nothing is dropped silently. A failure
to reach moto (a reset connection, a timeout: a loaded machine, not a bug) is not one of
those attempts: the message comes back with backoff until the handler gets through, so a
slow moto cannot dead-letter an event. Queue calls that fail are retried the same way.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import botocore.exceptions
from chalice.app import CloudWatchEventConfig, ScheduledEventConfig

from cloudburst.local.outbox import Backoff

# Not under "cloudburst": that name is the Lambdas' powertools logger (its level, its JSON).
log = logging.getLogger("cloudburst-local.dispatcher")

QUEUE_PREFIX = "cloudburst-local-"
_LAMBDA_TIMEOUT_MS = 900_000
_RECEIVE_WAIT_SECONDS = 1
_TRANSIENT_BACKOFF = Backoff(first=1.0, cap=30.0)  # redelivery after moto was unreachable
_QUEUE_BACKOFF = Backoff(first=0.2, cap=5.0)  # between failed queue calls
_RATE = re.compile(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
# AWS delivers the whole event to an SQS target; moto's default template for put_events
# drops "account" (which Chalice's CloudWatchEvent requires), so ask for every field.
_EVENT_FIELDS = ("id", "detail-type", "source", "account", "time", "region", "resources", "detail")
_WHOLE_EVENT = {
    "InputPathsMap": {name: f"$.{name}" for name in _EVENT_FIELDS},
    "InputTemplate": (
        '{"version": "0", "id": "<id>", "detail-type": "<detail-type>", "source": "<source>",'
        ' "account": "<account>", "time": <time>, "region": "<region>",'
        ' "resources": <resources>, "detail": <detail>}'
    ),
}


@dataclass(frozen=True)
class Route:
    """One of the app's event sources wired to a queue (and, for patterns, a rule)."""

    name: str
    handler_string: str
    queue_url: str
    dlq_url: str
    event_pattern: dict[str, Any] | None = None
    schedule_seconds: float | None = None


@dataclass
class LambdaContext:
    """What Lambda passes as ``context``; powertools reads these attributes."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = field(default_factory=lambda: time.monotonic() + _LAMBDA_TIMEOUT_MS / 1000)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def install_routes(
    app: Any,
    events: Any,
    sqs: Any,
    *,
    region: str,
    account_id: str,
    app_module: str = "app",
    app_name: str = "cloudburst",
    schedule_seconds: float | None = None,
) -> list[Route]:
    """Create a queue + DLQ per event source and an EventBridge rule per event pattern.

    ``schedule_seconds`` replaces a schedule's own rate locally (a sweeper every 5 minutes
    is too slow to see in a demo); ``None`` keeps the app's rate. Chalice writes every
    handler string as ``app.<function>``; ``app_module`` says where the app really lives.
    """
    routes: list[Route] = []
    for source in app.event_sources:
        if isinstance(source, CloudWatchEventConfig):
            pattern: dict[str, Any] | None = source.event_pattern
            every = None
        elif isinstance(source, ScheduledEventConfig):
            pattern = None
            every = schedule_seconds or _schedule_seconds(source.schedule_expression)
        else:
            log.warning("event source %s (%s) is not dispatched locally", source.name, source)
            continue
        queue_name = f"{QUEUE_PREFIX}{source.name}"
        dlq_url = sqs.create_queue(QueueName=f"{queue_name}-dlq")["QueueUrl"]
        queue_url = sqs.create_queue(QueueName=queue_name, Attributes={"VisibilityTimeout": "900"})[
            "QueueUrl"
        ]
        if pattern is not None:
            queue_arn = f"arn:aws:sqs:{region}:{account_id}:{queue_name}"
            rule_name = f"{app_name}-local-{source.name}"
            events.put_rule(Name=rule_name, EventPattern=json.dumps(pattern), State="ENABLED")
            events.put_targets(
                Rule=rule_name,
                Targets=[{"Id": "dispatcher", "Arn": queue_arn, "InputTransformer": _WHOLE_EVENT}],
            )
        routes.append(
            Route(
                name=source.name,
                handler_string=f"{app_module}.{source.handler_string.rpartition('.')[2]}",
                queue_url=queue_url,
                dlq_url=dlq_url,
                event_pattern=pattern,
                schedule_seconds=every,
            )
        )
    return routes


def resolve_handler(handler_string: str) -> Callable[[dict[str, Any], Any], Any]:
    """``"app.on_manifest_uploaded"`` → the callable Lambda would invoke."""
    module_name, _, attribute = handler_string.rpartition(".")
    handler: Callable[[dict[str, Any], Any], Any] = getattr(
        importlib.import_module(module_name), attribute
    )
    return handler


class Dispatcher:
    """Threads that drain each route's queue and invoke its handler; joined on ``stop``."""

    def __init__(
        self,
        routes: list[Route],
        sqs_factory: Callable[[], Any],
        *,
        region: str,
        account_id: str,
        max_receives: int = 3,
        concurrency: int = 2,
        retry_delay_seconds: float = 1.0,
        function_prefix: str = "cloudburst-local",
    ) -> None:
        self.routes = routes
        self._sqs_factory = sqs_factory
        self._region = region
        self._account_id = account_id
        self._max_receives = max_receives
        self._concurrency = concurrency
        self._retry_delay = retry_delay_seconds
        self._function_prefix = function_prefix
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._busy = 0
        self._transient: Counter[str] = Counter()  # message id → failures not counted
        self.invocations: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.dead_lettered: Counter[str] = Counter()

    def start(self) -> Dispatcher:
        for route in self.routes:
            for n in range(self._concurrency):
                self._spawn(f"dispatch-{route.name}-{n}", self._drain, route)
            if route.schedule_seconds:
                self._spawn(f"schedule-{route.name}", self._tick, route)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [t.name for t in self._threads if t.is_alive()]
        if stuck:
            log.warning("dispatcher threads still running after %.0fs: %s", timeout, stuck)
        self._threads = []

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._busy > 0

    # -- internals ------------------------------------------------------------------------
    def _spawn(self, name: str, target: Callable[[Route], None], route: Route) -> None:
        thread = threading.Thread(target=target, args=(route,), name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _drain(self, route: Route) -> None:
        sqs = self._sqs_factory()
        handler: Callable[[dict[str, Any], Any], Any] | None = None
        failures = 0
        while not self._stop.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=route.queue_url,
                    MaxNumberOfMessages=1,
                    WaitTimeSeconds=_RECEIVE_WAIT_SECONDS,
                    MessageSystemAttributeNames=["ApproximateReceiveCount"],
                ).get("Messages", [])
            except Exception as exc:
                if self._stop.is_set():
                    return
                failures += 1
                delay = _QUEUE_BACKOFF.delay(failures)
                log.warning(
                    "receive from %s failed (%s); retry in %.1fs", route.name, _brief(exc), delay
                )
                self._stop.wait(delay)
                continue
            failures = 0
            for message in messages:
                try:
                    if handler is None:
                        try:
                            handler = resolve_handler(route.handler_string)
                        except Exception as exc:
                            self._failed(sqs, route, message, _receives(message), exc)
                            continue
                    self._deliver(sqs, route, handler, message)
                except Exception:
                    # Only the queue calls around a delivery get here (moto going away on
                    # stop); the message stays in the queue and comes back.
                    if not self._stop.is_set():
                        log.exception("%s: queue bookkeeping failed", route.name)

    def _deliver(
        self,
        sqs: Any,
        route: Route,
        handler: Callable[[dict[str, Any], Any], Any],
        message: dict[str, Any],
    ) -> None:
        receives = _receives(message)
        with self._lock:
            self._busy += 1
        try:
            event = json.loads(message["Body"])
            handler(event, self._context(route))
        except Exception as exc:
            self._failed(sqs, route, message, receives, exc)
        else:
            with self._lock:
                self.invocations[route.name] += 1
                self._transient.pop(message.get("MessageId", ""), None)
            # If this fails the message comes back and runs again: harmless, as in Lambda.
            sqs.delete_message(QueueUrl=route.queue_url, ReceiptHandle=message["ReceiptHandle"])
        finally:
            with self._lock:
                self._busy -= 1

    def _failed(
        self, sqs: Any, route: Route, message: dict[str, Any], receives: int, exc: Exception
    ) -> None:
        message_id = message.get("MessageId", "")
        with self._lock:
            self.failures[route.name] += 1
            if unreachable(exc):
                self._transient[message_id] += 1
                transient = self._transient[message_id]
            else:
                transient = 0
            receives -= self._transient[message_id]  # only the handler's own failures count
        if transient:
            delay = int(_TRANSIENT_BACKOFF.delay(transient))
            log.warning(
                "%s could not reach moto (%s); redelivery in %ds", route.name, _brief(exc), delay
            )
            self._change_visibility(sqs, route, message, delay)
            return
        detail = "".join(traceback.format_exception(exc))
        if receives >= self._max_receives:
            sqs.send_message(
                QueueUrl=route.dlq_url,
                MessageBody=message["Body"],
                MessageAttributes={
                    "error": {"DataType": "String", "StringValue": repr(exc)[:1000]},
                    "receives": {"DataType": "Number", "StringValue": str(receives)},
                },
            )
            sqs.delete_message(QueueUrl=route.queue_url, ReceiptHandle=message["ReceiptHandle"])
            with self._lock:
                self.dead_lettered[route.name] += 1
                self._transient.pop(message_id, None)
            log.error(
                "%s failed %d times; event moved to dead-letter queue %s\n%s",
                route.name,
                receives,
                route.dlq_url,
                detail,
            )
            return
        delay = int(self._retry_delay * receives)
        log.warning(
            "%s failed (attempt %d of %d); redelivery in %ds\n%s",
            route.name,
            receives,
            self._max_receives,
            delay,
            detail,
        )
        self._change_visibility(sqs, route, message, delay)

    def _change_visibility(
        self, sqs: Any, route: Route, message: dict[str, Any], delay: int
    ) -> None:
        """Bring the message back in ``delay`` s; if moto cannot be told, the queue's own
        visibility timeout brings it back later (it is never lost)."""
        for attempt in range(1, 4):
            try:
                sqs.change_message_visibility(
                    QueueUrl=route.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=delay,
                )
                return
            except Exception as exc:
                if self._stop.is_set() or attempt == 3:
                    log.warning(
                        "%s: redelivery time not set (%s); the message returns after the"
                        " queue's visibility timeout",
                        route.name,
                        _brief(exc),
                    )
                    return
                self._stop.wait(_QUEUE_BACKOFF.delay(attempt))

    def _tick(self, route: Route) -> None:
        """Put a real-shaped "Scheduled Event" on the route's queue every period."""
        sqs = self._sqs_factory()
        period = route.schedule_seconds or 60.0
        while not self._stop.wait(period):
            body = json.dumps(self._scheduled(route))
            deadline = time.monotonic() + period  # a late tick still beats a skipped one
            failures = 0
            while not self._stop.is_set():
                try:
                    sqs.send_message(QueueUrl=route.queue_url, MessageBody=body)
                    break
                except Exception as exc:
                    failures += 1
                    delay = _QUEUE_BACKOFF.delay(failures)
                    if time.monotonic() + delay > deadline:
                        log.warning("%s: scheduled event not queued (%s)", route.name, _brief(exc))
                        break
                    self._stop.wait(delay)

    def _scheduled(self, route: Route) -> dict[str, Any]:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self._account_id,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self._region,
            "resources": [
                f"arn:aws:events:{self._region}:{self._account_id}:rule/"
                f"{self._function_prefix}-{route.name}"
            ],
            "detail": {},
        }

    def _context(self, route: Route) -> LambdaContext:
        function_name = f"{self._function_prefix}-{route.name}"
        return LambdaContext(
            function_name=function_name,
            invoked_function_arn=(
                f"arn:aws:lambda:{self._region}:{self._account_id}:function:{function_name}"
            ),
            log_group_name=f"/aws/lambda/{function_name}",
        )


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a failure to reach moto: a refused or reset
    connection, a timeout — the call may be retried, nothing was wrong with the event."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _UNREACHABLE):
            return True
        current = current.__cause__ or current.__context__
    return False


_UNREACHABLE = (
    botocore.exceptions.ConnectionError,  # endpoint, reset, connect/read timeouts
    botocore.exceptions.HTTPClientError,
    ConnectionError,
    TimeoutError,
)


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _receives(message: dict[str, Any]) -> int:
    return int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))


def _schedule_seconds(expression: Any) -> float:
    """Seconds between runs for ``rate(...)``; cron expressions locally run every minute."""
    text = expression if isinstance(expression, str) else expression.to_string()
    match = _RATE.fullmatch(text.strip())
    if not match:
        return 60.0
    unit = match.group(2).rstrip("s")
    return float(int(match.group(1)) * _UNIT_SECONDS[unit])
