"""Assembling: a job with an ``episode`` gets one more batch after its scene batches.

The assembly batch is an ordinary batch of kind ``assembly`` (same task definition, queue,
cap, Spot retry, cancel and cost as a scene batch): its spec is written at intake with the
job's other specs, and its item is queued only when every scene batch has ended with every
scene rendered. The assembly task writes one record (``contracts.episode_record_key``); the
job's report copies it. If a scene failed, the job was cancelled or assembly failed, the
job ends without an episode and its report says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from chalicelib.contracts import (
    BatchSpec,
    EpisodeRecord,
    RenderOptions,
    SceneSpec,
    SceneStatus,
    asset_uri,
    batch_spec_key,
    episode_record_key,
    outputs_prefix,
    results_prefix,
)
from chalicelib.episode import (
    Episode,
    Transition,
    keyframe_reach,
    parse_episode,
    parse_transition,
    seam_transitions,
)
from chalicelib.manifest import Manifest
from chalicelib.model import Batch, BatchStatus, Job, JobStatus
from chalicelib.observability import logger
from chalicelib.ports import Services

_RECORD_LIMIT = 1 << 16  # a record is a few hundred bytes


class Phase(StrEnum):
    """A running job's step, in the status document (``watch`` shows it)."""

    RENDERING = "rendering"
    ASSEMBLING = "assembling"
    ENDED = "ended"


def phase(job: Job, batches: Sequence[Batch]) -> Phase:
    """Where the job is: rendering its scenes, assembling its episode, or ended."""
    if job.is_final:
        return Phase.ENDED
    if any(b.batch_number == job.assembly_batch for b in batches):
        return Phase.ASSEMBLING
    return Phase.RENDERING


def episode_of(manifest: Manifest) -> tuple[Episode, list[Transition]] | None:
    """The manifest's episode and the transition of each seam (validated at parse time)."""
    if manifest.episode is None:
        return None
    spec = parse_episode(manifest.episode)
    overrides = [
        parse_transition(s.transition, s.scene_name) if s.transition is not None else None
        for s in manifest.scenes
    ]
    return spec, seam_transitions(spec, overrides)


def scene_reaches(
    episode: Episode, seams: Sequence[Transition], count: int
) -> list[tuple[int, int]]:
    """Each scene's ``keyframe_reach``: where its transition windows need IDRs."""
    return [
        keyframe_reach(
            seams[i - 1] if i > 0 else None, seams[i] if i < count - 1 else None, episode.pause
        )
        for i in range(count)
    ]


def assembly_spec(
    job_id: str,
    number: int,
    bucket: str,
    manifest_bucket: str,
    manifest: Manifest,
    episode: Episode,
    scenes: Sequence[SceneSpec],
    options: RenderOptions,
    vcpu: float,
) -> BatchSpec:
    """The assembly batch's spec: every scene (its MP4 is ``outputs/<job>/<scene>.mp4``, its
    narration and subtitle the sources), and the episode with its music as an s3:// URI."""
    document = episode.model_dump(mode="json")
    if episode.music is not None:
        document["music"]["path"] = asset_uri(episode.music.path, manifest_bucket)
    return BatchSpec(
        job_id=job_id,
        batch_number=number,
        bucket=bucket,
        outputs_prefix=outputs_prefix(job_id),
        results_prefix=results_prefix(job_id),
        vcpu=vcpu,
        options=options,
        scenes=[
            scene.model_copy(update={"transition": source.transition})
            for scene, source in zip(scenes, manifest.scenes, strict=True)
        ],
        kind="assembly",
        episode=document,
    )


@dataclass(frozen=True)
class Assembly:
    """The episode's fate once every scene batch has ended."""

    queued: Batch | None = None  # the assembly batch just put in the queue
    waiting: bool = False  # its batch has not ended yet: the job goes on
    record: EpisodeRecord | None = None  # the assembled episode
    reason: str | None = None  # why the job has no episode


def assemble_if_due(
    svc: Services, job: Job, batches: Sequence[Batch], scenes: Sequence[dict[str, Any]]
) -> Assembly:
    """Queue the assembly batch when every scene rendered, or say why the episode is not
    made; with its batch ended, read what it made. Called once every scene batch is final."""
    number = job.assembly_batch
    assert number is not None
    batch = next((b for b in batches if b.batch_number == number), None)
    failed = sum(1 for entry in scenes if entry["status"] != SceneStatus.SUCCEEDED)
    if batch is None:
        if job.cancel_reason:
            return Assembly(reason="episode not assembled: the job was cancelled")
        if failed:
            return Assembly(
                reason=f"episode not assembled: {failed} of {len(scenes)} scenes failed"
            )
        queued = Batch(
            job_id=job.job_id,
            batch_number=number,
            status=BatchStatus.PENDING,
            scene_count=0,
            spec_key=batch_spec_key(job.job_id, number),
            queued_at=job.created_at,
            vcpu=max((b.vcpu for b in batches), default=0.0),
        )
        svc.jobs.put_batches([queued], fresh=False)
        logger.info("every scene rendered; episode assembly queued", extra={"batch": number})
        return Assembly(queued=queued, waiting=True)
    if not batch.is_final:
        return Assembly(waiting=True)
    record = read_record(svc, job.job_id)
    if batch.status is BatchStatus.SUCCEEDED and record and record.status == SceneStatus.SUCCEEDED:
        return Assembly(record=record)
    if batch.status is BatchStatus.CANCELLED or job.cancel_reason:
        return Assembly(reason="episode not assembled: the job was cancelled")
    why = (record.error if record else None) or batch.error or batch.stopped_reason
    return Assembly(reason=f"episode not assembled: {why or 'the assembly task did not finish'}")


def read_record(svc: Services, job_id: str) -> EpisodeRecord | None:
    """The assembly task's record, or None when it wrote none (or an unreadable one)."""
    body = svc.documents.read_head(episode_record_key(job_id), _RECORD_LIMIT)
    if body is None:
        return None
    try:
        return EpisodeRecord.model_validate_json(body)
    except ValidationError:
        logger.warning("unreadable episode record", extra={"job_id": job_id})
        return None


def ended_status(status: JobStatus, assembly: Assembly) -> JobStatus:
    """A job whose scenes all rendered but which has no episode ends PARTIAL."""
    if status is JobStatus.SUCCEEDED and assembly.record is None:
        return JobStatus.PARTIAL
    return status
