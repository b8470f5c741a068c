"""A tiny Chalice app with the real app's two rule shapes, for testing the dispatcher alone.

Like ``app.py`` it builds its patterns from the environment at import time.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from chalice import Chalice, Rate
from chalice.app import CloudWatchEvent

app = Chalice(app_name="cloudburst-fake")

RECEIVED: list[tuple[str, dict[str, Any]]] = []
ATTEMPTS: dict[str, int] = {}
_LOCK = threading.Lock()


@app.on_cw_event(
    {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [os.environ["CLOUDBURST_BUCKET"]]},
            "object": {"key": [{"prefix": "manifests/"}]},
        },
    }
)
def on_manifest_uploaded(event: CloudWatchEvent) -> None:
    key = event.detail["object"]["key"]
    with _LOCK:
        ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
        if "always-fails" in key:
            raise RuntimeError(f"handler failure for {key}")
        if "fails-once" in key and ATTEMPTS[key] == 1:
            raise RuntimeError(f"first attempt fails for {key}")
        RECEIVED.append(("manifest", event.to_dict()))


@app.on_cw_event(
    {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
        "detail": {
            "clusterArn": [
                f"arn:aws:ecs:us-east-1:123456789012:cluster/{os.environ['CLOUDBURST_CLUSTER']}"
            ],
            "lastStatus": ["STOPPED"],
        },
    }
)
def on_task_state_change(event: CloudWatchEvent) -> None:
    with _LOCK:
        RECEIVED.append(("task", event.to_dict()))


@app.schedule(Rate(5, unit=Rate.MINUTES), name="sweeper")
def sweeper(event: CloudWatchEvent) -> None:
    with _LOCK:
        RECEIVED.append(("schedule", event.to_dict()))


def received(kind: str) -> list[dict[str, Any]]:
    with _LOCK:
        return [event for k, event in RECEIVED if k == kind]
