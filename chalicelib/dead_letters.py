"""What a dead letter carries: the event a handler was meant to get, however it got queued.

Two producers put messages on a handler's dead-letter queue, with different bodies:

- EventBridge, when it gives up delivering to the rule's target: the body is the event
  itself (why it failed rides in message attributes, ``ERROR_CODE`` and friends);
- Lambda, when an accepted asynchronous invocation failed every retry (its on-failure
  destination): the body is an *invocation record* that wraps the event::

    {"version": "1.0", "timestamp": "...",
     "requestContext": {"requestId": "...", "functionArn": "...:$LATEST",
                        "condition": "RetriesExhausted", "approximateInvokeCount": 3},
     "requestPayload": {<the original event>},
     "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                         "functionError": "Unhandled"},
     "responsePayload": {"errorMessage": "...", "errorType": "..."}}

The sweeper redrives both the same way, so it unwraps the record first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# requestContext.condition of an on-failure record: retries used up, or the event too old.
FAILURE_CONDITIONS = frozenset({"RetriesExhausted", "EventAgeExceeded"})


@dataclass(frozen=True)
class Unwrapped:
    """The original event and, for a Lambda invocation record, why it failed."""

    event: dict[str, Any]
    function_arn: str | None = None
    condition: str | None = None  # RetriesExhausted | EventAgeExceeded
    error: str | None = None  # the function's errorType: errorMessage


def unwrap(body: Any) -> Unwrapped | None:
    """The event inside a dead letter's parsed body; None when the body holds no event."""
    if not isinstance(body, dict):
        return None
    if not is_invocation_record(body):
        return Unwrapped(body)
    payload = body.get("requestPayload")
    if not isinstance(payload, dict):
        return None
    context = body.get("requestContext") or {}
    return Unwrapped(
        payload,
        function_arn=context.get("functionArn"),
        condition=context.get("condition"),
        error=_error(body.get("responsePayload")),
    )


def is_invocation_record(body: dict[str, Any]) -> bool:
    """A Lambda destination's record: a version, a requestContext naming the function, and
    the request's payload. An EventBridge event has none of these keys."""
    context = body.get("requestContext")
    return (
        "requestPayload" in body
        and isinstance(context, dict)
        and "functionArn" in context
        and "version" in body
    )


def _error(response: Any) -> str | None:
    if not isinstance(response, dict):
        return None
    kind, message = response.get("errorType"), response.get("errorMessage")
    if kind is None and message is None:
        return None
    return f"{kind or 'Error'}: {message or ''}".rstrip(": ")
