"""The two documents that cross the Lambda/Fargate boundary through S3.

The batch spec travels by URI because RunTask overrides are capped at 8 KiB; the result
record is one object per scene so a retried or resumed task never races another writer.
This module must stay importable with only pydantic installed: the worker image copies it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# The task's environment: its spec's URI, and which attempt of the batch it is (the spec is
# written once; a retried batch runs it again as attempt 2, 3, …).
BATCH_SPEC_ENV = "BATCH_SPEC"
ATTEMPT_ENV = "CLOUDBURST_ATTEMPT"

Effect = Literal["zoom_in", "zoom_out", "pan_left", "pan_right", "none"]
Language = Literal["chinese", "english"]
# What a task does: render its scenes, or assemble the job's episode from all of them.
BatchKind = Literal["scenes", "assembly"]
# A contact sheet of more scenes would pass JPEG's 65,535-pixel side (8 tiles a row).
MAX_SHEET_SCENES = 400


class SceneStatus(StrEnum):
    """How one scene ended, in its result record and the job report (lower case, as written
    since the first worker)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Look(_Frozen):
    """How every scene of a job looks: the seed API's option names, defaults and meanings.

    One definition for the manifest (which a user writes), the batch spec (which the worker
    reads) and the renderer's settings (``look()``).
    """

    language: Language = "chinese"
    enable_zoom: bool = True
    is_portrait: bool = False
    background_box: bool = True
    # The seed's "opacity" is the box's transparency: 0 solid, 1 invisible.
    background_opacity: float = Field(default=0.2, ge=0.0, le=1.0, allow_inf_nan=False)

    def look(self) -> dict[str, Any]:
        """The look's fields alone (e.g. for the renderer's settings)."""
        return {name: getattr(self, name) for name in Look.model_fields}


class RenderOptions(Look):
    """A batch's look, its watermark as a full ``s3://`` URI."""

    watermark_uri: str | None = None


class SceneSpec(_Frozen):
    """One scene with every asset as a full ``s3://bucket/key`` URI."""

    scene_name: str
    image_uri: str
    audio_uri: str
    subtitle_uri: str | None = None
    effect: Effect | None = None
    # Frames the episode's transition windows reach into the scene's head and tail: the
    # renderer puts IDRs there (chalicelib.episode.keyframe_reach); (0, 0) without an episode.
    keyframe_reach: tuple[int, int] = (0, 0)
    # Assembly only: the scene's own transition into the next scene (the manifest's object).
    transition: dict[str, Any] | None = None


class BatchSpec(_Frozen):
    version: Literal[1] = 1
    job_id: str
    batch_number: int = Field(ge=1)
    attempt: int = Field(default=1, ge=1)
    bucket: str
    outputs_prefix: str
    results_prefix: str
    vcpu: float = Field(default=2, gt=0)
    options: RenderOptions
    scenes: list[SceneSpec]
    kind: BatchKind = "scenes"
    # Assembly only: the manifest's ``episode`` object, its music path as an s3:// URI.
    episode: dict[str, Any] | None = None
    # Every scene of the job in order, when it gets a contact sheet (at most
    # MAX_SHEET_SCENES): the batch that finds every scene reported makes the sheet.
    sheet_scenes: list[str] = Field(default_factory=list)
    # s3:// URI → version id of each input as intake found it (none from a bucket that is
    # not versioned): the worker reads that version, whatever the key holds by then.
    asset_versions: dict[str, str] = Field(default_factory=dict)

    def input_uris(self) -> list[str]:
        """Every asset the batch reads: its scenes' files, the watermark, the music."""
        uris = [self.options.watermark_uri] if self.options.watermark_uri else []
        for scene in self.scenes:
            uris += [scene.image_uri, scene.audio_uri]
            uris += [scene.subtitle_uri] if scene.subtitle_uri else []
        music = (self.episode or {}).get("music") or {}
        uris += [music["path"]] if isinstance(music.get("path"), str) else []
        return uris

    def pinned_to(self, versions: dict[str, str]) -> BatchSpec:
        """This spec reading ``versions`` of its inputs (those of ``versions`` it reads)."""
        mine = {uri: versions[uri] for uri in self.input_uris() if uri in versions}
        return self.model_copy(update={"asset_versions": mine})


def render_slots(vcpu: float) -> int:
    """Scenes a task renders at once: one single-threaded encode per whole vCPU (on Fargate
    that beats fewer multi-threaded ones). The worker runs this many; reports bill by it."""
    return max(1, int(vcpu))


class SceneResult(_Frozen):
    """What the worker says about one scene; the completion Lambda trusts only these."""

    job_id: str
    batch_number: int
    attempt: int
    scene_name: str
    status: SceneStatus
    output_key: str | None = None
    bytes: int = 0
    duration_seconds: float = 0.0
    render_seconds: float = 0.0
    reused: bool = False
    error: str | None = None


class EpisodeRecord(_Frozen):
    """What the assembly task says about the episode; the job's report copies it."""

    job_id: str
    attempt: int
    status: SceneStatus
    key: str | None = None
    duration: float = 0.0
    bytes: int = 0
    loudness_lufs: float | None = None
    true_peak_db: float | None = None
    seams_reencoded: int = 0
    subtitles_keys: list[str] = Field(default_factory=list)
    poster_key: str | None = None
    assembly_seconds: float = 0.0
    error: str | None = None

    def report(self) -> dict[str, Any]:
        """The ``episode`` block of ``job.json`` and the webhook."""
        return self.model_dump(
            mode="json",
            include={"key", "duration", "bytes", "loudness_lufs", "true_peak_db",
                     "seams_reencoded", "subtitles_keys"},
        )  # fmt: skip


# The bucket's top-level folders: every key the pipeline, the worker, the client and the
# deployment's rules use is built from these (a test fails on a second definition).
MANIFESTS_PREFIX = "manifests/"  # a user's upload here starts a job
MANIFEST_SUFFIX = ".json"
OUTPUTS_PREFIX = "outputs/"  # what users read: MP4s, job.json, status.json
JOBS_PREFIX = "jobs/"  # the pipeline's own: batch specs, result records, summaries
INPUTS_PREFIX = "inputs/"  # where the client uploads local assets
UPLOADS_PREFIX = "uploads/"  # per manifest upload: which job it started (upload_pointer_key)


def outputs_prefix(job_id: str) -> str:
    return f"{OUTPUTS_PREFIX}{job_id}/"


def output_key(job_id: str, scene_name: str) -> str:
    return f"{outputs_prefix(job_id)}{scene_name}.mp4"


def poster_key(job_id: str, scene_name: str) -> str:
    """A scene's poster: a representative frame, for every job."""
    return f"{outputs_prefix(job_id)}posters/{scene_name}.jpg"


def contact_sheet_key(job_id: str) -> str:
    return f"{outputs_prefix(job_id)}contact_sheet.jpg"


def episode_key(job_id: str, name: str, suffix: str = ".mp4") -> str:
    """The episode (``.mp4``) and its sidecars (``.srt``, ``.vtt``, ``.jpg``)."""
    return f"{outputs_prefix(job_id)}{name}{suffix}"


def episode_record_key(job_id: str) -> str:
    """The assembly task's record (its batch is the job's last)."""
    return f"{JOBS_PREFIX}{job_id}/episode.json"


def report_key(job_id: str) -> str:
    return f"{outputs_prefix(job_id)}job.json"


def status_key(job_id: str) -> str:
    """The job's status document, rewritten at every state change (users poll it)."""
    return f"{outputs_prefix(job_id)}status.json"


def summary_key(job_id: str, batch_number: int) -> str:
    """A finished batch's scenes, summarised once so the job's end reads O(batches)."""
    return f"{JOBS_PREFIX}{job_id}/summaries/{batch_number:04d}.json"


# A user cancels a job by putting cancel/<job_id>.json (optionally {"reason": "…"}).
CANCEL_PREFIX = "cancel/"


def cancel_key(job_id: str) -> str:
    return f"{CANCEL_PREFIX}{job_id}.json"


def results_prefix(job_id: str) -> str:
    return f"{JOBS_PREFIX}{job_id}/results/"


def result_key(job_id: str, scene_name: str) -> str:
    return f"{results_prefix(job_id)}{scene_name}.json"


def result_key_scene(key: str) -> tuple[str, str] | None:
    """(job id, scene name) of a result record's key, None for any other key."""
    if not key.startswith(JOBS_PREFIX) or not key.endswith(".json"):
        return None
    job_id, marker, scene_name = key[len(JOBS_PREFIX) : -len(".json")].partition("/results/")
    if not marker or not job_id or not scene_name or "/" in job_id + scene_name:
        return None
    return job_id, scene_name


def upload_pointer_key(manifest_key: str, version_id: str) -> str:
    """Where the pipeline says which job one upload of a manifest started: built from what
    the upload's own answer holds, so ``aws s3 cp s3://BUCKET/<this key> -`` finds the job
    with no code of ours (README "Submitting a job")."""
    return f"{UPLOADS_PREFIX}{manifest_key}/{version_id}.json"


def batch_spec_key(job_id: str, batch_number: int) -> str:
    return f"{JOBS_PREFIX}{job_id}/batches/{batch_number:04d}.json"


# S3 error codes that mean "no such object" (GET says NoSuchKey, HEAD a bare 404).
S3_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


def is_s3_not_found(error_code: str) -> bool:
    """The one rule for an absent S3 object, for the Lambdas and the worker alike."""
    return error_code in S3_NOT_FOUND_CODES


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → (bucket, key); raises ValueError with the offending text."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    if not bucket or not key:
        raise ValueError(f"s3 URI needs a bucket and a key: {uri!r}")
    return bucket, key


def resolve_asset(path: str, default_bucket: str) -> tuple[str, str]:
    """A manifest asset path (key in the manifest's bucket, or s3:// URI) as (bucket, key)."""
    return split_s3_uri(path) if path.startswith("s3://") else (default_bucket, path)


def asset_uri(path: str, default_bucket: str) -> str:
    bucket, key = resolve_asset(path, default_bucket)
    return f"s3://{bucket}/{key}"
