"""Issue 21: a slow or failing moto must not cost the local stack an event.

Fifty one-scene tasks run through the real app while the control endpoint and PutEvents
fail at random — a reset connection before the call, a timeout after it landed, entries
refused with ``FailedEntryCount`` — and every batch must still end by its own STOPPED
event. The sweeper never runs here (its period is an hour), so nothing else could end one.
"""

from __future__ import annotations

import json
import random
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError
from local_helpers import wait_for_final

from chalicelib.usecases import reactions
from cloudburst.local import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local-stack")]  # the real app

HERE = Path(__file__).parent
WORKER = (sys.executable, str(HERE / "report_only_worker.py"))
JOBS, BATCHES_PER_JOB = 10, 5
FAULT_RATE = 0.25


class Faults:
    """Failures for the control endpoint and PutEvents, counted by kind: the first calls
    meet each kind once, in turn, so every run meets them all; later calls fail at random."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}

    def draw(self, *kinds: str) -> str | None:
        with self._lock:
            unmet = [k for k in kinds if k not in self.counts]
            if unmet:
                kind = unmet[0]
            elif self._random.random() < FAULT_RATE:
                kind = self._random.choice(kinds)
            else:
                return None
            self.counts[kind] = self.counts.get(kind, 0) + 1
            return kind

    def withheld(self, entries: int) -> list[int]:
        with self._lock:
            return sorted(self._random.sample(range(entries), self._random.randint(1, entries - 1)))

    def install(self, stack: LocalStack) -> None:
        assert stack.fargate is not None
        control = stack.fargate.outbox._control  # the stand-in's own MotoControl
        real_call = control._call  # type: ignore[attr-defined]

        def call(request: dict[str, Any]) -> dict[str, Any]:
            op = request["op"]  # "tasks" (each poll) or "update" (what the outbox owes)
            fault = self.draw(f"control {op} reset", f"control {op} timeout")
            if fault and fault.endswith("reset"):
                raise ConnectionResetError(104, "Connection reset by peer")
            answer: dict[str, Any] = real_call(request)
            if fault and fault.endswith("timeout"):  # it landed; the answer did not
                raise TimeoutError("timed out")
            return answer

        control._call = call  # type: ignore[attr-defined]

        events = stack.client("events", text_timestamps=True)  # the stand-in's client
        handlers = events.meta.events

        def before_build(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            entries = params["Entries"]
            kinds = ["put_events reset", "put_events timeout"]
            kinds += ["FailedEntryCount"] if len(entries) > 1 else []
            fault = self.draw(*kinds)
            context["fault"] = fault
            if fault == "FailedEntryCount":
                withheld = self.withheld(len(entries))
                context["withheld"] = withheld
                params["Entries"] = [e for i, e in enumerate(entries) if i not in withheld]

        def before_call(context: dict[str, Any], **_: Any) -> None:
            if context.get("fault") == "put_events reset":
                raise ConnectionClosedError(endpoint_url=stack.endpoint)

        def after_call(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            if context.get("fault") == "put_events timeout":
                raise ReadTimeoutError(endpoint_url=stack.endpoint)
            for index in context.get("withheld", []):  # refused, as EventBridge may
                parsed["Entries"].insert(
                    index, {"ErrorCode": "InternalFailure", "ErrorMessage": "injected"}
                )
                parsed["FailedEntryCount"] = parsed.get("FailedEntryCount", 0) + 1

        handlers.register("before-parameter-build.events.PutEvents", before_build)
        handlers.register("before-call.events.PutEvents", before_call)
        handlers.register("after-call.events.PutEvents", after_call)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    with LocalStack(
        port=0,
        state_dir=tmp_path / "stack",
        worker_command=WORKER,
        schedule_seconds=3600,  # no sweep: only events can end a batch
        max_running_tasks=JOBS * BATCHES_PER_JOB,
    ) as running:
        yield running


def test_every_batch_ends_by_its_event_while_moto_fails_at_random(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    handled: set[str] = set()
    real_task_stopped = reactions.task_stopped

    def task_stopped(event: Any, svc: Any) -> None:
        real_task_stopped(event, svc)
        handled.add(event.detail.task_arn)

    monkeypatch.setattr(reactions, "task_stopped", task_stopped)
    faults = Faults(seed=21)
    faults.install(stack)
    s3 = stack.client("s3")
    s3.put_object(Bucket=stack.bucket, Key="inputs/f/a.png", Body=b"p")
    s3.put_object(Bucket=stack.bucket, Key="inputs/f/a.mp3", Body=b"a")

    keys = []
    for n in range(JOBS):
        manifest = {
            "version": 1,
            "scenes": [
                {
                    "scene_name": f"s{i}",
                    "image_path": "inputs/f/a.png",
                    "audio_path": "inputs/f/a.mp3",
                }
                for i in range(BATCHES_PER_JOB)
            ],
            "scenes_per_batch": 1,
            "min_scenes_per_batch": 1,
            "max_parallel_tasks": BATCHES_PER_JOB,
        }
        key = f"manifests/faults-{n}.json"
        s3.put_object(Bucket=stack.bucket, Key=key, Body=json.dumps(manifest).encode())
        keys.append(key)

    jobs = [wait_for_final(stack, key, timeout=240) for key in keys]

    assert [job["status"] for job in jobs] == ["SUCCEEDED"] * JOBS
    store = stack.job_store()
    batches = [b for job in jobs for b in store.list_batches(job["job_id"])]
    assert len(batches) == JOBS * BATCHES_PER_JOB
    assert all(b.task_arn in handled for b in batches)  # each ended by its STOPPED event
    assert stack.dispatcher is not None
    assert stack.dispatcher.invocations["sweeper"] == 0
    assert set(stack.dead_letters().values()) == {0}
    # the faults really happened, of every kind, and were survived by retrying
    assert set(faults.counts) == {
        "control tasks reset",
        "control tasks timeout",
        "control update reset",
        "control update timeout",
        "put_events reset",
        "put_events timeout",
        "FailedEntryCount",
    }
    owed_faults = sum(n for kind, n in faults.counts.items() if "tasks" not in kind)
    assert stack.fargate is not None
    assert stack.fargate.outbox.retries >= owed_faults  # each one kept its work for later
