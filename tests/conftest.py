"""Fixtures every test folder may use (the sample events of tests/events/, loaded one way), and
the layer each folder's tests belong to, as a marker: ``pytest -m usecase`` runs one layer."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).parent
EVENTS = TESTS / "events"
LoadEvent = Callable[..., dict[str, Any]]

# The suite's layers, by folder (README "Testing"): pure functions; the use cases on the
# in-memory twins; adapters and components against moto, the local stack's pieces or real
# ffmpeg; the whole local stack end to end; the worker image under podman.
LAYERS = {
    "unit": "unit",
    "render": "unit",
    "episode": "unit",
    "lambdas": "usecase",
    "adapters": "adapter",
    "client": "adapter",
    "infra": "adapter",
    "local": "adapter",
    "worker": "adapter",
    "e2e": "e2e",
    "image": "image",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test gets its folder's layer unless its module names one itself (a whole-stack
    test among a folder's component tests); a folder with no layer stops the run."""
    for item in items:
        folder = item.path.relative_to(TESTS).parts[0]
        if folder not in LAYERS:
            raise pytest.UsageError(f"tests/{folder} has no layer: add it to LAYERS")
        if not any(item.get_closest_marker(name) for name in set(LAYERS.values())):
            item.add_marker(getattr(pytest.mark, LAYERS[folder]))


def _merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` laid over it, nested dicts merged; a None value deletes."""
    result = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merged(result[key], value)
        else:
            result[key] = value
    return result


@pytest.fixture(scope="session")
def load_event() -> LoadEvent:
    """``load_event("ecs_task_stopped_fargate", detail={"stopCode": None})``: a documented
    sample event (tests/events/<name>.json) with changes laid over it."""

    def load(name: str, **changes: Any) -> dict[str, Any]:
        document = json.loads((EVENTS / f"{name}.json").read_text())
        return _merged(document, changes)

    return load
