"""One deployment's S3 (and, for task commands, ECS) clients, made once and only when used.

The deployment comes from :func:`cloudburst.stage.resolve` — the environment that
``cloudburst local up`` prints, or ``--stage S``'s stack outputs.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from cloudburst.stage import Deployment, StageError, resolve


class NoCluster(StageError):
    """Task commands need the deployment's ECS cluster, and nothing names it."""


@dataclass
class Connection:
    deployment: Deployment
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def bucket(self) -> str:
        return self.deployment.bucket

    @property
    def region(self) -> str:
        return self.deployment.region

    @property
    def is_local_stack(self) -> bool:
        """Whether the endpoint is on this machine: the local stack, whose pipeline delivers
        webhooks to loopback receivers (its own included) as no deployed stage does."""
        from urllib.parse import urlsplit

        endpoint = self.deployment.endpoint_url
        if not endpoint:
            return False
        host = urlsplit(endpoint).hostname or ""
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    @property
    def s3(self) -> Any:
        return self._client("s3")

    @property
    def ecs(self) -> Any:
        return self._client("ecs")

    @property
    def cluster(self) -> str:
        if not self.deployment.cluster:
            raise NoCluster(
                "no ECS cluster named for this deployment: pass --stage S, or export "
                "CLOUDBURST_CLUSTER (the local stack's is `cloudburst`)"
            )
        return self.deployment.cluster

    def _client(self, service: str) -> Any:
        made = self._clients.get(service)
        if made is None:
            import boto3
            from botocore.config import Config

            made = boto3.client(
                service,
                region_name=self.deployment.region,
                endpoint_url=self.deployment.endpoint_url,
                config=Config(retries={"mode": "adaptive", "max_attempts": 5}),
            )
            self._clients[service] = made
        return made


def connect(stage: str | None = None) -> Connection:
    """The deployment ``stage`` names (or the environment's); raises StageError if none."""
    return Connection(resolve(stage))
