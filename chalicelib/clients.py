"""The one place boto3 clients are made.

Clients are created lazily and cached per service so an endpoint set in the environment
(``AWS_ENDPOINT_URL`` for the local stack) wins, and Lambda cold starts pay only for the
clients a handler actually uses.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 5}, connect_timeout=5, read_timeout=30
)


@cache
def client(service: str) -> Any:
    """A cached boto3 client; boto3 reads region and endpoint overrides from the environment."""
    return boto3.session.Session().client(service, config=_CONFIG)


def reset_clients() -> None:
    """Forget cached clients (tests and the local stack change endpoints between runs)."""
    client.cache_clear()
