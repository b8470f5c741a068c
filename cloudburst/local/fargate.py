"""A local stand-in for Fargate: every task RunTask created runs as a worker subprocess.

moto records RunTask but runs nothing and emits no events. This watches the cluster, runs
each new task's container as ``python -m cloudburst_worker`` with the task's override
environment, writes the outcome onto moto's task object through the moto process's control
endpoint (so DescribeTasks tells the truth) and puts real-shaped "ECS Task State Change"
events on the default bus — RUNNING, then STOPPED — so the app's own rule decides what
reaches its handler.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from chalicelib.contracts import ATTEMPT_ENV, BATCH_SPEC_ENV, BatchSpec, split_s3_uri
from cloudburst.local.motoserver import CONTROL_PATH
from cloudburst.local.outbox import Backoff, Outbox

# Not under "cloudburst": that name is the Lambdas' powertools logger (its level, its JSON).
log = logging.getLogger("cloudburst-local.fargate")

DEFAULT_WORKER_COMMAND: tuple[str, ...] = (sys.executable, "-m", "cloudburst_worker")
_KILL_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class SpotInterruptions:
    """Fargate Spot taking capacity back, on demand: the first ``count`` Spot tasks are
    stopped (SIGTERM, ``stopCode`` SpotInterruption) once they have run ``after_seconds``
    and written ``after_records`` result records of their own attempt, so the retry path
    can be watched on the local stack. ``after_records`` makes the moment a fact of the
    task's progress, not of the machine's speed: a test that wants a task interrupted
    mid-batch says "after its first scene", and a fast machine cannot finish first."""

    after_seconds: float = 0.0
    count: int = 1
    after_records: int = 0


SPOT_INTERRUPTED_REASON = "Your Spot Task was interrupted."


@dataclass
class LocalTask:
    """What the stand-in knows about one task it runs."""

    task_arn: str
    container_name: str
    container_arn: str
    description: dict[str, Any]
    log_path: Path
    created_at: datetime
    pull_started_at: datetime | None = None
    pull_stopped_at: datetime | None = None
    started_at: datetime | None = None
    stopping_at: datetime | None = None
    stopped_at: datetime | None = None
    process: subprocess.Popen[bytes] | None = None
    log_file: IO[bytes] | None = None
    exit_code: int | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    version: int = 1
    events: list[dict[str, Any]] = field(default_factory=list)
    # where its batch's result records go, and those of its own attempt seen so far
    results: tuple[str, str, int] | None = None
    own_records: set[str] = field(default_factory=set)
    records_checked: set[str] = field(default_factory=set)

    @property
    def environment(self) -> dict[str, str]:
        overrides = self.description.get("overrides", {}).get("containerOverrides", [])
        env: dict[str, str] = {}
        for override in overrides:
            if override.get("name") == self.container_name:
                env.update({e["name"]: e["value"] for e in override.get("environment", [])})
        return env


class LocalFargate:
    """Watches the cluster's tasks, runs new ones as subprocesses, reports them on the bus."""

    def __init__(
        self,
        *,
        clients: Callable[[str], Any],
        control: MotoControl,
        cluster: str,
        log_dir: Path,
        base_env: Mapping[str, str],
        worker_command: Sequence[str] = DEFAULT_WORKER_COMMAND,
        poll_interval: float = 0.1,
        task_timeout: float = 3600.0,
        spot_interruptions: SpotInterruptions | None = None,
    ) -> None:
        self._clients = clients
        self._control = control
        self.cluster = cluster
        self._moto_tasks: dict[str, dict[str, Any]] = {}  # this poll's snapshot
        # updates and events owed to moto, across polls, until moto took them
        self.outbox = Outbox(control, lambda: clients("events"), cluster)
        self._poll_failures = 0
        self.log_dir = log_dir
        self._base_env = dict(base_env)
        self.worker_command = tuple(worker_command)
        self._poll_interval = poll_interval
        self._task_timeout = task_timeout
        self._spot = spot_interruptions
        self._spot_left = spot_interruptions.count if spot_interruptions else 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.tasks: dict[str, LocalTask] = {}
        self._settled: set[str] = set()  # tasks an earlier run of the stack saw to the end

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> LocalFargate:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="local-fargate", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0, *, flush_seconds: float = 2.0) -> None:
        """Stop polling, give moto what it is owed (briefly), then end every worker still
        running (its process group included)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        deadline = time.monotonic() + flush_seconds
        while not self.outbox.deliver(now=True) and time.monotonic() < deadline:
            time.sleep(0.1)
        if len(self.outbox):
            log.warning("%d task update(s)/event(s) not delivered before stop", len(self.outbox))
        running = self.running()
        for task in running:  # all at once: a hundred workers need not stop one by one
            if task.process is not None and task.process.poll() is None:
                _signal_group(task.process, signal.SIGTERM)
        for task in running:
            _terminate(task)
            self._close_log(task)
        self._thread = None

    def running(self) -> list[LocalTask]:
        with self._lock:
            return [t for t in self.tasks.values() if t.process and t.stopped_at is None]

    def stopped(self) -> list[LocalTask]:
        with self._lock:
            return [t for t in self.tasks.values() if t.stopped_at is not None]

    def wait_until_idle(self, timeout: float) -> bool:
        """True once every noticed task is STOPPED and moto took its update and event,
        False at ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                stopped = all(t.stopped_at is not None for t in self.tasks.values())
            if stopped and not len(self.outbox):
                return True
            time.sleep(0.05)
        return False

    # -- the poll loop ---------------------------------------------------------------------
    def _run(self) -> None:
        ecs = self._clients("ecs")
        backoff = Backoff(first=self._poll_interval)
        while not self._stop.is_set():
            try:
                self._poll(ecs)
            except Exception as exc:
                if self._stop.is_set():
                    return
                # Nothing is lost: what the poll learnt is in the outbox, what it did not
                # get to is still there to learn next time.
                self._poll_failures += 1
                log.warning("local Fargate poll failed (%s: %s); retrying", type(exc).__name__, exc)
            else:
                self._poll_failures = 0
            self._stop.wait(max(self._poll_interval, backoff.delay(self._poll_failures)))

    def _poll(self, ecs: Any) -> None:
        try:
            self._moto_tasks = self._control.tasks(self.cluster)
            self._poll_once(ecs, self.outbox)
        finally:
            self.outbox.deliver()

    def _poll_once(self, ecs: Any, events: Outbox) -> None:
        new, stopped_before_start = self._unseen_tasks()
        for start in range(0, len(new), 100):
            described = ecs.describe_tasks(
                cluster=self.cluster, tasks=new[start : start + 100], include=["TAGS"]
            )["tasks"]
            for description in described:
                self._launch(description, events)
        for task in self.running():
            self._check(task, events)
        for arn in stopped_before_start:
            for description in ecs.describe_tasks(cluster=self.cluster, tasks=[arn])["tasks"]:
                self._never_started(description, events)

    def _track(self, description: dict[str, Any], **state: Any) -> LocalTask:
        """A LocalTask for a task RunTask created, registered under its ARN."""
        arn = description["taskArn"]
        container = (description.get("containers") or [{}])[0]
        task = LocalTask(
            task_arn=arn,
            container_name=container.get("name", "worker"),
            container_arn=container.get("containerArn", f"{arn}/container"),
            description=description,
            log_path=self.log_dir / f"{arn.rsplit('/', 1)[-1]}.log",
            **{"created_at": _now(), **state},
        )
        with self._lock:
            self.tasks[arn] = task
        return task

    def _launch(self, description: dict[str, Any], events: Outbox) -> None:
        task = self._track(description)
        arn = task.task_arn
        env = {**self._base_env, **task.environment}
        task.pull_started_at = _now()
        task.log_file = task.log_path.open("ab")  # a task run again after a restart appends
        try:
            task.process = subprocess.Popen(
                list(self.worker_command),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=task.log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: ffmpeg children die with it
            )
        except OSError as exc:
            log.error("task %s failed to start: %s", arn, exc)
            task.stopping_at = task.stopped_at = _now()
            task.stop_code = "TaskFailedToStart"
            task.stopped_reason = f"CannotStartContainerError: {exc}"
            self._close_log(task)
            self._report(task, "STOPPED", events)
            return
        task.pull_stopped_at = task.started_at = _now()
        log.info("task %s running (pid %d, log %s)", arn, task.process.pid, task.log_path)
        self._report(task, "RUNNING", events)

    def _never_started(self, description: dict[str, Any], events: Outbox) -> None:
        """StopTask before the stand-in saw the task: AWS still reports it STOPPED."""
        now = _now()
        task = self._track(
            description,
            created_at=now,
            stopping_at=now,
            stopped_at=now,
            stop_code="UserInitiated",
            stopped_reason=description.get("stoppedReason") or "Task stopped by user",
        )
        log.info("task %s stopped before it started", task.task_arn)
        self._report(task, "STOPPED", events)

    def _unseen_tasks(self) -> tuple[list[str], list[str]]:
        """(new tasks to run, tasks stopped before they were seen), from this poll's snapshot
        of moto's tasks (one control request, which also answers every StopTask check).

        After a restart of the stack (its moto state kept) moto still lists the tasks of
        the last run: those it reported STOPPED then are left alone; those
        still RUNNING lost their worker with the stack and run again (the worker resumes,
        skipping the scenes it already finished) — as the task would have gone on in AWS.
        """
        new: list[str] = []
        stopped: list[str] = []
        with self._lock:
            for arn, task in self._moto_tasks.items():
                if arn in self.tasks or arn in self._settled:
                    continue
                if task.get("reported_stopped"):
                    self._settled.add(arn)
                elif task["desired_status"] == "STOPPED":
                    stopped.append(arn)
                else:
                    new.append(arn)
        return new, stopped

    def _check(self, task: LocalTask, events: Outbox) -> None:
        assert task.process is not None
        code = task.process.poll()
        if code is not None:
            task.stopping_at = _now()
            task.exit_code = _docker_exit_code(code)
            task.stop_code = "EssentialContainerExited"
            task.stopped_reason = "Essential container in task exited"
        elif self._stopped_by_user(task):
            task.stopping_at = _now()
            task.stop_code = "UserInitiated"
            reason = self._moto_tasks[task.task_arn]["stopped_reason"]
            task.stopped_reason = reason or "Task stopped by user"
            task.exit_code = _docker_exit_code(_terminate(task))
        elif self._spot_reclaims(task):
            task.stopping_at = _now()
            task.stop_code = "SpotInterruption"
            task.stopped_reason = SPOT_INTERRUPTED_REASON
            task.exit_code = _docker_exit_code(_terminate(task))
        elif task.started_at and (_now() - task.started_at).total_seconds() > self._task_timeout:
            task.stopping_at = _now()
            task.stop_code = "UserInitiated"
            task.stopped_reason = f"Local task timeout after {self._task_timeout:.0f}s"
            task.exit_code = _docker_exit_code(_terminate(task))
        else:
            return
        task.stopped_at = _now()
        self._close_log(task)
        log.info("task %s stopped: %s exit %s", task.task_arn, task.stop_code, task.exit_code)
        self._report(task, "STOPPED", events)

    def _spot_reclaims(self, task: LocalTask) -> bool:
        """Whether this Spot task is one to interrupt, and its time has come."""
        if self._spot is None or task.description.get("capacityProviderName") != "FARGATE_SPOT":
            return False
        running = (_now() - task.started_at).total_seconds() if task.started_at else 0.0
        if running < self._spot.after_seconds:
            return False
        with self._lock:
            if self._spot_left <= 0:
                return False
        if self._records_written(task) < self._spot.after_records:
            return False
        with self._lock:
            if self._spot_left <= 0:
                return False
            self._spot_left -= 1
        return True

    def _records_written(self, task: LocalTask) -> int:
        """Result records the task's own attempt has written (records of an earlier
        attempt of the same batch do not count), read from S3 as the completion Lambda
        reads them."""
        s3 = self._clients("s3")
        if task.results is None:
            spec_uri = task.environment.get(BATCH_SPEC_ENV, "")
            bucket, key = split_s3_uri(spec_uri)
            spec = BatchSpec.model_validate_json(
                s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            )
            given = task.environment.get(ATTEMPT_ENV, "")
            task.results = (
                spec.bucket,
                spec.results_prefix,
                int(given) if given.isdigit() else spec.attempt,
            )
        bucket, prefix, attempt = task.results
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        for key in {o["Key"] for o in listed} - task.records_checked:
            record = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            task.records_checked.add(key)
            if record.get("attempt") == attempt:
                task.own_records.add(key)
        return len(task.own_records)

    # -- moto state and the event ----------------------------------------------------------
    def _stopped_by_user(self, task: LocalTask) -> bool:
        """StopTask (the app cancelling or a sweeper) sets moto's desired status only."""
        state = self._moto_tasks.get(task.task_arn)
        return state is not None and state["desired_status"] == "STOPPED"

    def _report(self, task: LocalTask, status: str, events: Outbox) -> None:
        """Owe moto ``status`` for its task object, then the state-change event (the outbox
        sends updates before events and keeps both until moto took them)."""
        task.version += 1
        control = self._control
        detail = task_state_change_detail(task, status, control.account_id, control.region)
        entry = {
            "Source": "aws.ecs",
            "DetailType": "ECS Task State Change",
            "Resources": [task.task_arn],
            "Detail": json.dumps(detail),
            "Time": _now(),
        }
        events.add(_moto_update(task, status), entry)
        task.events.append(detail)

    def _close_log(self, task: LocalTask) -> None:
        if task.log_file is not None and not task.log_file.closed:
            task.log_file.close()


def _moto_update(task: LocalTask, status: str) -> dict[str, Any]:
    """What the control endpoint writes onto moto's task object for ``status``."""
    cpu, memory = _task_size(task)
    return {
        "task_arn": task.task_arn,
        "status": status,
        "version": task.version,
        "cpu": cpu,
        "memory": memory,
        "stop_code": task.stop_code,
        "stopped_reason": task.stopped_reason,
        "stopped_at": task.stopped_at.isoformat() if task.stopped_at else None,
        "exit_code": task.exit_code,
    }


def task_state_change_detail(
    task: LocalTask, status: str, account_id: str, region: str
) -> dict[str, Any]:
    """The ``detail`` of an "ECS Task State Change" event as AWS documents it.

    Timestamps are ISO strings with milliseconds; cpu/memory are strings; ``version`` grows
    with every transition; ``tags`` are absent, as in AWS.
    """
    d = task.description
    cpu, memory = _task_size(task)
    container: dict[str, Any] = {
        "containerArn": task.container_arn,
        "lastStatus": status,
        "name": task.container_name,
        "image": "cloudburst-worker:local",
        "taskArn": task.task_arn,
        "networkInterfaces": [],
        "cpu": "0",
    }
    if status == "STOPPED" and task.exit_code is not None:
        container["exitCode"] = task.exit_code
    if status == "STOPPED" and task.stop_code == "TaskFailedToStart":
        container["reason"] = task.stopped_reason
    detail: dict[str, Any] = {
        "attachments": d.get("attachments", []),
        "availabilityZone": f"{region}a",
        "clusterArn": d["clusterArn"],
        "containers": [container],
        "createdAt": _iso(task.created_at),
        "cpu": cpu,
        "memory": memory,
        "desiredStatus": "STOPPED" if status == "STOPPED" else "RUNNING",
        "lastStatus": status,
        "group": d.get("group", ""),
        "startedBy": d.get("startedBy", ""),
        "overrides": d.get("overrides", {"containerOverrides": []}),
        "connectivity": "CONNECTED",
        "connectivityAt": _iso(task.created_at),
        "platformVersion": "1.4.0",
        "taskArn": task.task_arn,
        "taskDefinitionArn": d["taskDefinitionArn"],
        "updatedAt": _iso(_now()),
        "version": task.version,
    }
    # A task placed by a FARGATE_SPOT capacity provider still has launch type FARGATE in
    # AWS; moto leaves launchType empty for it.
    detail["launchType"] = d.get("launchType") or "FARGATE"
    if d.get("capacityProviderName"):
        detail["capacityProviderName"] = d["capacityProviderName"]
    for key, value in (
        ("pullStartedAt", task.pull_started_at),
        ("pullStoppedAt", task.pull_stopped_at),
        ("startedAt", task.started_at),
    ):
        if value is not None:
            detail[key] = _iso(value)
    if status == "STOPPED":
        detail["stopCode"] = task.stop_code
        detail["stoppedReason"] = task.stopped_reason
        detail["stoppingAt"] = _iso(task.stopping_at or task.stopped_at or _now())
        detail["executionStoppedAt"] = _iso(task.stopping_at or task.stopped_at or _now())
        detail["stoppedAt"] = _iso(task.stopped_at or _now())
    return detail


def _task_size(task: LocalTask) -> tuple[str, str]:
    """Task-level cpu/memory: RunTask overrides win over the task definition's."""
    overrides = task.description.get("overrides", {})
    cpu = overrides.get("cpu") or task.description.get("cpu") or "1024"
    memory = overrides.get("memory") or task.description.get("memory") or "2048"
    return str(cpu), str(memory)


def _terminate(task: LocalTask) -> int:
    """SIGTERM the worker's process group, SIGKILL after a grace period; its return code."""
    process = task.process
    if process is None:
        return -signal.SIGKILL
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(_KILL_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(_KILL_GRACE_SECONDS)
    return int(process.returncode)


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def _docker_exit_code(returncode: int) -> int:
    """A process killed by signal N exits 128 + N in a container (137 for SIGKILL)."""
    return 128 - returncode if returncode < 0 else returncode


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class MotoControl:
    """Client of the moto process's control endpoint (cloudburst.local.motoserver)."""

    def __init__(self, port: int, *, account_id: str, region: str) -> None:
        self.port = port
        self.account_id = account_id
        self.region = region

    def tasks(self, cluster: str) -> dict[str, dict[str, Any]]:
        """{task ARN: {desired_status, stopped_reason}} for every task of ``cluster``."""
        tasks: dict[str, dict[str, Any]] = self._call({"op": "tasks", "cluster": cluster})["tasks"]
        return tasks

    def update(self, cluster: str, updates: list[dict[str, Any]]) -> None:
        missing = self._call({"op": "update", "cluster": cluster, "updates": updates})["missing"]
        for arn in missing:
            log.warning("task %s vanished from moto", arn)

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps({**request, "account_id": self.account_id, "region": self.region})
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("POST", CONTROL_PATH, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            answer: dict[str, Any] = json.loads(response.read())
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError(f"moto control {request['op']} failed: {answer}")
        return answer
