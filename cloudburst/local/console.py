"""What ``cloudburst local up`` prints: one line a person reads per job event.

The Lambdas log JSON (powertools) and print metrics as EMF blobs — right for CloudWatch,
unreadable in a terminal. :func:`route_output` sends all of that to the stack's log file
and puts :func:`job_event_line`'s one line per job event on the terminal instead
(``--verbose`` shows the JSON there too).
"""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

LAMBDA_LOGGER = "cloudburst"  # the powertools logger of chalicelib.observability
STACK_LOGGER = "cloudburst-local"


def job_event_line(fields: dict[str, Any]) -> str | None:
    """The human line for one of the Lambdas' JSON log records, or None for the log only."""
    message = str(fields.get("message", ""))
    job = fields.get("job_id") or "?"
    batch = fields.get("batch_number") or fields.get("batch")
    describe = _LINES.get(message)
    if describe is not None:
        return f"job {job}" + describe(fields, batch)
    if message.startswith("webhook "):
        state = message.removeprefix("webhook ")
        http = fields.get("http_status")
        detail = f" (HTTP {http})" if http else ""
        if fields.get("error"):
            detail += f": {fields['error']}"
        if fields.get("retry_at"):
            detail += f"; next try {fields['retry_at']}"
        return f"job {job}: webhook {fields.get('type', '')} {state}{detail}"
    if fields.get("level") in ("WARNING", "ERROR", "CRITICAL"):
        where = f"job {job}: " if fields.get("job_id") else ""
        return f"{where}{str(fields['level']).lower()}: {message}"
    return None


def _plural(n: Any, word: str, words: str = "") -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"


_LINES: dict[str, Callable[[dict[str, Any], Any], str]] = {
    "job accepted": lambda f, _: (
        f" started: {_plural(f.get('scenes'), 'scene')} in"
        f" {_plural(f.get('batches'), 'batch', 'batches')}"
        + (f", {f['profile']}" if f.get("profile") else "")
    ),
    "manifest rejected": lambda f, _: (
        f" rejected: {_plural(f.get('errors_total'), 'reason')}"
        + (f", first: {f['errors'][0]}" if f.get("errors") else "")
    ),
    "task started": lambda f, b: f" batch {b}: task started",
    "batch finished": lambda f, b: f" batch {b}: finished {f.get('status', '')}",
    "batch retried": lambda f, b: (
        f" batch {b}: retried as attempt {f.get('next_attempt')} ({f.get('stop_code')})"
    ),
    "batch ended without a task": lambda f, b: (
        f" batch {b}: ended without a task: {f.get('reason')}"
    ),
    "job cancelling": lambda f, _: f": cancelling ({f.get('reason')})",
    "job finished": lambda f, _: (
        f" ended {f.get('status', '')}"
        + (f", ${f['total_cost_usd']:.4f}" if isinstance(f.get("total_cost_usd"), float) else "")
    ),
    "duplicate task stopped": lambda f, b: f" batch {b}: duplicate task stopped",
}


class JobEventLines(logging.Handler):
    """Writes :func:`job_event_line` of each Lambda log record to ``stream``."""

    def __init__(self, stream: IO[str], json_formatter: logging.Formatter) -> None:
        super().__init__()
        self._stream = stream
        self._json = json_formatter

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = job_event_line(json.loads(self._json.format(record)))
            if line:
                stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
                self._stream.write(f"{stamp}  {line}\n")
                self._stream.flush()
        except Exception:
            self.handleError(record)


class Tee(io.TextIOBase):
    """A text stream writing to several: the log file and the terminal (``--verbose``), or
    the demo's terminal and what it keeps of a command's output. A terminal only if the
    first one is, so progress bars appear only where the first stream is a terminal."""

    def __init__(self, *streams: IO[str]) -> None:
        self._streams = streams

    def write(self, text: str) -> int:
        for stream in self._streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self._streams:
            stream.flush()

    def isatty(self) -> bool:
        return self._streams[0].isatty()


@contextmanager
def route_output(log_path: Path, *, verbose: bool) -> Iterator[IO[str]]:
    """While it lasts: the Lambdas' JSON logs, EMF metrics and the stack's own log records go
    to ``log_path`` (and, with ``verbose``, the terminal too); job events go to the terminal
    as one line each. Yields the terminal, for what the command itself prints."""
    from chalicelib.observability import logger as lambda_logger

    terminal = sys.stdout
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8", buffering=1) as log_file:
        out: IO[str] = Tee(log_file, terminal) if verbose else log_file  # type: ignore[assignment]
        lambda_log = logging.getLogger(LAMBDA_LOGGER)
        json_handler = lambda_logger.registered_handler
        assert isinstance(json_handler, logging.StreamHandler)
        json_formatter = json_handler.formatter or logging.Formatter()
        saved_stream = json_handler.stream
        saved_propagate = lambda_log.propagate
        events = JobEventLines(terminal, json_formatter)
        text = logging.StreamHandler(out)
        text.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        stack_log = logging.getLogger(STACK_LOGGER)
        alerts = logging.StreamHandler(terminal)  # the stand-in's trouble, as it happens
        alerts.setLevel(logging.WARNING)
        alerts.setFormatter(
            logging.Formatter("%(asctime)s  local stack %(levelname)s: %(message)s", "%H:%M:%S")
        )
        json_handler.setStream(out)
        lambda_log.propagate = False
        lambda_log.addHandler(events)
        logging.getLogger().addHandler(text)
        if not verbose:
            stack_log.addHandler(alerts)
        sys.stdout = out  # EMF metrics are print()ed
        try:
            yield terminal
        finally:
            sys.stdout = terminal
            stack_log.removeHandler(alerts)
            logging.getLogger().removeHandler(text)
            lambda_log.removeHandler(events)
            lambda_log.propagate = saved_propagate
            json_handler.setStream(saved_stream)
