"""How boto3 clients are made: one session, adaptive retries, timestamps left as text.

``chalicelib.bootstrap`` makes every client the Lambdas use through :func:`make_client`; boto3
reads region and endpoint overrides (``AWS_ENDPOINT_URL`` for the local stack) from the
environment when the client is made.
"""

from __future__ import annotations

from typing import Any


def make_client(session: Any, service: str) -> Any:
    """A client with adaptive retries and bounded timeouts."""
    from botocore.config import Config

    config = Config(
        retries={"mode": "adaptive", "max_attempts": 5}, connect_timeout=5, read_timeout=30
    )
    return session.client(service, config=config)


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
