"""The embedded local stack: moto on 127.0.0.1, the app's own event patterns, a Fargate stand-in.

Code paths are the production ones; only the endpoints differ (README, "The embedded local
stack").
"""

from cloudburst.local.fargate import SpotInterruptions
from cloudburst.local.receiver import Delivery, WebhookReceiver
from cloudburst.local.stack import LocalStack

__all__ = ["Delivery", "LocalStack", "SpotInterruptions", "WebhookReceiver"]
