"""CloudBurst's Lambdas: event sources wired to one reaction each in chalicelib.

The S3 triggers are EventBridge rules (S3 "Object Created" with EventBridge notifications
on) and so is ECS "Task State Change": ``chalice package`` can put those in CloudFormation,
which ``on_s3_event`` cannot do for an existing bucket. A scheduled sweeper is the safety
net for work no event will come back for.
"""

from __future__ import annotations

from typing import TypeVar

from chalice import Chalice, Rate
from chalice.app import CloudWatchEvent
from pydantic import BaseModel, ValidationError

from chalicelib.bootstrap import services_from_env
from chalicelib.events import (
    ObjectCreatedEvent,
    TaskStateChangeEvent,
    cancel_requested_pattern,
    manifest_uploaded_pattern,
    scene_reported_pattern,
    task_stopped_pattern,
)
from chalicelib.observability import invocation, logger
from chalicelib.ports import Services
from chalicelib.settings import missing_settings, settings_from_env
from chalicelib.usecases import reactions

app = Chalice(app_name="cloudburst")
_settings = settings_from_env()
_services: Services | None = None
Event = TypeVar("Event", bound=BaseModel)


class IncompleteSettings(RuntimeError):
    """The stage's settings cannot run a job; every event is refused until they are set."""


def services() -> Services:
    """The container's adapters, built on the first event (endpoints come from the env).

    A container whose settings cannot run a job refuses at once, with one log line naming
    each missing setting, instead of failing every job later (RunTask without subnets, a
    webhook without a secret).
    """
    global _services
    if _services is None:
        built = services_from_env()
        missing = missing_settings(built.settings)
        if missing:
            logger.error("settings incomplete; every event is refused", extra={"missing": missing})
            raise IncompleteSettings("; ".join(missing))
        _services = built
    return _services


def use_services(svc: Services | None) -> None:
    """Hand the handlers other adapters (the local stack and tests); None: build anew."""
    global _services
    _services = svc


@app.on_cw_event(manifest_uploaded_pattern(_settings.bucket), name="on_manifest_uploaded")
def on_manifest_uploaded(event: CloudWatchEvent) -> None:
    with invocation(event.event_id):
        upload = _parse(ObjectCreatedEvent, event, "S3")
        if upload is not None:
            reactions.manifest_uploaded(upload, services(), event.context)


@app.on_cw_event(cancel_requested_pattern(_settings.bucket), name="on_cancel_requested")
def on_cancel_requested(event: CloudWatchEvent) -> None:
    with invocation(event.event_id):
        request = _parse(ObjectCreatedEvent, event, "S3")
        if request is not None:
            reactions.cancel_requested(request, services())


@app.on_cw_event(scene_reported_pattern(_settings.bucket), name="on_scene_reported")
def on_scene_reported(event: CloudWatchEvent) -> None:
    with invocation(event.event_id):
        record = _parse(ObjectCreatedEvent, event, "S3")
        if record is not None:
            reactions.scene_reported(record, services())


@app.on_cw_event(task_stopped_pattern(_settings.cluster), name="on_task_state_change")
def on_task_state_change(event: CloudWatchEvent) -> None:
    with invocation(event.event_id):
        stopped = _parse(TaskStateChangeEvent, event, "ECS")
        if stopped is not None:
            reactions.task_stopped(stopped, services())


@app.schedule(Rate(1, unit=Rate.MINUTES), name="sweeper")
def sweeper(event: CloudWatchEvent) -> None:
    with invocation(event.event_id):
        logger.info("swept", extra=reactions.sweep(services()))


def _parse(model: type[Event], event: CloudWatchEvent, source: str) -> Event | None:
    """The typed event, or None after logging why (a retry could not make it parse)."""
    try:
        return model.model_validate(event.to_dict())
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        logger.error(f"unexpected {source} event shape; dropped", extra={"errors": errors})
        return None
