from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.pricing import PROFILES, billed_seconds, fargate_rate, task_cost_usd

T0 = datetime(2026, 11, 25, 9, 0, 0, tzinfo=UTC)


def test_billing_runs_from_pull_start_to_stop_rounded_up_to_the_second():
    assert billed_seconds(T0, T0 + timedelta(seconds=125, milliseconds=1)) == 126


def test_short_tasks_are_billed_one_minute():
    assert billed_seconds(T0, T0 + timedelta(seconds=7)) == 60


def test_a_task_that_never_pulled_its_image_costs_nothing():
    assert billed_seconds(None, T0) == 0


def test_us_east_1_on_demand_x86_rates_are_the_published_ones():
    rate = fargate_rate("us-east-1", "x86_64", spot=False)

    cost = task_cost_usd(vcpu=2, memory_gb=4, seconds=3600, rate=rate)

    assert cost == pytest.approx(2 * 0.04048 + 4 * 0.004445)


def test_arm_is_cheaper_and_spot_cheaper_still():
    x86 = task_cost_usd(1, 2, 600, fargate_rate("us-east-1", "x86_64", spot=False))
    arm = task_cost_usd(1, 2, 600, fargate_rate("us-east-1", "arm64", spot=False))
    spot = task_cost_usd(1, 2, 600, fargate_rate("us-east-1", "x86_64", spot=True))

    assert arm == pytest.approx((0.03238 + 2 * 0.00356) / 6)
    assert spot < arm < x86


def test_unknown_region_is_priced_like_us_east_1():
    assert fargate_rate("xx-nowhere-1", "x86_64", False) == fargate_rate(
        "us-east-1", "x86_64", False
    )


def test_compute_profiles_are_the_seed_priorities():
    table = {p: (profile.vcpu, profile.memory_gb) for p, profile in PROFILES.items()}

    assert table == {5: (1, 2), 1: (2, 4), 2: (4, 8), 3: (8, 16), 4: (16, 32)}
    assert (PROFILES[1].cpu_units, PROFILES[1].memory_mib) == ("2048", "4096")
