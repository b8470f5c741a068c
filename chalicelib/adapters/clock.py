"""The system clock, the :class:`chalicelib.ports.Clock` of the Lambdas."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
