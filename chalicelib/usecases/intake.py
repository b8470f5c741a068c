"""Intake: an uploaded manifest becomes a job with its batches queued, or a rejected job.

Every upload ends in a verdict: RUNNING (batches written, waiting for launch) or REJECTED with
every reason, a ``job.json`` and a webhook to the manifest's own URL when it can be read. The
powertools idempotency record (keyed on the job id, derived from the upload) turns
redeliveries into no-ops; a delivery racing the first is dropped, since the first one's own
retry covers any failure it meets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib import pricing
from chalicelib.contracts import (
    MAX_SHEET_SCENES,
    BatchSpec,
    RenderOptions,
    SceneSpec,
    asset_uri,
    batch_spec_key,
    outputs_prefix,
    report_key,
    resolve_asset,
    results_prefix,
    status_key,
    upload_pointer_key,
)
from chalicelib.events import ObjectCreatedEvent
from chalicelib.manifest import (
    MAX_MANIFEST_BYTES,
    Manifest,
    ManifestError,
    listed_scene_count,
    parse_manifest,
    rejection_webhook_url,
)
from chalicelib.model import (
    MAX_STORED_ERRORS,
    Batch,
    BatchStatus,
    Job,
    JobStatus,
    WebhookState,
    error_summary,
    iso,
)
from chalicelib.observability import MetricUnit, logger, metrics
from chalicelib.planner import plan_batches
from chalicelib.ports import AssetCheck, Services, UnreadableManifest
from chalicelib.report import build_rejection_report
from chalicelib.usecases.assembling import assembly_spec, episode_of, scene_reaches

_IDEMPOTENCY_TTL_SECONDS = 6 * 3600


@dataclass(frozen=True)
class Intake:
    """The verdict on one upload; ``status`` None for a delivery racing the first one."""

    job_id: str
    status: JobStatus | None


def submit_manifest(
    event: ObjectCreatedEvent, svc: Services, lambda_context: Any | None = None
) -> Intake:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
    )

    job_id = event.job_id()
    logger.thread_safe_append_keys(job_id=job_id)
    upload = {
        "job_id": job_id,
        "bucket": event.bucket,
        "key": event.key,
        "version_id": event.detail.object.version_id or "",
    }
    config = IdempotencyConfig(
        event_key_jmespath="job_id", expires_after_seconds=_IDEMPOTENCY_TTL_SECONDS
    )
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)
    submit = idempotent_function(
        data_keyword_argument="upload", persistence_store=svc.idempotency, config=config
    )(_submit)
    try:
        result = submit(upload=upload, svc=svc)
    except IdempotencyAlreadyInProgressError:
        logger.info("duplicate delivery while the first is still being handled; ignored")
        return Intake(job_id, None)
    return Intake(job_id, JobStatus(result["status"]))


def _submit(upload: dict[str, str], svc: Services) -> dict[str, str]:
    job_id, bucket, key = upload["job_id"], upload["bucket"], upload["key"]
    _point_to_job(svc, job_id, bucket, key, upload["version_id"])
    existing = svc.jobs.get_job(job_id)
    if existing and existing.is_final:
        logger.info("job already final; nothing to do", extra={"status": existing.status})
        return {"job_id": job_id, "status": existing.status.value}
    body = b""
    try:
        body = svc.documents.read_manifest(bucket, key, MAX_MANIFEST_BYTES, upload["version_id"])
        manifest = parse_manifest(body)
        assets = _locate_assets(svc, bucket, manifest.asset_paths())
        if assets.errors:
            raise ManifestError(assets.errors)
    except UnreadableManifest as exc:
        _reject(svc, job_id, bucket, key, [str(exc)], body)
        return {"job_id": job_id, "status": JobStatus.REJECTED.value}
    except ManifestError as exc:
        # A schema-invalid manifest still gets its assets checked: every reason at once.
        errors = exc.errors + _locate_assets(svc, bucket, exc.asset_paths).errors
        _reject(svc, job_id, bucket, key, errors, body)
        return {"job_id": job_id, "status": JobStatus.REJECTED.value}
    _accept(svc, job_id, bucket, key, manifest, assets.versions)
    return {"job_id": job_id, "status": JobStatus.RUNNING.value}


def _point_to_job(svc: Services, job_id: str, bucket: str, key: str, version_id: str) -> None:
    """The upload's pointer (contracts.upload_pointer_key): a user of the aws CLI finds the
    job from the manifest key and the version id ``put-object`` returned. Only for uploads
    to the deployment's bucket with a version id (every bucket CloudBurst makes has one)."""
    if bucket != svc.settings.bucket or not version_id or version_id == "null":
        return
    pointer = {
        "job_id": job_id,
        "manifest_bucket": bucket,
        "manifest_key": key,
        "version_id": version_id,
        "status_key": status_key(job_id),
        "report_key": report_key(job_id),
        "outputs_prefix": outputs_prefix(job_id),
    }
    svc.documents.put_json(upload_pointer_key(key, version_id), pointer)


def _locate_assets(svc: Services, bucket: str, paths: list[tuple[str, str]]) -> AssetCheck:
    return svc.documents.locate_assets(
        [(where, *resolve_asset(path, bucket)) for where, path in paths]
    )


def _reject(
    svc: Services, job_id: str, bucket: str, key: str, errors: list[str], body: bytes
) -> None:
    """A REJECTED job: every reason in ``job.json``, a summary of them on the job."""
    logger.warning(
        "manifest rejected",
        extra={"errors": errors[:MAX_STORED_ERRORS], "errors_total": len(errors)},
    )
    now = svc.clock.now()
    kept, total = error_summary(errors)
    job = Job(
        job_id=job_id,
        status=JobStatus.REJECTED,
        manifest_bucket=bucket,
        manifest_key=key,
        created_at=iso(now),
        finished_at=iso(now),
        total_scenes=listed_scene_count(body),
        webhook_url=rejection_webhook_url(body) or svc.settings.webhook_default_url,
        webhook_state=WebhookState.PENDING,
        errors=kept,
        errors_total=total,
    )
    report = build_rejection_report(job, errors, now)
    svc.documents.put_json(report_key(job_id), report)
    if svc.jobs.create_job(job):
        metrics.add_metric(name="JobsRejected", unit=MetricUnit.Count, value=1)


def _accept(
    svc: Services,
    job_id: str,
    bucket: str,
    key: str,
    manifest: Manifest,
    versions: dict[str, str],
) -> None:
    """The job, its batch specs in S3 (each reading ``versions`` of its inputs) and its
    PENDING batches; safe to repeat."""
    planned = plan_batches(
        manifest.scenes,
        manifest.scenes_per_batch,
        manifest.max_parallel_tasks,
        manifest.min_scenes_per_batch,
    )
    profile = pricing.PROFILES[manifest.config_priority]
    job = Job(
        job_id=job_id,
        status=JobStatus.RUNNING,
        manifest_bucket=bucket,
        manifest_key=key,
        created_at=iso(svc.clock.now()),
        total_scenes=len(manifest.scenes),
        batches_total=len(planned),
        config_priority=manifest.config_priority,
        spot=manifest.spot,
        language=manifest.language,
        webhook_url=str(manifest.webhook_url or svc.settings.webhook_default_url or "") or None,
        metadata=manifest.metadata,
        episode=manifest.episode is not None,
    )
    created = svc.jobs.create_job(job)
    stored = svc.jobs.get_job(job_id)
    assert stored is not None  # just created, or created by an earlier attempt
    options = render_options(manifest, bucket)
    episode = episode_of(manifest)
    count = len(manifest.scenes)
    reaches = scene_reaches(*episode, count) if episode else [(0, 0)] * count
    scene_specs = [
        SceneSpec(
            scene_name=scene.scene_name,
            image_uri=asset_uri(scene.image_path, bucket),
            audio_uri=asset_uri(scene.audio_path, bucket),
            subtitle_uri=asset_uri(scene.subtitle_path, bucket) if scene.subtitle_path else None,
            effect=scene.effect,
            keyframe_reach=reach,
        )
        for scene, reach in zip(manifest.scenes, reaches, strict=True)
    ]
    sheet = [s.scene_name for s in manifest.scenes] if count <= MAX_SHEET_SCENES else []
    specs = []
    start = 0
    for number, scenes in enumerate(planned, start=1):
        specs.append(
            BatchSpec(
                job_id=job_id,
                batch_number=number,
                bucket=svc.settings.bucket,
                outputs_prefix=outputs_prefix(job_id),
                results_prefix=results_prefix(job_id),
                vcpu=profile.vcpu,
                options=options,
                scenes=scene_specs[start : start + len(scenes)],
                sheet_scenes=sheet,
            )
        )
        start += len(scenes)
    specs = [spec.pinned_to(versions) for spec in specs]
    documents = [(batch_spec_key(job_id, s.batch_number), s.model_dump(mode="json")) for s in specs]
    if episode is not None:  # its batch is queued once every scene has rendered
        number = len(specs) + 1
        spec = assembly_spec(
            job_id, number, svc.settings.bucket, bucket, manifest, episode[0], scene_specs,
            options, profile.vcpu,
        ).pinned_to(versions)  # fmt: skip
        documents.append((batch_spec_key(job_id, number), spec.model_dump(mode="json")))
    svc.documents.put_all_json(documents)
    batches = [
        Batch(
            job_id=job_id,
            batch_number=spec.batch_number,
            status=BatchStatus.PENDING,
            scene_count=len(spec.scenes),
            spec_key=batch_spec_key(job_id, spec.batch_number),
            queued_at=stored.created_at,
            vcpu=profile.vcpu,
        )
        for spec in specs
    ]
    svc.jobs.put_batches(batches, fresh=created)
    if created:
        metrics.add_metric(name="JobsSubmitted", unit=MetricUnit.Count, value=1)
        metrics.add_metric(
            name="ScenesSubmitted", unit=MetricUnit.Count, value=len(manifest.scenes)
        )
    logger.info(
        "job accepted",
        extra={"scenes": len(manifest.scenes), "batches": len(planned), "profile": profile.label},
    )


def render_options(manifest: Manifest, bucket: str) -> RenderOptions:
    watermark = asset_uri(manifest.watermark_path, bucket) if manifest.watermark_path else None
    return RenderOptions(**manifest.look(), watermark_uri=watermark)
