"""The one place boto3 clients are made.

Clients are created lazily and cached per service so an endpoint set in the environment
(``AWS_ENDPOINT_URL`` for the local stack) wins, and boto3 is imported on first use so a
cold start that rejects an event early never pays for it.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def client(service: str) -> Any:
    """A cached boto3 client; boto3 reads region and endpoint overrides from the environment."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "adaptive", "max_attempts": 5}, connect_timeout=5, read_timeout=30
    )
    return boto3.session.Session().client(service, config=config)


def reset_clients() -> None:
    """Forget cached clients (tests and the local stack change endpoints between runs)."""
    client.cache_clear()
