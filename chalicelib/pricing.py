"""Fargate prices and the billing rule, in one place.

Fargate bills per second from the start of the image pull to the task's stop, rounded up
to the second, with a one-minute minimum: (vCPU × vCPU-hour rate + GB × GB-hour rate +
ephemeral storage above 20 GB × storage GB-hour rate) × hours, plus a public IPv4 address
by the hour when the task is given one. On-demand rates are AWS's published Linux rates;
Spot rates move with the market, so the table holds a recent snapshot and reports say the
cost is an estimate. Fargate Spot runs x86_64 only: an arm64 task always runs (and is
priced) on demand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Architecture = Literal["x86_64", "arm64"]
MINIMUM_BILLED_SECONDS = 60


@dataclass(frozen=True)
class Rate:
    vcpu_hour: float
    gb_hour: float


@dataclass(frozen=True)
class ComputeProfile:
    """A seed ``config_priority``: task-level cpu units and memory MiB for RunTask overrides."""

    priority: int
    vcpu: float
    memory_gb: int
    label: str

    @property
    def cpu_units(self) -> str:
        return str(int(self.vcpu * 1024))

    @property
    def memory_mib(self) -> str:
        return str(self.memory_gb * 1024)


PROFILES: dict[int, ComputeProfile] = {
    5: ComputeProfile(5, 1, 2, "economy"),
    1: ComputeProfile(1, 2, 4, "standard"),
    2: ComputeProfile(2, 4, 8, "high"),
    3: ComputeProfile(3, 8, 16, "ultra"),
    4: ComputeProfile(4, 16, 32, "maximum"),
}

_ON_DEMAND: dict[str, dict[Architecture, Rate]] = {
    "us-east-1": {"x86_64": Rate(0.04048, 0.004445), "arm64": Rate(0.03238, 0.00356)},
    "us-east-2": {"x86_64": Rate(0.04048, 0.004445), "arm64": Rate(0.03238, 0.00356)},
    "us-west-2": {"x86_64": Rate(0.04048, 0.004445), "arm64": Rate(0.03238, 0.00356)},
    "eu-west-1": {"x86_64": Rate(0.04048, 0.004445), "arm64": Rate(0.03238, 0.00356)},
    "eu-central-1": {"x86_64": Rate(0.04656, 0.00511), "arm64": Rate(0.03725, 0.00409)},
    "ap-northeast-1": {"x86_64": Rate(0.05056, 0.00553), "arm64": Rate(0.04045, 0.00442)},
    "ap-southeast-1": {"x86_64": Rate(0.05056, 0.00553), "arm64": Rate(0.04045, 0.00442)},
}
# Spot is sold at a discount that floats around 70 % off on-demand.
SPOT_DISCOUNT = 0.70
DEFAULT_REGION = "us-east-1"
# Every task gets this much ephemeral storage (the task definition's EphemeralStorage): the
# worker keeps at most 2 scenes per vCPU on disk (each well under 1 GiB) for the largest
# profile's 16 vCPU, plus the unpacked image (< 1 GiB) and headroom.
EPHEMERAL_STORAGE_GIB = 2 * 16 + 2
FREE_EPHEMERAL_STORAGE_GIB = 20  # included in every Fargate task
STORAGE_GB_HOUR = 0.000111  # per GB above the free 20, us-east-1's published rate
PUBLIC_IPV4_HOUR = 0.005  # each public IPv4 address, in use or not (since February 2024)
SPOT_ARCHITECTURES: frozenset[str] = frozenset({"x86_64"})  # Fargate Spot has no arm64


def spot_available(architecture: str) -> bool:
    """Fargate Spot runs Linux x86_64 tasks only; arm64 ones run on demand."""
    return architecture in SPOT_ARCHITECTURES


def priced_regions() -> frozenset[str]:
    """Regions whose published rates the table holds (others are priced as us-east-1)."""
    return frozenset(_ON_DEMAND)


def fargate_rate(region: str, architecture: Architecture, spot: bool) -> Rate:
    """Rate for a region; unknown regions are priced as us-east-1 (an estimate, not an error).
    Spot asked for an architecture Spot does not run is priced on demand, as it runs."""
    rate = _ON_DEMAND.get(region, _ON_DEMAND[DEFAULT_REGION])[architecture]
    if not spot or not spot_available(architecture):
        return rate
    keep = 1.0 - SPOT_DISCOUNT
    return Rate(rate.vcpu_hour * keep, rate.gb_hour * keep)


def billed_seconds(pull_started_at: datetime | None, stopped_at: datetime | None) -> int:
    """Seconds Fargate bills: none if the image pull never began, else at least a minute."""
    if pull_started_at is None or stopped_at is None:
        return 0
    return billed_for(math.ceil((stopped_at - pull_started_at).total_seconds()))


def billed_for(seconds: float) -> int:
    """Whole seconds billed for a task that ran ``seconds``: rounded up, a minute at least."""
    return max(MINIMUM_BILLED_SECONDS, math.ceil(seconds))


def task_cost_usd(
    vcpu: float,
    memory_gb: float,
    seconds: int,
    rate: Rate,
    *,
    storage_gb: float = EPHEMERAL_STORAGE_GIB,
    public_ipv4: bool = False,
) -> float:
    """One task's bill: compute and memory, storage above the free 20 GB, a public IPv4."""
    hours = seconds / 3600
    compute = vcpu * rate.vcpu_hour + memory_gb * rate.gb_hour
    return (compute + extras_per_hour(storage_gb, public_ipv4)) * hours


def extras_per_hour(storage_gb: float = EPHEMERAL_STORAGE_GIB, public_ipv4: bool = False) -> float:
    """What a task bills by the hour besides vCPU and memory (the same on Spot)."""
    storage = max(0.0, storage_gb - FREE_EPHEMERAL_STORAGE_GIB) * STORAGE_GB_HOUR
    return storage + (PUBLIC_IPV4_HOUR if public_ipv4 else 0.0)


USD_PLACES = 8


def round_usd(usd: float) -> float:
    """The one rounding of money: stored, summed and reported figures all use it."""
    return round(usd, USD_PLACES)


@dataclass(frozen=True)
class TaskBill:
    """What a task cost, and whether a figure had to be estimated (a missing timestamp)."""

    cost_usd: float = 0.0
    billed_seconds: int = 0
    estimated: bool = False


@dataclass(frozen=True)
class TaskUsage:
    """What is known of one task's run; any field may be missing from an event."""

    profile: ComputeProfile
    region: str
    architecture: Architecture
    spot: bool
    cpu_units: str | None = None
    memory_mib: str | None = None
    pull_started_at: datetime | None = None
    stopped_at: datetime | None = None
    launched_at: datetime | None = None  # when we started it: the fallback start
    public_ipv4: bool = False  # the task was given a public IP (billed by the hour)


def bill_task(usage: TaskUsage, now: datetime) -> TaskBill:
    """Fargate's bill for one task, from its own size and timestamps where it gives them.

    Size falls back to the profile the task was launched with (RunTask's overrides, so not an
    estimate). Time runs from the image pull to the stop; a task that ran but whose event lacks
    either end is billed from its launch or to ``now`` and marked estimated. A task that never
    launched costs nothing.
    """
    vcpu = _units(usage.cpu_units) or usage.profile.vcpu
    memory_gb = _units(usage.memory_mib) or usage.profile.memory_gb
    start = usage.pull_started_at or usage.launched_at
    if start is None:
        return TaskBill()
    stop = usage.stopped_at or now
    estimated = usage.pull_started_at is None or usage.stopped_at is None
    seconds = billed_for(max(0.0, (stop - start).total_seconds()))
    rate = fargate_rate(usage.region, usage.architecture, usage.spot)
    cost = round_usd(task_cost_usd(vcpu, memory_gb, seconds, rate, public_ipv4=usage.public_ipv4))
    return TaskBill(cost_usd=cost, billed_seconds=seconds, estimated=estimated)


def _units(value: str | None) -> float:
    """ECS's cpu units or memory MiB (strings in events) as vCPU or GB; 0 when absent."""
    try:
        return int(value or 0) / 1024
    except ValueError:
        return 0.0
