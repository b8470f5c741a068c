from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import pricing
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

    storage = (34 - 20) * 0.000111  # the task definition's 34 GiB, 20 of them free
    assert cost == pytest.approx(2 * 0.04048 + 4 * 0.004445 + storage)


def test_storage_above_the_free_20_gb_and_a_public_ipv4_are_billed_by_the_hour():
    rate = fargate_rate("us-east-1", "x86_64", spot=False)
    compute_only = task_cost_usd(1, 2, 3600, rate, storage_gb=20)

    with_storage = task_cost_usd(1, 2, 3600, rate, storage_gb=34)
    with_ip = task_cost_usd(1, 2, 3600, rate, storage_gb=20, public_ipv4=True)

    assert compute_only == pytest.approx(0.04048 + 2 * 0.004445)
    assert with_storage - compute_only == pytest.approx(14 * 0.000111)
    assert with_ip - compute_only == pytest.approx(0.005)
    assert pricing.EPHEMERAL_STORAGE_GIB == 34


def test_arm64_spot_is_priced_on_demand_because_fargate_spot_runs_x86_only():
    assert not pricing.spot_available("arm64")
    assert pricing.spot_available("x86_64")
    assert fargate_rate("eu-west-1", "arm64", spot=True) == fargate_rate(
        "eu-west-1", "arm64", spot=False
    )


def test_a_task_given_a_public_ip_bills_it():
    known = {"pull_started_at": T0, "stopped_at": T0 + timedelta(hours=1)}

    private = pricing.bill_task(usage(**known), T0)
    public = pricing.bill_task(usage(public_ipv4=True, **known), T0)

    assert public.cost_usd - private.cost_usd == pytest.approx(0.005)


def test_arm_is_cheaper_and_spot_cheaper_still():
    x86 = task_cost_usd(1, 2, 600, fargate_rate("us-east-1", "x86_64", spot=False))
    arm = task_cost_usd(1, 2, 600, fargate_rate("us-east-1", "arm64", spot=False))
    spot = task_cost_usd(1, 2, 600, fargate_rate("us-east-1", "x86_64", spot=True))

    assert arm == pytest.approx((0.03238 + 2 * 0.00356 + 14 * 0.000111) / 6)
    assert spot < arm < x86


def test_unknown_region_is_priced_like_us_east_1():
    assert fargate_rate("xx-nowhere-1", "x86_64", False) == fargate_rate(
        "us-east-1", "x86_64", False
    )


def test_compute_profiles_are_the_seed_priorities():
    table = {p: (profile.vcpu, profile.memory_gb) for p, profile in PROFILES.items()}

    assert table == {5: (1, 2), 1: (2, 4), 2: (4, 8), 3: (8, 16), 4: (16, 32)}
    assert (PROFILES[1].cpu_units, PROFILES[1].memory_mib) == ("2048", "4096")


# -- the bill of one task, from what its event says ------------------------------------------


def usage(**known) -> pricing.TaskUsage:
    fields = {
        "profile": pricing.PROFILES[5],
        "region": "us-east-1",
        "architecture": "x86_64",
        "spot": False,
        **known,
    }
    return pricing.TaskUsage(**fields)


def test_a_task_is_billed_from_its_own_size_and_timestamps():
    bill = pricing.bill_task(
        usage(
            cpu_units="2048",
            memory_mib="4096",
            pull_started_at=T0,
            stopped_at=T0 + timedelta(seconds=95.5),
        ),
        now=T0 + timedelta(hours=1),
    )

    assert (bill.billed_seconds, bill.estimated) == (96, False)
    hourly = 2 * 0.04048 + 4 * 0.004445 + 14 * 0.000111  # 14 GiB of storage above the free 20
    assert bill.cost_usd == pytest.approx(hourly * 96 / 3600, abs=1e-8)


def test_missing_size_falls_back_to_the_profile_it_was_launched_with():
    known = {"pull_started_at": T0, "stopped_at": T0 + timedelta(seconds=60)}

    with_size = pricing.bill_task(usage(cpu_units="1024", memory_mib="2048", **known), T0)
    without = pricing.bill_task(usage(**known), T0)

    assert without == with_size
    assert without.estimated is False


def test_a_task_whose_times_are_unknown_is_billed_from_its_launch_and_marked_estimated():
    bill = pricing.bill_task(usage(launched_at=T0), now=T0 + timedelta(seconds=300))

    assert (bill.billed_seconds, bill.estimated) == (300, True)
    assert bill.cost_usd > 0


def test_a_task_that_never_launched_costs_nothing():
    assert pricing.bill_task(usage(), now=T0) == pricing.TaskBill()
