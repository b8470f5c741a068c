"""How commands speak: human lines, or one JSON document (``--json``), and the exit codes.

Exit codes a script can rely on: 0 success, 1 the job failed, was partial, rejected or
cancelled (or an operation partly failed), 2 bad usage (unknown job, bad manifest, no
deployment named).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from chalicelib.model import JobStatus

OK = 0
JOB_FAILED = 1
USAGE = 2


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) said in terms of the job: the pipeline is not the command, so
    stopping a command that follows or downloads a job does not stop the job."""

    @classmethod
    def while_following(cls, job_id: str) -> Interrupted:
        return cls(
            f"stopped watching {job_id}; the job goes on in the pipeline: "
            f"`cloudburst watch {job_id}` follows it again, `cloudburst cancel {job_id}` stops it"
        )

    @classmethod
    def while_uploading(cls) -> Interrupted:
        return cls(
            "interrupted while uploading: no job was started (the files already sent are "
            "kept, and submitting again does not send them twice)"
        )


def exit_code_for(status: str) -> int:
    """0 for a job that succeeded or is still going; 1 for any other end."""
    return OK if status in (JobStatus.SUCCEEDED, JobStatus.RUNNING) else JOB_FAILED


class Printer:
    """Writes human text unless ``as_json``; then only :meth:`document` reaches stdout."""

    def __init__(self, as_json: bool, out: TextIO | None = None, err: TextIO | None = None):
        self.as_json = as_json
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._live = ""
        self._live_key: object = None

    def line(self, text: str = "") -> None:
        if not self.as_json:
            self.end_live()
            print(text, file=self.out, flush=True)

    def live(self, text: str, key: object = None) -> None:
        """One line updated in place on a terminal; elsewhere (logs, pipes) printed anew only
        when ``key`` changes, so a clock in the line does not print it every second."""
        if self.as_json or text == self._live:
            return
        if self.out.isatty():
            print("\r" + text.ljust(len(self._live)), end="", file=self.out, flush=True)
        elif key is None or key != self._live_key:
            print(text, file=self.out, flush=True)
        self._live = text
        self._live_key = key

    def end_live(self) -> None:
        if self._live and self.out.isatty():
            print(file=self.out, flush=True)
        self._live = ""
        self._live_key = None

    def note(self, text: str) -> None:
        """A line on stderr, shown even with ``--json`` (stdout keeps one document)."""
        print(text, file=self.err, flush=True)

    def document(self, value: Any) -> None:
        if self.as_json:
            print(json.dumps(value, indent=2, ensure_ascii=False, default=str), file=self.out)

    def error(self, message: str | Sequence[str]) -> None:
        """Every reason at once: ``{"error": summary, "errors": [reason, …]}`` with ``--json``
        (a list a script can iterate), one reason per line on stderr."""
        self.end_live()
        errors = [message] if isinstance(message, str) else list(message)
        summary = errors[0] if len(errors) == 1 else f"{len(errors)} problems"
        if self.as_json:
            document = {"error": summary, "errors": errors}
            print(json.dumps(document, ensure_ascii=False), file=self.out, flush=True)
        if len(errors) == 1:
            print(f"cloudburst: {summary}", file=self.err, flush=True)
        else:
            lines = "".join(f"\n  - {error}" for error in errors)
            print(f"cloudburst: {summary}:{lines}", file=self.err, flush=True)
