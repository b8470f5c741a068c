"""CloudBurst's Lambdas: event sources wired to one use case each in chalicelib.

Both triggers are EventBridge rules (S3 "Object Created" with EventBridge notifications
on, and ECS "Task State Change"): ``chalice package`` can put those in CloudFormation,
which ``on_s3_event`` cannot do for an existing bucket. A scheduled sweeper is the safety
net for work no event will come back for.
"""

from __future__ import annotations

from typing import TypeVar

from chalice import Chalice, Rate
from chalice.app import CloudWatchEvent
from pydantic import BaseModel, ValidationError

from chalicelib import service
from chalicelib.events import (
    ObjectCreatedEvent,
    TaskStateChangeEvent,
    manifest_uploaded_pattern,
    task_stopped_pattern,
)
from chalicelib.observability import invocation, logger
from chalicelib.settings import get_settings

app = Chalice(app_name="cloudburst")
_settings = get_settings()
Event = TypeVar("Event", bound=BaseModel)


@app.on_cw_event(manifest_uploaded_pattern(_settings.bucket), name="on_manifest_uploaded")
def on_manifest_uploaded(event: CloudWatchEvent) -> None:
    with invocation(event.event_id):
        upload = _parse(ObjectCreatedEvent, event, "S3")
        if upload is not None:
            service.submit_manifest(upload, service.services(), event.context)


@app.on_cw_event(task_stopped_pattern(_settings.cluster), name="on_task_state_change")
def on_task_state_change(event: CloudWatchEvent) -> None:
    with invocation(event.event_id):
        stopped = _parse(TaskStateChangeEvent, event, "ECS")
        if stopped is not None:
            service.record_task_stopped(stopped, service.services())


@app.schedule(Rate(1, unit=Rate.MINUTES), name="sweeper")
def sweeper(event: CloudWatchEvent) -> None:
    with invocation(event.event_id):
        logger.info("swept", extra=service.sweep(service.services()))


def _parse(model: type[Event], event: CloudWatchEvent, source: str) -> Event | None:
    """The typed event, or None after logging why (a retry could not make it parse)."""
    try:
        return model.model_validate(event.to_dict())
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        logger.error(f"unexpected {source} event shape; dropped", extra={"errors": errors})
        return None
