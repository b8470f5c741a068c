"""The embedded local stack: one object that starts and stops everything, in order.

``with LocalStack(port=0) as stack:`` gives tests, the demo and the benchmark the whole
pipeline — moto on 127.0.0.1, the bootstrapped account, the app's rules dispatched to its
own handlers, the Fargate stand-in and a verifying webhook receiver. Handlers run in this
process, so the stack exports their configuration into ``os.environ`` while it runs and
restores the previous values on stop.

``persist=True`` (what ``cloudburst local up`` runs) keeps the stack in its state folder,
``.local-stack/`` by default: moto's state (jobs, objects, queues, tasks), the webhook
secret and the receiver's port, so a restart carries on where the last run stopped.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from importlib.util import find_spec
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
from botocore.config import Config

from chalicelib.adapters.dynamodb import Table
from chalicelib.adapters.jobs_dynamodb import DynamoJobStore
from chalicelib.clients import session_with_text_timestamps
from chalicelib.settings import ENV
from cloudburst.local.bootstrap import (
    ACCOUNT_ID,
    CONTAINER_NAME,
    TASK_FAMILY,
    LocalResources,
    bootstrap,
)
from cloudburst.local.dispatcher import Dispatcher, Route, install_routes
from cloudburst.local.fargate import (
    DEFAULT_WORKER_COMMAND,
    LocalFargate,
    MotoControl,
    SpotInterruptions,
)
from cloudburst.local.motoserver import CONTROL_PATH
from cloudburst.local.receiver import WebhookReceiver, generate_secret

# Not under "cloudburst": that name is the Lambdas' powertools logger (its level, its JSON).
log = logging.getLogger("cloudburst-local.stack")

DEFAULT_PORT = 4566
REGION = "us-east-1"
BUCKET = "cloudburst-local"
TABLE = "cloudburst"
CLUSTER = "cloudburst"
STAGE = "local"
DUMMY_KEY = "testing"
SECRET_ENV = ENV["webhook_secret"]
DEFAULT_STATE_DIR = Path(".local-stack")
# in a persistent stack's state folder
MOTO_STATE_FILE = "moto-state.pickle"
SECRET_FILE = "webhook-secret"  # noqa: S105 (a file name)
STACK_FILE = "stack.json"  # receiver port, and the pid of the stack running there
LOG_FILE = "stack.log"


_RUNNING_LOCK = threading.Lock()
_running: LocalStack | None = None


class StackError(RuntimeError):
    """The stack could not start; the message says what the user can do about it."""


class LocalStack:
    """Everything ``cloudburst local up`` runs, usable as a context manager.

    ``port=0`` picks a free port (tests, demo, benchmark). One stack per process at a time:
    the handlers' environment is process-wide.
    """

    def __init__(
        self,
        port: int = DEFAULT_PORT,
        *,
        state_dir: Path | None = None,
        webhook_secret: str | None = None,
        worker_command: Sequence[str] = DEFAULT_WORKER_COMMAND,
        app_module: str = "app",
        max_receives: int = 3,
        max_running_tasks: int | None = None,
        schedule_seconds: float | None = None,
        extra_env: Mapping[str, str] | None = None,
        spot_interruptions: SpotInterruptions | None = None,
        persist: bool = False,
    ) -> None:
        self.requested_port = port
        self.persist = persist
        default_dir = DEFAULT_STATE_DIR if persist else _default_state_dir()
        self.state_dir = (state_dir or default_dir).resolve()
        self.webhook_secret, self.secret_source = self._secret(webhook_secret)
        self.secret_generated = self.secret_source == "generated"  # noqa: S105
        self.worker_command = tuple(worker_command)
        self.app_module = app_module
        self.max_receives = max_receives
        self.max_running_tasks = max_running_tasks
        self.schedule_seconds = schedule_seconds
        self.extra_env = dict(extra_env or {})
        self.spot_interruptions = spot_interruptions
        self.stage_env = stage_environment(app_module, STAGE)
        self.bucket = self.stage_env.get(ENV["bucket"], BUCKET)
        self.table = self.stage_env.get(ENV["table_name"], TABLE)
        self.cluster = self.stage_env.get(ENV["cluster"], CLUSTER)
        self.port = 0
        self.resources: LocalResources | None = None
        self.routes: list[Route] = []
        self.receiver = WebhookReceiver(
            self.webhook_secret, self.state_dir / "webhooks", port=self._saved("receiver_port")
        )
        self.resumed = False  # whether moto started from the state of an earlier run
        self.dispatcher: Dispatcher | None = None
        self.fargate: LocalFargate | None = None
        self._server: subprocess.Popen[bytes] | None = None
        self._saved_env: dict[str, str | None] = {}
        self._session = boto3.session.Session()
        self._text_session = session_with_text_timestamps()
        self._clients: dict[tuple[str, bool], Any] = {}
        self._clients_lock = threading.Lock()
        self._app_before: dict[str, Any] | None = None  # the app module as others imported it
        self._app_loaded = False
        self._started = False

    # -- lifecycle --------------------------------------------------------------------------
    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalStack:
        """Start in dependency order; on any failure undo what was started and re-raise."""
        with _RUNNING_LOCK:
            global _running
            if _running is not None:
                raise StackError(
                    f"a local stack already runs in this process ({_running.endpoint}); "
                    "stop it first: the handlers' environment is process-wide"
                )
            _running = self
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            if self.persist:
                self._claim_state_dir()
            self._start_moto()
            self._start_receiver()
            self._export_env(self.lambda_env())
            # Rules and their queues first, the bucket last: a client that uploads the
            # moment the bucket answers must find the rules that route its upload.
            app = self._load_app()
            self.routes = install_routes(
                app,
                self.client("events"),
                self.client("sqs"),
                region=REGION,
                account_id=ACCOUNT_ID,
                app_module=self.app_module,
                schedule_seconds=self.schedule_seconds,
            )
            self.resources = bootstrap(
                self.client,
                region=REGION,
                bucket=self.bucket,
                table=self.table,
                cluster=self.cluster,
            )
            self._export_env(
                {
                    ENV["subnets"]: self.resources.subnet_id,
                    ENV["security_groups"]: self.resources.security_group_id,
                }
            )
            # the handlers build their services on the first event: they see the subnets
            self.dispatcher = Dispatcher(
                self.routes,
                lambda: self.client("sqs"),
                region=REGION,
                account_id=ACCOUNT_ID,
                max_receives=self.max_receives,
            ).start()
            self.fargate = LocalFargate(
                clients=partial(self.client, text_timestamps=True),
                control=MotoControl(self.port, account_id=ACCOUNT_ID, region=REGION),
                cluster=self.cluster,
                log_dir=self.state_dir / "tasks",
                base_env=self.worker_env(),
                worker_command=self.worker_command,
                spot_interruptions=self.spot_interruptions,
            ).start()
        except BaseException:
            self.stop()
            raise
        self._started = True
        return self

    def stop(self) -> None:
        """Stop workers, dispatcher, receiver and moto; restore the environment. Idempotent."""
        if self.fargate is not None:
            self.fargate.stop()
        if self.dispatcher is not None:
            self.dispatcher.stop()
        self.receiver.stop()
        if self.persist and self._server is not None:
            self._save_moto()
        self._stop_moto()
        if self.persist:
            self._release_state_dir()
        with self._clients_lock:
            self._clients.clear()
        self._restore_env()
        self._restore_app()
        self._started = False
        with _RUNNING_LOCK:
            global _running
            if _running is self:
                _running = None

    # -- what callers use -------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def job_store(self) -> DynamoJobStore:
        """The pipeline's own job and batch records in this stack's table (tests and benches
        read states and launch times a user never sees)."""
        resource = self._session.resource(
            "dynamodb",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=DUMMY_KEY,
            aws_secret_access_key=DUMMY_KEY,
        )
        return DynamoJobStore(Table(self.table, resource))

    def client(self, service: str, *, text_timestamps: bool = False) -> Any:
        """A boto3 client for this stack, one per service (clients are thread-safe; making
        one costs ~0.2 s). No botocore retries: moto's 500s would repeat side effects.

        ``text_timestamps`` (the stand-in's own clients) skips botocore's date parsing,
        which otherwise competes with the handlers for this one interpreter.
        """
        with self._clients_lock:
            made = self._clients.get((service, text_timestamps))
            if made is None:
                session = self._text_session if text_timestamps else self._session
                made = session.client(
                    service,
                    endpoint_url=self.endpoint,
                    region_name=REGION,
                    aws_access_key_id=DUMMY_KEY,
                    aws_secret_access_key=DUMMY_KEY,
                    config=Config(
                        retries={"total_max_attempts": 1},
                        connect_timeout=5,
                        read_timeout=60,
                        max_pool_connections=32,
                    ),
                )
                self._clients[(service, text_timestamps)] = made
            return made

    def user_env(self) -> dict[str, str]:
        """What a user's shell needs to talk to the stack with the aws CLI or plain boto3."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": DUMMY_KEY,
            "AWS_SECRET_ACCESS_KEY": DUMMY_KEY,
            "AWS_DEFAULT_REGION": REGION,
            ENV["bucket"]: self.bucket,
            ENV["cluster"]: self.cluster,  # `cloudburst tasks` / `cleanup`
        }

    def lambda_env(self) -> dict[str, str]:
        """The ``local`` stage's variables from ``.chalice/config.json``, pointed at this stack."""
        env = {
            **self.stage_env,
            **self.user_env(),
            "AWS_REGION": REGION,
            # No profile or config file may send a request anywhere but 127.0.0.1.
            "AWS_CONFIG_FILE": str(self.state_dir / "aws-config-unused"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.state_dir / "aws-credentials-unused"),
            ENV["stage"]: STAGE,
            ENV["table_name"]: self.table,
            ENV["cluster"]: self.cluster,
            ENV["task_definition"]: TASK_FAMILY,
            ENV["container_name"]: CONTAINER_NAME,
            ENV["webhook_default_url"]: self.receiver.url,
            ENV["webhook_secret"]: self.webhook_secret,
            ENV["allow_loopback_webhooks"]: "true",
        }
        if self.max_running_tasks is not None:
            env[ENV["max_running_tasks"]] = str(self.max_running_tasks)
        env.update(self.extra_env)
        return env

    def worker_env(self) -> dict[str, str]:
        """A clean base for worker subprocesses; each task's override environment goes on top."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(self.state_dir)),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "PYTHONUNBUFFERED": "1",
            "AWS_ACCESS_KEY_ID": DUMMY_KEY,
            "AWS_SECRET_ACCESS_KEY": DUMMY_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_CONFIG_FILE": str(self.state_dir / "aws-config-unused"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.state_dir / "aws-credentials-unused"),
        }
        pythonpath = _worker_pythonpath()
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        return env

    def wait_until_quiet(self, timeout: float, settle: float = 0.5) -> bool:
        """True once no task runs, no handler runs and every queue is empty for ``settle`` s."""
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        sqs = self.client("sqs")
        while time.monotonic() < deadline:
            if self._is_quiet(sqs):
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= settle:
                    return True
            else:
                quiet_since = None
            time.sleep(0.1)
        return False

    def dead_letters(self) -> dict[str, int]:
        """Messages in each route's dead-letter queue (non-zero means a handler kept failing)."""
        sqs = self.client("sqs")
        counts: dict[str, int] = {}
        for route in self.routes:
            attributes = sqs.get_queue_attributes(
                QueueUrl=route.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            counts[route.name] = int(attributes["ApproximateNumberOfMessages"])
        return counts

    # -- internals --------------------------------------------------------------------------
    def _secret(self, given: str | None) -> tuple[str, str]:
        """(secret, where it came from): the argument, the environment, the state folder of
        a persistent stack, or generated now (and kept there, for the next run)."""
        if given:
            return given, "given"
        if os.environ.get(SECRET_ENV):
            return os.environ[SECRET_ENV], SECRET_ENV
        path = self.state_dir / SECRET_FILE
        if self.persist and path.is_file():
            return path.read_text(encoding="utf-8").strip(), str(path)
        secret = generate_secret()
        if self.persist:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secret + "\n", encoding="utf-8")
        return secret, "generated"

    def _saved(self, key: str) -> int:
        """A number the last run of a persistent stack kept in its ``stack.json`` (or 0)."""
        path = self.state_dir / STACK_FILE
        if not (self.persist and path.is_file()):
            return 0
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            return int(json.loads(path.read_text(encoding="utf-8")).get(key, 0))
        return 0

    def _claim_state_dir(self) -> None:
        """One stack per state folder: a second would overwrite the first one's state."""
        pid = self._saved("pid")
        if pid and pid != os.getpid() and _alive(pid):
            raise StackError(
                f"a local stack (pid {pid}) already runs with state in {self.state_dir};"
                " stop it first, or pass --state-dir for another"
            )
        self._write_stack_file(pid=os.getpid())

    def _release_state_dir(self) -> None:
        if self._saved("pid") == os.getpid():
            self._write_stack_file(pid=0)

    def _write_stack_file(self, **values: int) -> None:
        path = self.state_dir / STACK_FILE
        saved: dict[str, int] = {}
        if path.is_file():
            with contextlib.suppress(ValueError):
                saved = json.loads(path.read_text(encoding="utf-8"))
        path.write_text(json.dumps({**saved, **values}) + "\n", encoding="utf-8")

    def _start_receiver(self) -> None:
        """The receiver on the port it had last time (a job's webhook URL names it), or
        on a free one if that port is taken now."""
        try:
            self.receiver.start()
        except OSError:
            log.warning("webhook receiver port taken; using another (old jobs' URLs break)")
            self.receiver = WebhookReceiver(self.webhook_secret, self.receiver.directory)
            self.receiver.start()
        if self.persist:
            port = int(self.receiver.url.split(":")[2].split("/")[0])
            self._write_stack_file(receiver_port=port)

    def _start_moto(self) -> None:
        """moto in a child process (see cloudburst.local.motoserver); waits until it serves."""
        if self.requested_port:
            _require_free_port(self.requested_port)
        command = [sys.executable, "-m", "cloudburst.local.motoserver"]
        command += ["--port", str(self.requested_port)]
        state_file = self.state_dir / MOTO_STATE_FILE
        if self.persist:
            self.resumed = state_file.is_file()
            command += ["--state", str(state_file)]
        with (self.state_dir / "moto.log").open("wb") as moto_log:
            self._server = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,  # closed when this process ends: moto follows
                stdout=subprocess.PIPE,
                stderr=moto_log,
                env={**os.environ, "PYTHONPATH": _worker_pythonpath()},
                # Ctrl-C is for this process, which stops the stand-in and the dispatcher
                # first and then has moto save its state; moto must not die before that.
                start_new_session=True,
            )
        assert self._server.stdout is not None
        first = self._server.stdout.readline().decode().split()
        if first[:1] != ["port"]:
            self._server.wait(30)
            log = (self.state_dir / "moto.log").read_text(errors="replace")[-2000:]
            self._server = None
            if "cloudburst: " in log:  # a reason meant for the user (unreadable state)
                raise StackError(log[log.rindex("cloudburst: ") + 12 :].strip())
            raise StackError(f"moto did not start:\n{log}")
        self.port = int(first[1])

    def _save_moto(self) -> None:
        """moto writes its state to the state folder (it also does when this process dies)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            connection.request("POST", CONTROL_PATH, json.dumps({"op": "save"}))
            answer = connection.getresponse()
            body = answer.read()
            if answer.status != 200:
                log.error("moto did not save its state: %s", body[:500])
        except OSError as exc:
            log.error("moto did not save its state: %s", exc)
        finally:
            connection.close()

    def _stop_moto(self) -> None:
        if self._server is None:
            return
        self._server.terminate()
        try:
            self._server.wait(5)
        except subprocess.TimeoutExpired:
            self._server.kill()
            self._server.wait()
        for stream in (self._server.stdin, self._server.stdout):
            if stream is not None:
                stream.close()
        self._server = None

    def _load_app(self) -> Any:
        """Import (or re-import) the Chalice app after the environment is set: its patterns
        are built from settings at import, its services on the first event."""
        module: ModuleType | None = sys.modules.get(self.app_module)
        if module is not None:
            self._app_before = dict(vars(module))
            module = importlib.reload(module)
        else:
            module = importlib.import_module(self.app_module)
        self._app_loaded = True
        return module.app

    def _restore_app(self) -> None:
        """Give the process back the app module it had, so later imports see their own env."""
        if not self._app_loaded:
            return
        module = sys.modules.get(self.app_module)
        if self._app_before is not None and module is not None:
            vars(module).clear()
            vars(module).update(self._app_before)
        elif self._app_before is None:
            sys.modules.pop(self.app_module, None)
        self._app_before = None
        self._app_loaded = False

    def _export_env(self, values: Mapping[str, str]) -> None:
        for key in [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL_")] + [
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_DEFAULT_PROFILE",
        ]:
            self._save_env(key)
            os.environ.pop(key, None)
        for key, value in values.items():
            self._save_env(key)
            os.environ[key] = value

    def _save_env(self, key: str) -> None:
        if key not in self._saved_env:
            self._saved_env[key] = os.environ.get(key)

    def _restore_env(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = {}

    def _is_quiet(self, sqs: Any) -> bool:
        if self.fargate is not None and self.fargate.running():
            return False
        if self.dispatcher is not None and self.dispatcher.busy:
            return False
        for route in self.routes:
            attributes = sqs.get_queue_attributes(
                QueueUrl=route.queue_url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            if any(int(v) for v in attributes.values()):
                return False
        return True

    def describe(self) -> str:
        """Human-readable endpoint, environment and an example upload."""
        env = "\n".join(f"  export {k}={v}" for k, v in self.user_env().items())
        return (
            f"CloudBurst local stack on {self.endpoint}"
            " (moto: S3, DynamoDB, ECS, EventBridge, SQS)\n"
            f"  bucket s3://{self.bucket}  table {self.table}  cluster {self.cluster}\n"
            f"  webhooks → {self.receiver.url}  (saved under {self.receiver.directory})\n"
            f"  task logs under {self.state_dir / 'tasks'}\n" + self._state_line() + "\n"
            f"Environment for your shell:\n{env}\n\n"
            "Start a job (aws CLI):\n"
            f"  aws s3 cp my-manifest.json s3://{self.bucket}/manifests/my-job.json\n"
            "or plain boto3:\n"
            f"  boto3.client('s3', endpoint_url='{self.endpoint}', region_name='{REGION}',\n"
            f"               aws_access_key_id='{DUMMY_KEY}', aws_secret_access_key='{DUMMY_KEY}')"
            f".upload_file('my-manifest.json', '{self.bucket}', 'manifests/my-job.json')\n"
            f"Results appear under s3://{self.bucket}/outputs/<job_id>/ (MP4s + job.json)."
        )

    def _state_line(self) -> str:
        if not self.persist:
            return ""
        how = "carried on from the last run" if self.resumed else "new"
        return (
            f"  state {how}, kept in {self.state_dir} across restarts"
            " (`cloudburst local reset` starts clean)\n"
        )


def stage_environment(app_module: str, stage: str) -> dict[str, str]:
    """Global + ``stage`` environment variables of the app's ``.chalice/config.json``.

    The same file configures the deployed stages, so the local stack reads its names
    (bucket, table, cluster, caps) from there instead of keeping a second copy. Read
    without importing the app: its patterns are built from the environment at import.
    """
    spec = find_spec(app_module)
    if spec is None or not spec.origin:
        return {}
    config_path = Path(spec.origin).parent / ".chalice" / "config.json"
    if not config_path.is_file():
        return {}
    config = json.loads(config_path.read_text(encoding="utf-8"))
    env = dict(config.get("environment_variables", {}))
    env.update(config.get("stages", {}).get(stage, {}).get("environment_variables", {}))
    return {str(k): str(v) for k, v in env.items()}


def _default_state_dir() -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return Path(".local-stack") / f"run-{stamp}-{os.getpid()}"


def reset_state(state_dir: Path = DEFAULT_STATE_DIR) -> bool:
    """Delete a persistent stack's state folder (jobs, objects, webhook secret, logs); False
    when there was none. Refused while a stack runs with it."""
    stack_file = state_dir / STACK_FILE
    if stack_file.is_file():
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            pid = int(json.loads(stack_file.read_text(encoding="utf-8")).get("pid", 0))
            if pid and _alive(pid):
                raise StackError(
                    f"a local stack (pid {pid}) runs with state in {state_dir}; stop it first"
                )
    if not state_dir.exists():
        return False
    shutil.rmtree(state_dir)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _require_free_port(port: int) -> None:
    """moto's server thread would hang on a taken port; say so before starting it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise StackError(
                f"port {port} on 127.0.0.1 is in use ({exc.strerror}); "
                "stop what runs there or pass --port N"
            ) from exc


def _worker_pythonpath() -> str:
    """Where this process finds ``cloudburst_worker`` and ``chalicelib`` (editable or not)."""
    paths: list[str] = []
    for module in ("cloudburst_worker", "chalicelib"):
        spec = find_spec(module)
        if spec and spec.submodule_search_locations:
            parent = str(Path(next(iter(spec.submodule_search_locations))).parent)
            if parent not in paths:
                paths.append(parent)
    existing = os.environ.get("PYTHONPATH")
    if existing:
        paths.append(existing)
    return os.pathsep.join(paths)
