"""Create, update or delete one CloudFormation stack, showing its events as they arrive.

"No changes" is a success that changes nothing: the stack's template and parameters are
compared with ours before any update is asked for (CloudFormation itself answers such an
update with a ``ValidationError``, which is treated the same way). A failed operation is
reported by its first failing resource and that resource's reason — the line a user needs,
not the cascade of cancellations after it.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError, WaiterError

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
# CreateStack/UpdateStack take a template body up to this size; larger ones go through S3.
MAX_TEMPLATE_BODY = 51_200
_FAILED = ("CREATE_FAILED", "UPDATE_FAILED", "DELETE_FAILED", "IMPORT_FAILED")
# A stack in these states was never created (a failed first create, or a change set never
# executed): it cannot be updated, only deleted and created again.
NEVER_CREATED = ("ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS")
# A stack in these states takes an update (and so parameters' UsePreviousValue).
UPDATABLE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE")


class StackError(RuntimeError):
    """The stack operation failed; the message names the first failing resource and why."""


@dataclass(frozen=True)
class Parameter:
    key: str
    # None: keep the deployed value (UsePreviousValue) when the stack has one, else the
    # template's default — e.g. a NoEcho secret, or a flag the user did not repeat
    value: str | None
    no_echo: bool = False  # DescribeStacks masks it: only UsePreviousValue can keep it

    def api(self, deployed: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The request's entry; None to leave the parameter at its default."""
        if self.value is not None:
            return {"ParameterKey": self.key, "ParameterValue": self.value}
        if deployed is None or self.key not in deployed:
            return None  # a create, or a parameter the deployed template lacks
        if self.no_echo:
            return {"ParameterKey": self.key, "UsePreviousValue": True}
        # the value DescribeStacks shows, sent again: what UsePreviousValue would keep
        return {"ParameterKey": self.key, "ParameterValue": deployed[self.key] or ""}


def deployed_parameters(stack: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The stack's parameters by key, when it can take an update (else None)."""
    if stack is None or stack["StackStatus"] not in UPDATABLE:
        return None
    return {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])}


class Stacks:
    """One region's CloudFormation, with ``print`` for progress (the CLI passes its own)."""

    def __init__(
        self,
        cloudformation: Any,
        say: Callable[[str], None] = print,
        poll_seconds: float = 5.0,
    ) -> None:
        self.cfn = cloudformation
        self.say = say
        self.poll_seconds = poll_seconds

    def describe(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(self.cfn.describe_stacks(StackName=name)["Stacks"][0])
        except ClientError as exc:
            if "does not exist" in exc.response["Error"].get("Message", ""):
                return None
            raise

    def ready(self, name: str) -> dict[str, Any] | None:
        """The stack, ready to update; None when there is none to update.

        A stack that was never created (``NEVER_CREATED``) is deleted first, with a message,
        so that the next step is a create — whose parameters cannot use previous values. A
        stack that is busy or stuck is refused with what to do.
        """
        stack = self.describe(name)
        if stack is None:
            return None
        status = stack["StackStatus"]
        if status in NEVER_CREATED:
            self.say(f"{name}: {status}: it was never created; deleting it before creating it")
            self.delete(name)
            return None
        if status in UPDATABLE:
            return stack
        if status.endswith("_IN_PROGRESS"):
            raise StackError(f"{name} is {status}; wait for it to finish, then deploy again")
        if status == "UPDATE_ROLLBACK_FAILED":
            raise StackError(
                f"{name} is {status}: aws cloudformation continue-update-rollback"
                f" --stack-name {name}, then deploy again"
            )
        raise StackError(
            f"{name} is {status}: see its events (aws cloudformation describe-stack-events"
            f" --stack-name {name}); `cloudburst destroy` deletes it"
        )

    def outputs(self, name: str) -> dict[str, str]:
        stack = self.describe(name)
        if stack is None:
            return {}
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def deploy(
        self,
        name: str,
        template: dict[str, Any],
        parameters: list[Parameter],
        template_url: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Create or update ``name``; returns "created", "updated" or "unchanged"."""
        body = json.dumps(template, separators=(",", ":"), sort_keys=True)
        source: dict[str, str] = (
            {"TemplateURL": template_url} if template_url else {"TemplateBody": body}
        )
        if not template_url and len(body) > MAX_TEMPLATE_BODY:
            raise StackError(f"template is {len(body)} bytes; upload it and pass template_url")
        existing = self.ready(name)
        deployed = deployed_parameters(existing)
        entries = [p.api(deployed) for p in parameters]
        request = {
            "StackName": name,
            **source,
            "Parameters": [e for e in entries if e is not None],
            "Capabilities": CAPABILITIES,
            "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()],
        }
        if existing is None:
            started = None
            self.say(f"{name}: creating")
            try:
                self.cfn.create_stack(**request, OnFailure="ROLLBACK")
            except ClientError as exc:
                raise StackError(f"{name}: creation refused: {_message(exc)}") from None
            self._wait(name, "stack_create_complete", started)
            return "created"
        if self._unchanged(existing, template, parameters):
            self.say(f"{name}: no changes")
            return "unchanged"
        started = self._newest_event(name)
        self.say(f"{name}: updating")
        try:
            self.cfn.update_stack(**request)
        except ClientError as exc:
            if "No updates are to be performed" in exc.response["Error"].get("Message", ""):
                self.say(f"{name}: no changes")
                return "unchanged"
            raise StackError(f"{name}: update refused: {_message(exc)}") from None
        self._wait(name, "stack_update_complete", started)
        return "updated"

    def delete(self, name: str) -> bool:
        """Delete ``name``; False when there was no such stack."""
        if self.describe(name) is None:
            return False
        started = self._newest_event(name)
        self.say(f"{name}: deleting")
        self.cfn.delete_stack(StackName=name)
        self._wait(name, "stack_delete_complete", started)
        return True

    # -- internals ------------------------------------------------------------------------------
    def _unchanged(
        self, stack: dict[str, Any], template: dict[str, Any], parameters: list[Parameter]
    ) -> bool:
        deployed = self.cfn.get_template(StackName=stack["StackName"], TemplateStage="Original")
        body = deployed["TemplateBody"]
        deployed_template = json.loads(body) if isinstance(body, str) else body
        if deployed_template != json.loads(json.dumps(template)):
            return False
        current = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])}
        return all(p.value is None or _same(current.get(p.key), p.value) for p in parameters)

    def _wait(self, name: str, waiter_name: str, started: datetime | None) -> None:
        """Stream the stack's events on a thread while a boto3 waiter waits for the end."""
        stop = threading.Event()
        seen: set[str] = set()
        stream = threading.Thread(
            target=self._stream, args=(name, started, seen, stop), daemon=True
        )
        stream.start()
        try:
            self.cfn.get_waiter(waiter_name).wait(
                StackName=name,
                WaiterConfig={"Delay": max(1, int(self.poll_seconds)), "MaxAttempts": 720},
            )
        except WaiterError as exc:
            stop.set()
            stream.join()
            raise StackError(self._failure(name, started, exc)) from None
        stop.set()
        stream.join()
        with contextlib.suppress(ClientError):  # a deleted stack's events are gone by name
            self._print_new_events(name, started, seen)

    def _stream(
        self, name: str, started: datetime | None, seen: set[str], stop: threading.Event
    ) -> None:
        while not stop.wait(self.poll_seconds):
            try:
                self._print_new_events(name, started, seen)
            except ClientError:
                return  # a deleted stack has no events left to read

    def _print_new_events(self, name: str, started: datetime | None, seen: set[str]) -> None:
        for event in reversed(self._events_since(name, started)):
            if event["EventId"] in seen:
                continue
            seen.add(event["EventId"])
            reason = event.get("ResourceStatusReason")
            self.say(
                f"  {event['Timestamp']:%H:%M:%S} {event['ResourceStatus']:<28}"
                f" {event['LogicalResourceId']} ({event.get('ResourceType', '')})"
                + (f": {reason}" if reason else "")
            )

    def _events_since(self, name: str, after: datetime | None) -> list[dict[str, Any]]:
        """The operation's events (stamped after ``after``), newest first as CloudFormation
        pages them."""
        events: list[dict[str, Any]] = []
        for page in self.cfn.get_paginator("describe_stack_events").paginate(StackName=name):
            for event in page["StackEvents"]:
                if after is not None and event["Timestamp"] <= after:
                    return events
                events.append(event)
        return events

    def _newest_event(self, name: str) -> datetime | None:
        """When the stack's latest event happened: the operation's own events come after it
        (CloudFormation's clock, so a skewed local clock cannot hide or repeat events)."""
        page = self.cfn.describe_stack_events(StackName=name)["StackEvents"]
        return page[0]["Timestamp"] if page else None

    def _failure(self, name: str, started: datetime | None, exc: WaiterError) -> str:
        try:
            events = self._events_since(name, started)
        except ClientError:
            events = []
        first = first_failure(events)
        status = exc.last_response.get("Stacks", [{}])[0].get("StackStatus", "unknown")
        if first is None:
            return f"{name}: ended {status}: {exc}"
        return (
            f"{name}: ended {status}; first failure: {first['LogicalResourceId']}"
            f" ({first.get('ResourceType', '')}): {first.get('ResourceStatusReason', '')}"
        )


def first_failure(events_newest_first: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The earliest ``*_FAILED`` resource event that is not a cancellation of another one."""
    failed = [
        e
        for e in reversed(events_newest_first)
        if e["ResourceStatus"] in _FAILED
        and "cancelled" not in (e.get("ResourceStatusReason") or "").lower()
    ]
    return failed[0] if failed else None


def _same(deployed: str | None, ours: str) -> bool:
    """Parameter values equal; an empty list may come back as "" or (moto) as "['']"."""
    return deployed == ours or (ours == "" and deployed in (None, "", "['']"))


def _message(exc: ClientError) -> str:
    error = exc.response["Error"]
    return f"{error.get('Code')}: {error.get('Message')}"
