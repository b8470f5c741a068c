"""SQS adapter: the rules' dead-letter queues, read back by the sweeper."""

from __future__ import annotations

from typing import Any

from chalicelib.ports import Message

# Long enough for the sweeper to hand the event to its reaction before another sees it.
_VISIBILITY_SECONDS = 300
_RECEIVE_LIMIT = 10  # ReceiveMessage returns at most 10


class SqsDeadLetters:
    """The :class:`chalicelib.ports.DeadLetters` of the deployment's queues."""

    def __init__(self, client: Any) -> None:
        self._sqs = client

    def receive(self, queue_url: str, limit: int) -> list[Message]:
        messages = self._sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(limit, _RECEIVE_LIMIT),
            VisibilityTimeout=_VISIBILITY_SECONDS,
        ).get("Messages", [])
        return [Message(queue_url, m["ReceiptHandle"], m["Body"]) for m in messages]

    def delete(self, message: Message) -> None:
        self._sqs.delete_message(QueueUrl=message.queue_url, ReceiptHandle=message.receipt)
