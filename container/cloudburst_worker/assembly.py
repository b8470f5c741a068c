"""Runs an assembly batch: the job's scenes → its episode (issue 20).

Downloads each scene's MP4, its source narration and subtitle and the music, calls
:func:`assemble_episode`, uploads the sidecars and the episode's poster, the MP4 last, then
the record (``contracts.episode_record_key``) the completion Lambda reads. An episode MP4 in
S3 is therefore whole, and a record saying ``succeeded`` means every file is there. A retried
task whose predecessor wrote a ``succeeded`` record does nothing again.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from chalicelib.contracts import (
    BatchSpec,
    EpisodeRecord,
    SceneSpec,
    SceneStatus,
    episode_record_key,
    render_slots,
)
from chalicelib.episode import EpisodeError, parse_episode, parse_transition
from cloudburst_worker.assets import TRANSFER_CONFIG, AssetCache, AssetError, S3Client
from cloudburst_worker.episode import EpisodeFailed, SceneInput, assemble_episode
from cloudburst_worker.log import logger

_CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".srt": "application/x-subrip",
    ".vtt": "text/vtt",
    ".jpg": "image/jpeg",
}


def run_assembly(spec: BatchSpec, s3: S3Client, workdir: Path) -> int:
    """Assemble ``spec``'s episode and record the outcome; the exit code (0: assembled)."""
    started = time.monotonic()
    key = episode_record_key(spec.job_id)
    previous = _previous(spec, s3, key)
    if previous is not None and previous.status == SceneStatus.SUCCEEDED:
        logger.info("episode already assembled by an earlier task", extra={"key": previous.key})
        return 0
    try:
        record = _assemble(spec, s3, workdir)
    except (EpisodeFailed, EpisodeError, AssetError) as error:
        record = _record(spec, SceneStatus.FAILED, error=str(error))
    except (ClientError, BotoCoreError, OSError) as error:
        record = _record(spec, SceneStatus.FAILED, error=f"episode upload failed: {error}")
    record = record.model_copy(update={"assembly_seconds": round(time.monotonic() - started, 3)})
    s3.put_object(
        Bucket=spec.bucket,
        Key=key,
        Body=record.model_dump_json().encode(),
        ContentType="application/json",
    )
    fields = record.model_dump(mode="json", exclude={"job_id", "attempt"})
    if record.status == SceneStatus.SUCCEEDED:
        logger.info("episode assembled", extra=fields)
        return 0
    logger.warning("episode not assembled", extra=fields)
    return 1


def _assemble(spec: BatchSpec, s3: S3Client, workdir: Path) -> EpisodeRecord:
    if spec.episode is None:
        raise EpisodeFailed("the assembly spec has no episode")
    episode = parse_episode(spec.episode)
    music_uri = episode.music.path if episode.music is not None else None
    roles = [_roles(spec, scene, episode.subtitles) for scene in spec.scenes]
    uris = [uri for scene in roles for uri in scene.values()] + ([music_uri] if music_uri else [])
    cache = AssetCache(s3, workdir / "assets", uris, spec.asset_versions)
    with ThreadPoolExecutor(4, thread_name_prefix="download") as pool:
        downloaded = list(pool.map(lambda r: _fetch(cache, r), roles))
        music = pool.submit(cache.acquire, music_uri).result() if music_uri else None
    scenes = [
        SceneInput(
            name=scene.scene_name,
            video=paths["video"],
            narration=paths["audio"],
            subtitle=paths.get("subtitle"),
            transition=parse_transition(scene.transition, f"scene {scene.scene_name!r}")
            if scene.transition is not None
            else None,
        )
        for scene, paths in zip(spec.scenes, downloaded, strict=True)
    ]
    result = assemble_episode(
        episode, scenes, workdir / "episode", music_file=music, threads=render_slots(spec.vcpu)
    )
    keys = {}
    for path in [*result.subtitles, result.poster, result.path]:  # the MP4 last
        keys[path.suffix] = f"{spec.outputs_prefix}{path.name}"
        s3.upload_file(
            str(path), spec.bucket, keys[path.suffix],
            ExtraArgs={"ContentType": _CONTENT_TYPES.get(path.suffix, "application/octet-stream")},
            Config=TRANSFER_CONFIG,
        )  # fmt: skip
    return _record(
        spec,
        SceneStatus.SUCCEEDED,
        key=keys[".mp4"],
        duration=round(result.duration, 3),
        bytes=result.bytes,
        loudness_lufs=round(result.loudness_lufs, 2),
        true_peak_db=round(result.true_peak_db, 2),
        seams_reencoded=result.seams_reencoded,
        subtitles_keys=[keys[p.suffix] for p in result.subtitles],
        poster_key=keys[".jpg"],
    )


def _roles(spec: BatchSpec, scene: SceneSpec, subtitles: bool) -> dict[str, str]:
    roles = {
        "video": f"s3://{spec.bucket}/{spec.outputs_prefix}{scene.scene_name}.mp4",
        "audio": scene.audio_uri,
    }
    if subtitles and scene.subtitle_uri:
        roles["subtitle"] = scene.subtitle_uri
    return roles


def _fetch(cache: AssetCache, roles: dict[str, str]) -> dict[str, Path]:
    return {role: cache.acquire(uri) for role, uri in roles.items()}


def _previous(spec: BatchSpec, s3: S3Client, key: str) -> EpisodeRecord | None:
    try:
        body = s3.get_object(Bucket=spec.bucket, Key=key)["Body"].read()
        return EpisodeRecord.model_validate_json(body)
    except (ClientError, BotoCoreError, ValidationError):
        return None


def _record(spec: BatchSpec, status: SceneStatus, **fields: object) -> EpisodeRecord:
    return EpisodeRecord.model_validate(
        {"job_id": spec.job_id, "attempt": spec.attempt, "status": status, **fields}
    )
