"""Helpers for the manifest tests (a uniquely named module: several conftest.py exist)."""

import pytest

from chalicelib.manifest import ManifestError, parse_manifest


def errors_of(data: bytes) -> list[str]:
    """The reasons ``parse_manifest`` gives for refusing ``data`` (the test fails if it accepts)."""
    with pytest.raises(ManifestError) as caught:
        parse_manifest(data)
    return caught.value.errors
