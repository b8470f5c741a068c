"""Redriving: events that EventBridge gave up on come back from the rules' dead-letter queues.

An upload whose event never reached its handler (a rule throttled past its retries, a
handler failing past them) would be a job lost without a trace. EventBridge puts such
events on the rule's dead-letter queue, body = the event; the sweeper reads them back here
and hands each to the reaction it was meant for. The cost follows the dead letters, not the
bucket's history.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from chalicelib.dead_letters import unwrap
from chalicelib.observability import logger
from chalicelib.ports import Message, Services

_PER_QUEUE = 50
_BATCH = 10  # ReceiveMessage returns at most 10


@dataclass(frozen=True)
class DeadLetter:
    message: Message
    event: dict[str, Any]


def dead_letters(svc: Services) -> Iterator[DeadLetter]:
    """Events waiting in the dead-letter queues (up to a bound per sweep)."""
    for queue_url in svc.settings.dead_letter_queues:
        taken = 0
        while taken < _PER_QUEUE:
            messages = svc.dead_letters.receive(queue_url, _BATCH)
            if not messages:
                break
            taken += len(messages)
            for message in messages:
                letter = _letter(message)
                if letter is not None:
                    yield letter


def done(svc: Services, letter: DeadLetter) -> None:
    """The event was handled: it leaves its queue."""
    svc.dead_letters.delete(letter.message)


def _letter(message: Message) -> DeadLetter | None:
    try:
        unwrapped = unwrap(json.loads(message.body))  # a Lambda record holds the event
    except ValueError:
        unwrapped = None
    if unwrapped is None:
        logger.error(
            "dead letter is not an event; left in its queue", extra={"queue": message.queue_url}
        )
        return None
    return DeadLetter(message, unwrapped.event)
