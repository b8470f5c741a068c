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
    from botocore.config import Config

    config = Config(
        retries={"mode": "adaptive", "max_attempts": 5}, connect_timeout=5, read_timeout=30
    )
    return session_with_text_timestamps().client(service, config=config)


def session_with_text_timestamps() -> Any:
    """A boto3 session whose responses keep timestamps as the text AWS sent.

    Nothing here reads a response timestamp, and botocore parses each one with dateutil:
    about 0.15 ms apiece, so a 1,000-key LIST page spent more time there than on the wire.
    """
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
    return boto3.session.Session(botocore_session=core)


def reset_clients() -> None:
    """Forget cached clients (tests and the local stack change endpoints between runs)."""
    client.cache_clear()
