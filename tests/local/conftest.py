from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudburst.local import LocalStack

HERE = Path(__file__).parent


@pytest.fixture
def fake_stack_factory(tmp_path: Path) -> Iterator[Callable[..., LocalStack]]:
    """Start a LocalStack wired to the fake app (no real Lambdas, a configurable worker)."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    started: list[LocalStack] = []

    def start(**kwargs: Any) -> LocalStack:
        kwargs.setdefault("state_dir", tmp_path / "stack")
        stack = LocalStack(port=0, app_module="local_fake_app", **kwargs)
        started.append(stack)
        return stack.start()  # (re)imports the fake app: its RECEIVED starts empty

    yield start
    for stack in started:
        stack.stop()
