"""moto's state on disk, so a restarted local stack still has its jobs, objects and queues.

moto keeps everything in memory. Its backends pickle — S3 keys carry their bytes through
their own ``__getstate__`` — except for the locks some objects hold, which are made anew on
load (no request runs while state is saved or loaded). moto's recorder replays requests
instead, which would give every object a new version id, and a version id names its job;
its ``/moto-api/data.json`` is a dump that cannot be loaded back. Runs in the moto process
(:mod:`cloudburst.local.motoserver`); the file is this machine's own, written by this code.
"""

from __future__ import annotations

import copyreg
import io
import os
import pickle
import threading
import time
from pathlib import Path
from typing import Any

# What the pipeline keeps state in. EC2 is left out: the default VPC comes back by itself
# and the bootstrap finds or makes its security group again.
SERVICES = ("s3", "dynamodb", "sqs", "events", "ecs")
FORMAT = 1


class StateError(RuntimeError):
    """The saved state cannot be loaded; the message says how to start clean."""


def save(path: Path) -> int:
    """Write every backend of :data:`SERVICES` to ``path`` atomically; the bytes written."""
    from moto import __version__ as moto_version

    for attempt in range(10):
        try:
            state = {name: dict(_backends(name)) for name in SERVICES}
            data = _dumps({"format": FORMAT, "moto": moto_version, "state": state})
            break
        except RuntimeError:  # a request changed a dict while it was copied: take it again
            if attempt == 9:
                raise
            time.sleep(0.05)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)
    return len(data)


def load(path: Path) -> bool:
    """Put the saved backends in place of moto's fresh ones; False when nothing was saved."""
    from moto import __version__ as moto_version

    if not path.is_file():
        return False
    hint = f"`cloudburst local reset` (or deleting {path}) starts clean"
    try:
        saved = pickle.loads(path.read_bytes())  # noqa: S301 (see the module doc)
    except Exception as exc:
        message = f"the local stack's saved state {path} is unreadable ({exc}); {hint}"
        raise StateError(message) from None
    if saved.get("format") != FORMAT or saved.get("moto") != moto_version:
        raise StateError(
            f"the local stack's saved state {path} was written by moto {saved.get('moto')}"
            f" and this is moto {moto_version}; {hint}"
        )
    for name, accounts in saved["state"].items():
        backends = _backends(name)
        for account, regions in accounts.items():
            backends[account] = regions
    return True


def _backends(name: str) -> Any:
    from moto.backends import get_backend

    return get_backend(name)  # type: ignore[call-overload]


def _dumps(value: object) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    table = copyreg.dispatch_table.copy()
    table[type(threading.Lock())] = lambda _: (threading.Lock, ())
    table[type(threading.RLock())] = lambda _: (threading.RLock, ())
    pickler.dispatch_table = table
    pickler.dump(value)
    return buffer.getvalue()
