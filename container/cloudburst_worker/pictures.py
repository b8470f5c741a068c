"""Posters and the contact sheet: pictures people look at instead of reading.

Every rendered scene gets ``outputs/<job>/posters/<scene>.jpg``, uploaded after its MP4 and
before its record. The contact sheet needs every scene reported, and batches end in any
order, so each batch, once its own records are written, reads the job's records: the one
that finds them all makes the sheet. S3 reads its writes, so of two batches ending together
at least the later reader sees both; both making it writes the same picture twice. No extra
task runs and no batch waits for another. A scene that failed has no tile.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from chalicelib.contracts import BatchSpec, SceneResult, SceneStatus
from cloudburst_worker.assets import S3Client
from cloudburst_worker.episode import commands, contact_sheet
from cloudburst_worker.episode.posters import POSTER_AT
from cloudburst_worker.log import logger
from cloudburst_worker.render.ffmpeg import FfmpegError, run_ffmpeg

_READERS = 8


def poster_key(spec: BatchSpec, scene_name: str) -> str:
    """Equals ``contracts.poster_key`` for planner-made specs."""
    return f"{spec.outputs_prefix}posters/{scene_name}.jpg"


def sheet_key(spec: BatchSpec) -> str:
    """Equals ``contracts.contact_sheet_key`` for planner-made specs."""
    return f"{spec.outputs_prefix}contact_sheet.jpg"


def upload_poster(spec: BatchSpec, s3: S3Client, scene_name: str, mp4: Path) -> bool:
    """The scene's poster (a frame ``POSTER_AT`` of the way in) from its local MP4, in S3;
    False (logged) when it could not be made: a poster never fails or stops its scene."""
    target = mp4.with_name(f"{mp4.stem}.poster.jpg")
    try:
        seconds = _duration(mp4) * POSTER_AT
        run_ffmpeg(commands.poster_args(mp4, seconds, target), timeout=120)
        s3.upload_file(
            str(target), spec.bucket, poster_key(spec, scene_name),
            ExtraArgs={"ContentType": "image/jpeg"},
        )  # fmt: skip
        return True
    except Exception as error:  # best effort: a damaged file or a bug must not cost the scene
        logger.warning("poster not made", extra={"scene_name": scene_name, "error": str(error)})
        return False
    finally:
        target.unlink(missing_ok=True)


def _duration(mp4: Path) -> float:
    """The MP4's duration as its container says (PyAV refuses a file that is no MP4)."""
    import av

    with av.open(str(mp4)) as container:
        return float(container.duration or 0) / av.time_base


def ensure_poster(spec: BatchSpec, s3: S3Client, scene_name: str, mp4_key: str, work: Path) -> None:
    """A reused scene's poster, made from its MP4 in S3 when an earlier task left none."""
    try:
        s3.head_object(Bucket=spec.bucket, Key=poster_key(spec, scene_name))
        return
    except (ClientError, BotoCoreError):
        pass
    local = work / "reused" / f"{scene_name}.mp4"
    try:
        local.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(spec.bucket, mp4_key, str(local))
        upload_poster(spec, s3, scene_name, local)
    except (ClientError, BotoCoreError, OSError) as error:
        logger.warning("poster not made", extra={"scene_name": scene_name, "error": str(error)})
    finally:
        local.unlink(missing_ok=True)


def sheet_if_complete(spec: BatchSpec, s3: S3Client, work: Path) -> bool:
    """Make the job's contact sheet when every scene of it is reported; True when made."""
    names = spec.sheet_scenes
    if not names:
        return False
    mine = {scene.scene_name for scene in spec.scenes}
    order = [n for n in names if n not in mine] + [n for n in names if n in mine]
    records: dict[str, SceneResult] = {}
    with ThreadPoolExecutor(_READERS) as pool:
        for start in range(0, len(order), _READERS):  # stop at the first batch still running
            chunk = order[start : start + _READERS]
            found = list(pool.map(lambda n: _record(spec, s3, n), chunk))
            if any(record is None for record in found):
                return False
            records.update({n: r for n, r in zip(chunk, found, strict=True) if r is not None})
        done = [n for n in names if records[n].status == SceneStatus.SUCCEEDED]
        work.mkdir(parents=True, exist_ok=True)
        targets = [work / "posters" / f"{index}.jpg" for index in range(len(done))]
        pictures = list(pool.map(lambda n, t: _download_poster(spec, s3, n, t), done, targets))
    tiles = [(n, p) for n, p in zip(done, pictures, strict=True) if p is not None]
    if not tiles:
        return False
    output = work / "contact_sheet.jpg"
    try:
        contact_sheet(
            [p for _, p in tiles],
            [n for n, _ in tiles],
            [records[n].duration_seconds for n, _ in tiles],
            output,
        )
        s3.upload_file(
            str(output), spec.bucket, sheet_key(spec), ExtraArgs={"ContentType": "image/jpeg"}
        )
    except (FfmpegError, ClientError, BotoCoreError, OSError, ValueError) as error:
        logger.warning("contact sheet not made", extra={"error": str(error)})
        return False
    logger.info("contact sheet made", extra={"tiles": len(tiles), "key": sheet_key(spec)})
    return True


def _record(spec: BatchSpec, s3: S3Client, name: str) -> SceneResult | None:
    try:
        body = s3.get_object(Bucket=spec.bucket, Key=f"{spec.results_prefix}{name}.json")
        return SceneResult.model_validate_json(body["Body"].read())
    except (ClientError, BotoCoreError, ValidationError):
        return None


def _download_poster(spec: BatchSpec, s3: S3Client, name: str, target: Path) -> Path | None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(spec.bucket, poster_key(spec, name), str(target))
        return target
    except (ClientError, BotoCoreError, OSError):
        return None
