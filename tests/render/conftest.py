"""Session-wide test media for the renderer tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from render_media import make_picture, make_tone


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def picture(media: Path) -> Path:
    return make_picture(media / "slide.png", 640, 360)


@pytest.fixture(scope="session")
def tone(media: Path) -> Path:
    return make_tone(media / "narration.mp3", 1.5)
