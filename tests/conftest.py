"""Fixtures every test folder may use: the sample events of tests/events/, loaded one way."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

EVENTS = Path(__file__).parent / "events"
LoadEvent = Callable[..., dict[str, Any]]


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
