"""moto's server in a process of its own, plus the one thing its API cannot do.

In AWS the services run elsewhere; run in the stack's own interpreter, moto's request
handling took most of the GIL the handlers needed (py-spy: ~60 % of a 1,000-scene launch).
In a child process it gets the second core, and the stack's in-process handlers keep the
first.

RunTask honours ``clientToken`` as ECS does (moto ignores it): one task per token in a
cluster, the same answer for a retry with the same parameters, ``ConflictException`` for
other parameters, for 24 hours — so racing launchers of one batch start one task.

ECS has no API to move a task to RUNNING or STOPPED, so the Fargate stand-in uses a small
control endpoint here, ``POST /_cloudburst/ecs``, to read the cluster's tasks and write
their state onto moto's task objects (so DescribeTasks tells the truth). Run as
``python -m cloudburst.local.motoserver --port N [--state FILE]``; it prints ``port <n>``
once serving and exits when its stdin closes (the stack's end of it), so a killed stack
leaves no server. With ``--state`` it starts from that file (:mod:`cloudburst.local.persistence`)
and writes it back on the control endpoint's ``save`` and when its stack is gone.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import json
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from cloudburst.local import persistence
from cloudburst.local.moto_patches import atomic_transactions, speed_up_moto_server

CONTROL_PATH = "/_cloudburst/ecs"

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cloudburst.local.motoserver")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--state", type=Path, default=None, help="moto's state, kept here")
    args = parser.parse_args(argv)

    from moto.moto_api import state_manager
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto logs every request
    speed_up_moto_server()
    atomic_transactions()
    unique_event_ids()
    idempotent_run_task()
    # Tasks stay where the Fargate stand-in puts them (moto would advance them per call).
    state_manager.set_transition(
        model_name="ecs::task", transition={"progression": "manual", "times": 1_000_000_000}
    )
    if args.state is not None:
        try:
            persistence.load(args.state)
        except persistence.StateError as exc:
            print(f"cloudburst: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(3) from None
    _state_path[0] = args.state
    app = with_control(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", args.port, app, True, request_handler=MotoRequestHandler)
    print(f"port {server.server_address[1]}", flush=True)
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    with contextlib.suppress(KeyboardInterrupt):  # a Ctrl-C that reached this process too
        server.serve_forever()
    _save_state()


_state_path: list[Path | None] = [None]
_save_lock = threading.Lock()


def _save_state() -> dict[str, Any]:
    path = _state_path[0]
    if path is None:
        return {"saved": 0}
    with _save_lock:
        return {"saved": persistence.save(path)}


def _exit_with_parent() -> None:
    """The stack holds our stdin open and never writes: EOF means it is gone (even killed),
    so keep what it had and leave."""
    sys.stdin.buffer.read()
    try:
        _save_state()
    finally:
        os._exit(0)


def with_control(app: WsgiApp) -> WsgiApp:
    """``app`` with the control endpoint in front of it."""

    def dispatch(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != CONTROL_PATH:
            return app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        request = json.loads(environ["wsgi.input"].read(length) or b"{}")
        try:
            body, status = json.dumps(control(request)).encode(), "200 OK"
        except (KeyError, ValueError) as exc:
            body, status = json.dumps({"error": str(exc)}).encode(), "400 Bad Request"
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return dispatch


def control(request: dict[str, Any]) -> dict[str, Any]:
    """``tasks``: every task of a cluster; ``update``: write task states (see module doc);
    ``save``: write moto's state to the ``--state`` file now."""
    from moto.ecs.models import ecs_backends

    if request.get("op") == "save":
        return _save_state()
    backend = ecs_backends[request["account_id"]][request["region"]]
    tasks = backend.tasks.get(request["cluster"], {})
    if request["op"] == "tasks":
        return {
            "tasks": {
                arn: {
                    "desired_status": t.desired_status,
                    "last_status": t.last_status,
                    # STOPPED by the stand-in (an earlier run of it), not by StopTask alone
                    "reported_stopped": getattr(t, "cloudburst_reported_stopped", False),
                    "stopped_reason": t.stopped_reason,
                }
                for arn, t in list(tasks.items())
            }
        }
    if request["op"] == "update":
        missing = []
        for update in request["updates"]:
            if update["task_arn"] in tasks:
                _apply(tasks[update["task_arn"]], update)
            else:
                missing.append(update["task_arn"])
        return {"missing": missing}
    raise ValueError(f"unknown op {request['op']!r}")


def _apply(task: Any, update: dict[str, Any]) -> None:
    status = update["status"]
    task.last_status = status
    task.version = update["version"]
    task.cpu = update["cpu"]
    task.memory = update["memory"]
    if status == "STOPPED":
        task.cloudburst_reported_stopped = True
        task.desired_status = "STOPPED"
        task.stop_code = update["stop_code"]
        task.stopped_reason = update["stopped_reason"] or ""
        stopped_at = update.get("stopped_at")
        task.stopped_at = datetime.fromisoformat(stopped_at).timestamp() if stopped_at else None
    for container in task.containers:
        container.last_status = status
        if status == "STOPPED" and update.get("exit_code") is not None:
            container.exitCode = update["exit_code"]
        elif status == "STOPPED" and hasattr(container, "exitCode"):
            del container.exitCode  # a container that never started has no exit code


CLIENT_TOKEN_TTL_SECONDS = 24 * 3600  # ECS keeps a RunTask client token this long


def idempotent_run_task() -> None:
    """Make moto's RunTask honour ``clientToken`` (see the module doc).

    The tokens live on the region's ECS backend, so they are kept and reset with it.
    """
    from moto.core.responses import ActionResult
    from moto.ecs.exceptions import ECSException
    from moto.ecs.responses import EC2ContainerServiceResponse

    if getattr(EC2ContainerServiceResponse, "_cloudburst_client_token", False):
        return
    original = EC2ContainerServiceResponse.run_task
    lock = threading.Lock()

    def run_task(self: Any) -> Any:
        token = self._get_param("clientToken")
        if not token:
            return original(self)
        backend = self.ecs_backend
        cluster = str(self._get_param("cluster", "default")).rsplit("/", 1)[-1]
        request = {k: v for k, v in json.loads(self.body or "{}").items() if k != "clientToken"}
        fingerprint = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        tokens: dict[tuple[str, str], tuple[str, list[str], float]] = backend.__dict__.setdefault(
            "cloudburst_client_tokens", {}
        )
        with lock:
            known = tokens.get((cluster, token))
            if known is None or time.time() - known[2] > CLIENT_TOKEN_TTL_SECONDS:
                result = original(self)
                arns = [task.task_arn for task in result.result["tasks"]]  # type: ignore[index]
                tokens[(cluster, token)] = (fingerprint, arns, time.time())
                return result
        if known[0] != fingerprint:
            raise ECSException(
                "ConflictException",
                "The client token was already used with different parameters.",
            )
        return ActionResult({"tasks": backend.describe_tasks(cluster, known[1]), "failures": []})

    EC2ContainerServiceResponse.run_task = run_task  # type: ignore[method-assign]
    EC2ContainerServiceResponse._cloudburst_client_token = True  # type: ignore[attr-defined]


def unique_event_ids() -> None:
    """Give every S3 event moto puts on the bus an id of its own, as EventBridge does.

    moto copies one template event whose ``id`` never changes, so every upload's event (and
    every log line keyed on it) looked like one event. The template is deep-copied per
    event; this copy draws a fresh id.
    """
    from moto.events import utils

    class FreshId(dict[str, Any]):
        def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
            return {**copy.deepcopy(dict(self), memo), "id": str(uuid.uuid4())}

    if not getattr(utils, "_cloudburst_fresh_ids", False):
        utils._BASE_EVENT_MESSAGE = FreshId(utils._BASE_EVENT_MESSAGE)  # type: ignore[assignment]
        utils._cloudburst_fresh_ids = True  # type: ignore[attr-defined]


if __name__ == "__main__":
    main(sys.argv[1:])
