"""The webhook signing secret: Secrets Manager in a deployed stage, the environment locally.

Read through powertools Parameters, which caches the value per Lambda container
(``SECRET_MAX_AGE_SECONDS``), so a warm Lambda signs webhooks without a Secrets Manager call
each time, and a rotated secret is picked up within minutes.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters

from chalicelib.settings import LOCAL_STAGE, Settings

SECRET_MAX_AGE_SECONDS = 300


def webhook_secret(settings: Settings) -> str | None:
    """The ``whsec_…`` secret, or None when this stage has no source for one.

    The environment variable counts only in the local stage: a deployed Lambda never takes a
    secret from its (readable) configuration.
    """
    if settings.webhook_secret_arn:
        value = parameters.get_secret(settings.webhook_secret_arn, max_age=SECRET_MAX_AGE_SECONDS)
        return value if isinstance(value, str) else None
    if settings.stage == LOCAL_STAGE:
        return settings.webhook_secret
    return None


class StageSecrets:
    """The :class:`chalicelib.ports.Secrets` of one stage's settings."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def webhook_secret(self) -> str | None:
        return webhook_secret(self._settings)
