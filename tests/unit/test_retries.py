"""Which stopped tasks get their unreported scenes run again."""

from __future__ import annotations

import pytest

from chalicelib.retries import RETRYABLE_STOP_CODES, should_retry


@pytest.mark.parametrize("code", sorted(RETRYABLE_STOP_CODES))
def test_capacity_stops_with_unreported_scenes_are_retried(code: str) -> None:
    assert should_retry(code, attempt=1, max_attempts=3, unreported=1)


@pytest.mark.parametrize(
    "code", ["EssentialContainerExited", "UserInitiated", "ServiceSchedulerInitiated", None]
)
def test_stops_about_the_work_itself_are_not(code: str | None) -> None:
    assert not should_retry(code, attempt=1, max_attempts=3, unreported=5)


def test_nothing_unreported_means_nothing_to_retry() -> None:
    assert not should_retry("SpotInterruption", attempt=1, max_attempts=3, unreported=0)


def test_the_last_attempt_is_not_retried() -> None:
    assert should_retry("SpotInterruption", attempt=2, max_attempts=3, unreported=1)
    assert not should_retry("SpotInterruption", attempt=3, max_attempts=3, unreported=1)
