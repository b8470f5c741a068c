"""``estimate``: the batch plan, wall time and cost of a job per compute profile, before upload.

Pure arithmetic over what the repository measured and decided:
- the plan is :func:`chalicelib.planner.plan_batches`, the pipeline's own;
- each scene's render time on one vCPU is its narration length × the CPU seconds per
  second of video that ``bench/results/render.json`` measured for its mode (plain, zoom,
  subtitles, zoom + subtitles; portrait scaled by the portrait/landscape ratio); a task
  renders as many scenes at once as it has vCPUs, single-threaded, as the worker does;
- every task first pays a start-up (image pull and container start), which Fargate bills,
  as ``bench/image.py`` measured it for this image (``bench/results/image.json``);
- the bill is :mod:`chalicelib.pricing`'s rule (per second from pull start, one-minute
  minimum), x86_64 list prices in the deployment's region, Spot at its snapshot discount;
- all batches run at once (no deployment-wide task cap in the way);
- a job with an episode runs one assembly task after them, at the seconds of assembly per
  second of episode that ``bench/results/episode.json`` measured.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from chalicelib.contracts import render_slots
from chalicelib.planner import plan_batches
from chalicelib.pricing import (
    EPHEMERAL_STORAGE_GIB,
    FREE_EPHEMERAL_STORAGE_GIB,
    PROFILES,
    PUBLIC_IPV4_HOUR,
    SPOT_DISCOUNT,
    STORAGE_GB_HOUR,
    billed_for,
    fargate_rate,
    task_cost_usd,
)
from cloudburst.client.narration import narration_seconds
from cloudburst.client.source import JobSource, SourceError

BENCH_RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "render.json"
EPISODE_BENCH = BENCH_RESULTS.with_name("episode.json")
BENCH_SCENE_SECONDS = 10.0  # every bench scene is 10 s long (render.json "notes")
IMAGE_RESULTS = BENCH_RESULTS.with_name("image.json")
DEFAULT_STARTUP_SECONDS = 30.0  # only when the image was never measured: the earlier tools' figure
MODES = ("plain", "zoom", "subtitles", "full")


@dataclass(frozen=True)
class RenderSpeeds:
    """vCPU-seconds to render one second of video, per mode; ``portrait`` multiplies them."""

    per_second: dict[str, float]
    portrait: float
    source: str

    @classmethod
    def from_bench(cls, path: Path = BENCH_RESULTS) -> RenderSpeeds:
        modes = json.loads(path.read_text("utf-8"))["modes"]
        per_second = {mode: modes[mode]["cpu_s"] / BENCH_SCENE_SECONDS for mode in MODES}
        portrait = modes["portrait_full"]["cpu_s"] / modes["full"]["cpu_s"]
        return cls(per_second, portrait, str(path.name))

    def render_seconds(self, scene: SceneWork) -> float:
        rate = self.per_second[scene.mode] * (self.portrait if scene.portrait else 1.0)
        return scene.seconds * rate


@dataclass(frozen=True)
class SceneWork:
    name: str
    seconds: float
    mode: str  # one of MODES
    portrait: bool = False


@dataclass(frozen=True)
class ProfileEstimate:
    config_priority: int
    label: str
    vcpu: float
    memory_gb: int
    spot: bool
    wall_seconds: float
    billed_seconds: int
    cost_usd: float
    chosen: bool


@dataclass(frozen=True)
class Estimate:
    scenes: int
    narration_seconds: float
    batch_sizes: list[int]
    profiles: list[ProfileEstimate]
    assumptions: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def scene_mode(moves: bool, subtitles: bool) -> str:
    if moves and subtitles:
        return "full"
    return "zoom" if moves else ("subtitles" if subtitles else "plain")


def estimate_job(
    scenes: Sequence[SceneWork],
    *,
    scenes_per_batch: int = 10,
    max_parallel_tasks: int = 10,
    min_scenes_per_batch: int = 5,
    region: str = "us-east-1",
    speeds: RenderSpeeds,
    startup_seconds: float | None = None,
    chosen_priority: int = 1,
    chosen_spot: bool = False,
    public_ipv4: bool = False,
    assembly_per_second: float | None = None,
) -> Estimate:
    """Wall time and cost of the job on every compute profile, on-demand and Spot;
    ``assembly_per_second`` (an episode): the assembly task's seconds per episode second."""
    startup_seconds = measured_startup_seconds() if startup_seconds is None else startup_seconds
    planned = plan_batches(scenes, scenes_per_batch, max_parallel_tasks, min_scenes_per_batch)
    batches = [[speeds.render_seconds(s) for s in batch] for batch in planned]
    episode_seconds = sum(s.seconds for s in scenes)
    rows: list[ProfileEstimate] = []
    for priority, profile in sorted(PROFILES.items(), key=lambda item: item[1].vcpu):
        slots = render_slots(profile.vcpu)
        walls = [startup_seconds + makespan(batch, slots) for batch in batches]
        billed = [billed_for(wall) for wall in walls]
        if assembly_per_second is not None:  # one more task, after the last batch
            assembly = startup_seconds + episode_seconds * assembly_per_second
            walls = [max(walls) + assembly]
            billed.append(billed_for(assembly))
        for spot in (False, True):
            rate = fargate_rate(region, "x86_64", spot)
            cost = sum(
                task_cost_usd(profile.vcpu, profile.memory_gb, b, rate, public_ipv4=public_ipv4)
                for b in billed
            )
            rows.append(
                ProfileEstimate(
                    config_priority=priority,
                    label=profile.label,
                    vcpu=profile.vcpu,
                    memory_gb=profile.memory_gb,
                    spot=spot,
                    wall_seconds=round(max(walls), 1),
                    billed_seconds=sum(billed),
                    cost_usd=round(cost, 6),
                    chosen=(priority, spot) == (chosen_priority, chosen_spot),
                )
            )
    assumptions = [
        f"render speed per mode from {speeds.source}: CPU seconds per second of video "
        + ", ".join(f"{m} {speeds.per_second[m]:.2f}" for m in MODES)
        + f"; portrait ×{speeds.portrait:.2f}; measured on the bench machine, "
        "Fargate vCPUs may be slower",
        "a task renders as many scenes at once as it has vCPUs (one thread each)",
        f"every task starts in {startup_seconds:.0f} s (image pull and container start, "
        f"from {IMAGE_RESULTS.name} when measured), billed like the rest",
        "Fargate bills per second from image pull start, at least 60 s per task "
        "(chalicelib.pricing)",
        f"{region} x86_64 list prices; Spot at {SPOT_DISCOUNT:.0%} off, which moves with "
        "the market, and Spot tasks may be interrupted and retried",
        f"each task's {EPHEMERAL_STORAGE_GIB} GiB of ephemeral storage billed above the free "
        f"{FREE_EPHEMERAL_STORAGE_GIB} GiB at ${STORAGE_GB_HOUR} per GB-hour; "
        + (
            f"a public IPv4 address per task at ${PUBLIC_IPV4_HOUR} an hour"
            if public_ipv4
            else "no public IPv4 address (a stage whose tasks get one adds "
            f"${PUBLIC_IPV4_HOUR} per task-hour)"
        ),
        "all batches run at once (no deployment-wide task cap reached); uploads not counted",
    ]
    if assembly_per_second is not None:
        assumptions.append(
            f"the episode: one assembly task after the last batch, {assembly_per_second:.2f} s "
            f"per second of episode ({EPISODE_BENCH.name}: its CPU seconds, as on one vCPU) "
            "plus its start-up"
        )
    return Estimate(
        scenes=len(scenes),
        narration_seconds=round(sum(s.seconds for s in scenes), 2),
        batch_sizes=[len(batch) for batch in planned],
        profiles=rows,
        assumptions=assumptions,
    )


def assembly_rate(path: Path = EPISODE_BENCH) -> float:
    """Seconds of assembly per second of episode from the episode bench: its CPU seconds when
    recorded (the bench machine is shared, so its wall time is inflated; CPU seconds are what
    one vCPU would take), else its wall seconds."""
    measured = json.loads(path.read_text("utf-8"))
    seconds = measured.get("assembly_cpu_s", measured["assembly_s"])
    return float(seconds) / float(measured["episode_s"])


def makespan(render_seconds: Sequence[float], slots: int) -> float:
    """When the last scene ends, each scene in batch order going to the first free slot."""
    free = [0.0] * max(1, slots)
    for seconds in render_seconds:
        heapq.heappush(free, heapq.heappop(free) + seconds)
    return max(free)


def scene_work(source: JobSource, remote: Mapping[str, Path] | None = None) -> list[SceneWork]:
    """Each scene's narration length (read locally) and render mode; an ``s3://`` narration
    is read from ``remote`` ({uri: downloaded copy}, :func:`remote_narrations`)."""
    document = source.document
    scenes = document.get("scenes")
    if not isinstance(scenes, list) or not scenes:
        raise EstimateError(["a manifest needs a non-empty 'scenes' list"])
    zoom = document.get("enable_zoom", True) is not False
    portrait = document.get("is_portrait") is True
    work: list[SceneWork] = []
    errors: list[str] = []
    for index, scene in enumerate(scenes):
        name = str(scene.get("scene_name") or f"scenes[{index}]")
        audio = scene.get("audio_path")
        try:
            local = source.local_path(audio) if isinstance(audio, str) and audio else None
        except SourceError as exc:
            errors.append(f"scene {name!r}: audio_path {exc}")
            continue
        if local is None and isinstance(audio, str):
            local = (remote or {}).get(audio)
        if local is None:
            errors.append(f"scene {name!r}: audio_path {audio!r} is not a local file")
            continue
        try:
            seconds = narration_seconds(local)
        except ValueError as exc:
            errors.append(f"scene {name!r}: {exc}")
            continue
        effect = scene.get("effect")
        moves = zoom if effect is None else effect != "none"
        work.append(
            SceneWork(name, seconds, scene_mode(moves, bool(scene.get("subtitle_path"))), portrait)
        )
    if errors:
        raise EstimateError(errors)
    return work


def remote_narrations(source: JobSource) -> list[str]:
    """The ``s3://`` narrations of ``source``, each once, which ``estimate`` downloads to read."""
    return list(
        dict.fromkeys(
            path
            for _, field, path in source.asset_references()
            if field == "audio_path" and path.startswith("s3://")
        )
    )


class EstimateError(ValueError):
    """Some scenes cannot be estimated; ``errors`` name them."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def measured_startup_seconds(path: Path | None = None) -> float:
    """A task's billed start-up as bench/image.py measured it for this image (its pull at
    the bench's reference bandwidth plus the container's start); 30 s if never measured."""
    try:
        figures = json.loads((path or IMAGE_RESULTS).read_text("utf-8"))
        return float(figures["task_start_seconds"]["estimate"])
    except (OSError, KeyError, TypeError, ValueError):
        return DEFAULT_STARTUP_SECONDS
