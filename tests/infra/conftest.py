"""Each stage packaged once per session (``chalice package --merge-template``), in parallel."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from cloudburst.deploy.package import package_in_subprocess

PROJECT = Path(__file__).resolve().parents[2]
STAGES = tuple(json.loads((PROJECT / ".chalice" / "config.json").read_text())["stages"])


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """stage → path of its packaged ``template.json`` (the bundle sits beside it)."""
    root = tmp_path_factory.mktemp("dist")
    workers = min(len(STAGES), os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        paths = pool.map(lambda s: package_in_subprocess(s, root / s, region="eu-west-1"), STAGES)
        return dict(zip(STAGES, paths, strict=True))


@pytest.fixture(scope="session")
def templates(packaged: dict[str, Path]) -> dict[str, dict[str, Any]]:
    return {stage: json.loads(path.read_text()) for stage, path in packaged.items()}
