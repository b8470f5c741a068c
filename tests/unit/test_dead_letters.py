"""Dead letters from EventBridge (the event) and from Lambda's on-failure destination (a
record wrapping it) both come back as the original event."""

from __future__ import annotations

import json
from pathlib import Path

from chalicelib.dead_letters import unwrap

FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:cloudburst-dev-x:$LATEST"
EVENTS = Path(__file__).resolve().parents[1] / "events"


def upload_event() -> dict:
    return json.loads((EVENTS / "s3_object_created.json").read_text())


def invocation_record(event: dict, condition: str = "RetriesExhausted") -> dict:
    """The shape Lambda sends to an on-failure destination (AWS Lambda developer guide,
    "Capturing records of Lambda asynchronous invocations")."""
    return {
        "version": "1.0",
        "timestamp": "2026-12-06T04:00:00.000Z",
        "requestContext": {
            "requestId": "e4b46cbf-b738-xmpl-8880-a18cdf61200e",
            "functionArn": FUNCTION_ARN,
            "condition": condition,
            "approximateInvokeCount": 3,
        },
        "requestPayload": event,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": {"errorMessage": "settings incomplete", "errorType": "SettingsError"},
    }


def test_an_eventbridge_dead_letter_is_the_event_itself():
    event = upload_event()

    unwrapped = unwrap(event)

    assert unwrapped is not None
    assert unwrapped.event == event
    assert (unwrapped.function_arn, unwrapped.condition, unwrapped.error) == (None, None, None)


def test_a_lambda_on_failure_record_gives_back_the_event_it_wraps_and_why_it_failed():
    event = upload_event()

    unwrapped = unwrap(invocation_record(event, "EventAgeExceeded"))

    assert unwrapped is not None
    assert unwrapped.event == event
    assert unwrapped.condition == "EventAgeExceeded"
    assert unwrapped.function_arn is not None
    assert ":function:cloudburst-dev-x" in (unwrapped.function_arn)
    assert unwrapped.error == "SettingsError: settings incomplete"


def test_a_record_without_a_response_payload_still_unwraps():
    record = invocation_record(upload_event())
    del record["responsePayload"]

    unwrapped = unwrap(record)

    assert unwrapped is not None
    assert unwrapped.error is None
    assert unwrapped.event["source"] == "aws.s3"


def test_bodies_that_hold_no_event_are_refused():
    broken_record = invocation_record(upload_event())
    broken_record["requestPayload"] = "not an event"

    assert unwrap(broken_record) is None
    assert unwrap(["a", "list"]) is None
    assert unwrap("text") is None


def test_an_event_that_merely_has_a_request_context_is_not_mistaken_for_a_record():
    event = {"source": "custom", "requestContext": {"stage": "x"}, "detail": {}}

    unwrapped = unwrap(event)

    assert unwrapped is not None
    assert unwrapped.event == event
