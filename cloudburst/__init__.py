"""CloudBurst's user side: the ``cloudburst`` command, the Python API, the demo and the
embedded local stack.

The earlier tools' calls are importable from here::

    from cloudburst import execute_parallel_batches, scan_and_test_folder
    from cloudburst import list_running_tasks, cleanup_all_tasks

They are loaded on first use, so ``import cloudburst`` costs nothing. Nothing here runs in
Lambda; the Lambda code lives in ``app.py`` and ``chalicelib/``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "cleanup_all_tasks",
    "execute_parallel_batches",
    "list_running_tasks",
    "scan_and_test_folder",
]
_API = frozenset(__all__[1:])

if TYPE_CHECKING:
    from cloudburst.client.api import (
        cleanup_all_tasks,
        execute_parallel_batches,
        list_running_tasks,
        scan_and_test_folder,
    )


def __getattr__(name: str) -> Any:
    if name in _API:
        from cloudburst.client import api

        return getattr(api, name)
    raise AttributeError(f"module 'cloudburst' has no attribute {name!r}")
