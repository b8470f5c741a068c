"""Use cases, one function each: submit a manifest, record a stopped task, launch work.

Each step is safe to repeat: the JOB/BATCH items are created once (conditional puts),
batches move PENDING → RUNNING → final by conditional updates, and RunTask carries a
client token. A redelivered event or a Lambda retried after a crash therefore resumes
where the last attempt stopped instead of doing the work twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from chalicelib import launcher, objects, pricing, retries, webhooks
from chalicelib.clients import client
from chalicelib.contracts import (
    BatchSpec,
    RenderOptions,
    SceneSpec,
    batch_spec_key,
    outputs_prefix,
    report_key,
    results_prefix,
)
from chalicelib.events import (
    ObjectCreatedEvent,
    TaskStateChangeEvent,
    event_from_described_task,
)
from chalicelib.manifest import Manifest, ManifestError, parse_manifest
from chalicelib.observability import MetricUnit, logger, metrics
from chalicelib.planner import plan_batches
from chalicelib.report import (
    WEBHOOK_TYPES,
    build_job_report,
    build_rejection_report,
    job_outcome,
)
from chalicelib.settings import Settings, get_settings
from chalicelib.store import IDEMPOTENCY_PK, BatchOutcome, BatchView, JobStore, JobView

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

_PENDING_PAGE = 100
_LAUNCH_CONCURRENCY = 8
_WRITE_CONCURRENCY = 16
_IDEMPOTENCY_TTL_SECONDS = 6 * 3600


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: JobStore
    s3: Any
    ecs: Any
    idempotency: DynamoDBPersistenceLayer


@cache
def services() -> Services:
    """The Lambda container's adapters, made on first use so endpoints come from the env.

    boto3 and the idempotency layer are imported here, not at module level, so the
    module imports fast and a cold start pays only for what the first event needs.
    """
    import boto3
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    settings = get_settings()
    dynamodb = boto3.resource("dynamodb")
    return Services(
        settings=settings,
        store=JobStore(settings.table_name, dynamodb, ttl_days=settings.job_ttl_days),
        s3=client("s3"),
        ecs=client("ecs"),
        idempotency=DynamoDBPersistenceLayer(
            table_name=settings.table_name,
            key_attr="PK",
            sort_key_attr="SK",
            static_pk_value=IDEMPOTENCY_PK,
            expiry_attr="expires_at",
            boto3_client=client("dynamodb"),
        ),
    )


# -- manifest uploaded ----------------------------------------------------------------------


def submit_manifest(
    event: ObjectCreatedEvent, svc: Services, lambda_context: Any | None = None
) -> str:
    """Accept or reject one uploaded manifest; returns the job id.

    The powertools idempotency record (keyed on the job id, which is derived from the
    upload) turns redeliveries into no-ops; a delivery racing the first one is dropped
    here because the first one's own retry covers any failure it meets.
    """
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
    )

    job_id = event.job_id()
    logger.append_keys(job_id=job_id)
    upload = {"job_id": job_id, "bucket": event.bucket, "key": event.key}
    config = IdempotencyConfig(
        event_key_jmespath="job_id", expires_after_seconds=_IDEMPOTENCY_TTL_SECONDS
    )
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)
    submit = idempotent_function(
        data_keyword_argument="upload", persistence_store=svc.idempotency, config=config
    )(_submit)
    try:
        submit(upload=upload, svc=svc)
    except IdempotencyAlreadyInProgressError:
        logger.info("duplicate delivery while the first is still being handled; ignored")
    return job_id


def _submit(upload: dict[str, str], svc: Services) -> dict[str, str]:
    job_id, bucket, key = upload["job_id"], upload["bucket"], upload["key"]
    existing = svc.store.get_job(job_id)
    if existing and existing.is_final:
        logger.info("job already final; nothing to do", extra={"status": existing.status})
        return {"job_id": job_id, "status": existing.status}
    manifest: Manifest | None = None
    try:
        manifest = parse_manifest(objects.read_manifest(svc.s3, bucket, key))
        problems = _missing_assets(svc, bucket, manifest.asset_paths())
        if problems:
            raise ManifestError(problems)
    except ManifestError as exc:
        # A schema-invalid manifest still gets its assets checked: every reason at once.
        errors = exc.errors + _missing_assets(svc, bucket, exc.asset_paths)
        _reject(svc, job_id, bucket, key, errors, _webhook_url(manifest, svc.settings))
        return {"job_id": job_id, "status": "REJECTED"}
    _accept(svc, job_id, bucket, key, manifest)
    launch_pending(svc)
    return {"job_id": job_id, "status": "RUNNING"}


def _missing_assets(svc: Services, bucket: str, paths: list[tuple[str, str]]) -> list[str]:
    assets = [(where, *objects.resolve(path, bucket)) for where, path in paths]
    return objects.missing_assets(svc.s3, assets)


def _webhook_url(manifest: Manifest | None, settings: Settings) -> str | None:
    if manifest is not None and manifest.webhook_url is not None:
        return str(manifest.webhook_url)
    return settings.webhook_default_url


def _reject(
    svc: Services, job_id: str, bucket: str, key: str, errors: list[str], url: str | None
) -> None:
    logger.warning("manifest rejected", extra={"errors": errors, "manifest_key": key})
    report = build_rejection_report(job_id, bucket, key, errors, datetime.now(UTC))
    objects.put_json(svc.s3, svc.settings.bucket, report_key(job_id), report)
    created = svc.store.create_job(
        job_id,
        manifest_bucket=bucket,
        manifest_key=key,
        status="REJECTED",
        webhook_url=url,
        errors=errors,
        report_key=report_key(job_id),
    )
    if created:
        metrics.add_metric(name="JobsRejected", unit=MetricUnit.Count, value=1)
    job = svc.store.get_job(job_id)
    if job is not None and job.webhook_state == "PENDING":
        _notify(svc, job, report)


def _accept(svc: Services, job_id: str, bucket: str, key: str, manifest: Manifest) -> None:
    batches = plan_batches(
        manifest.scenes,
        manifest.scenes_per_batch,
        manifest.max_parallel_tasks,
        manifest.min_scenes_per_batch,
    )
    profile = pricing.PROFILES[manifest.config_priority]
    created = svc.store.create_job(
        job_id,
        manifest_bucket=bucket,
        manifest_key=key,
        status="RUNNING",
        total_scenes=len(manifest.scenes),
        batches_total=len(batches),
        config_priority=manifest.config_priority,
        spot=manifest.spot,
        language=manifest.language,
        webhook_url=_webhook_url(manifest, svc.settings),
    )
    job = svc.store.get_job(job_id)
    assert job is not None  # just created, or created by an earlier attempt
    options = RenderOptions(
        language=manifest.language,
        enable_zoom=manifest.enable_zoom,
        is_portrait=manifest.is_portrait,
        background_box=manifest.background_box,
        background_opacity=manifest.background_opacity,
        watermark_uri=_uri(manifest.watermark_path, bucket) if manifest.watermark_path else None,
    )
    specs: list[BatchSpec] = []
    for number, scenes in enumerate(batches, start=1):
        spec = BatchSpec(
            job_id=job_id,
            batch_number=number,
            bucket=svc.settings.bucket,
            outputs_prefix=outputs_prefix(job_id),
            results_prefix=results_prefix(job_id),
            vcpu=profile.vcpu,
            options=options,
            scenes=[
                SceneSpec(
                    scene_name=scene.scene_name,
                    image_uri=_uri(scene.image_path, bucket),
                    audio_uri=_uri(scene.audio_path, bucket),
                    subtitle_uri=_uri(scene.subtitle_path, bucket) if scene.subtitle_path else None,
                    effect=scene.effect,
                )
                for scene in scenes
            ],
        )
        specs.append(spec)

    def write(spec: BatchSpec) -> tuple[int, list[str], str]:
        key = batch_spec_key(job_id, spec.batch_number)
        objects.put_json(svc.s3, svc.settings.bucket, key, spec.model_dump(mode="json"))
        return spec.batch_number, [scene.scene_name for scene in spec.scenes], key

    with ThreadPoolExecutor(max_workers=_WRITE_CONCURRENCY) as pool:
        rows = list(pool.map(write, specs))
    svc.store.put_batches(job_id, job.created_at, rows, vcpu=profile.vcpu, fresh=created)
    if created:
        metrics.add_metric(name="JobsSubmitted", unit=MetricUnit.Count, value=1)
        metrics.add_metric(
            name="ScenesSubmitted", unit=MetricUnit.Count, value=len(manifest.scenes)
        )
    logger.info(
        "job accepted",
        extra={"scenes": len(manifest.scenes), "batches": len(batches), "profile": profile.label},
    )


def _uri(path: str, default_bucket: str) -> str:
    bucket, key = objects.resolve(path, default_bucket)
    return f"s3://{bucket}/{key}"


# -- launching ------------------------------------------------------------------------------


def launch_pending(svc: Services, known: Sequence[BatchView] = ()) -> int:
    """Start waiting batches, oldest job first, while the deployment-wide cap allows.

    ``known``: batches this invocation just put back in the queue, first in line; the queue
    index is eventually consistent and might not list them yet.

    Per page of the queue, slots go to the oldest batches first; each batch is then run and
    recorded (PENDING → RUNNING) on its own item, concurrently, because RunTask takes
    ~100 ms and a 100-batch job must not wait seconds for its last task. Two invocations
    launching one batch get one task from AWS (same client token); should a second task
    exist anyway, the loser of the conditional write stops it.
    """
    launched = 0
    first = list(known)
    while True:
        listed = svc.store.pending_batches(_PENDING_PAGE)
        keys = {(b.job_id, b.batch_number) for b in first}
        page = first + [b for b in listed if (b.job_id, b.batch_number) not in keys]
        first = []
        slots = svc.store.acquire_slots(svc.settings.max_running_tasks, len(page)) if page else 0
        chosen = page[:slots]
        jobs = {job_id: svc.store.get_job(job_id) for job_id in {b.job_id for b in chosen}}
        with ThreadPoolExecutor(max_workers=_LAUNCH_CONCURRENCY) as pool:
            futures = [pool.submit(_run_batch, svc, jobs[b.job_id], b) for b in chosen]
            results = [future.result() for future in futures]
        outcomes = [outcome for outcome, _ in results]
        started: dict[str, int] = {}
        for batch, outcome in zip(chosen, outcomes, strict=True):
            if outcome == "started":
                started[batch.job_id] = started.get(batch.job_id, 0) + 1
        svc.store.count_started_tasks(started)
        svc.store.release_slots(outcomes.count("skipped") + outcomes.count("deferred"))
        for batch, (outcome, reason) in zip(chosen, results, strict=True):
            job = jobs[batch.job_id]
            if outcome == "failed" and job is not None:
                _fail_unlaunched(svc, job, batch, reason or "RunTask failed")
        launched += sum(started.values())
        progressed = bool(started) or "failed" in outcomes
        if not progressed or "deferred" in outcomes or slots < len(page):
            return launched  # the queue is empty, the cap is reached, or RunTask said wait


def _run_batch(svc: Services, job: JobView | None, batch: BatchView) -> tuple[str, str | None]:
    """RunTask for one waiting batch and record its task; says what happened (and why)."""
    keys = _batch_keys(batch)
    if job is None:  # batches are written after their job: this is a bug, keep it visible
        logger.error("pending batch without its job", extra=keys)
        return "skipped", None
    result = _launch_batch(svc, job, batch)
    if result.task_arn is None:
        if result.retryable:  # the batch never left the queue
            logger.warning("launch deferred", extra={**keys, "reason": result.reason})
            return "deferred", result.reason
        return "failed", result.reason
    if svc.store.mark_running(batch.job_id, batch.batch_number, result.task_arn):
        logger.info("task started", extra={**keys, "task_arn": result.task_arn})
        return "started", None
    current = svc.store.get_batch(batch.job_id, batch.batch_number)
    if current is None or current.task_arn != result.task_arn:
        # Another invocation launched this batch first and its task is the one recorded.
        launcher.stop(svc.ecs, svc.settings.cluster, result.task_arn, "duplicate launch")
        logger.warning("duplicate task stopped", extra={**keys, "task_arn": result.task_arn})
    return "skipped", None


def _launch_batch(svc: Services, job: JobView, batch: BatchView) -> launcher.Launch:
    request = launcher.run_task_request(
        svc.settings,
        job_id=job.job_id,
        batch_number=batch.batch_number,
        attempt=batch.attempt,
        spec_uri=f"s3://{svc.settings.bucket}/{batch.spec_key}",
        profile=pricing.PROFILES[job.config_priority],
        spot=job.spot,
        language=job.language,
    )
    return launcher.launch(svc.ecs, request)


def _fail_unlaunched(svc: Services, job: JobView, batch: BatchView, reason: str) -> None:
    logger.error(
        "batch could not be launched", extra={"batch_number": batch.batch_number, "reason": reason}
    )
    succeeded = 0
    if batch.attempt > 1:  # a retry: the earlier task may have finished some scenes
        succeeded, _ = _scene_counts(svc, batch)
    outcome = _taskless_outcome(batch, succeeded, error=reason, event_version=0)
    if svc.store.finish_batch(job.job_id, batch.batch_number, outcome, task_arn=None):
        metrics.add_metric(name="ScenesFailed", unit=MetricUnit.Count, value=outcome.scenes_failed)
        complete_job_if_done(svc, job.job_id)


# -- task stopped ---------------------------------------------------------------------------


def record_task_stopped(event: TaskStateChangeEvent, svc: Services) -> None:
    """Finalise the batch of a stopped task, start waiting work, finish the job if done."""
    detail = event.detail
    ref = event.batch_ref()
    if detail.last_status != "STOPPED" or ref is None:
        logger.info("not a stopped CloudBurst task; ignored", extra={"task_arn": detail.task_arn})
        return
    job_id, number = ref
    logger.append_keys(job_id=job_id, batch_number=number)
    batch = svc.store.get_batch(job_id, number)
    if batch is None or batch.task_arn != detail.task_arn:
        logger.info("event of a task this batch is not waiting for; ignored")
        return
    outcome, unreported = (None, 0) if batch.is_final else _batch_outcome(svc, event, batch)
    retry = outcome is not None and retries.should_retry(
        detail.stop_code,
        attempt=batch.attempt,
        max_attempts=svc.settings.max_task_attempts,
        unreported=unreported,
    )
    requeued: list[BatchView] = []
    if outcome is not None and retry:
        requeued = _requeue(svc, batch, outcome, unreported, task_arn=detail.task_arn)
    elif outcome is not None and svc.store.finish_batch(
        job_id, number, outcome, task_arn=detail.task_arn
    ):
        logger.info("batch finished", extra=asdict(outcome))
        metrics.add_metric(
            name="ScenesRendered", unit=MetricUnit.Count, value=outcome.scenes_succeeded
        )
        metrics.add_metric(name="ScenesFailed", unit=MetricUnit.Count, value=outcome.scenes_failed)
        metrics.add_metric(name="TaskCostUSD", unit=MetricUnit.NoUnit, value=outcome.cost_usd)
    else:
        # A duplicate, a stale version, or the redelivery of an invocation that died after
        # recording the batch: the two steps below are idempotent, so finish what it may not.
        logger.info("duplicate or stale task event", extra={"version": detail.version})
    launch_pending(svc, requeued)
    complete_job_if_done(svc, job_id)


def _requeue(
    svc: Services, batch: BatchView, stopped: BatchOutcome, unreported: int, *, task_arn: str
) -> list[BatchView]:
    """The batch waits for its next attempt (the worker resumes, skipping finished scenes);
    returns it as queued, or nothing for a duplicate or stale event."""
    job = svc.store.get_job(batch.job_id)
    if job is None or not svc.store.requeue_batch(
        batch.job_id, job.created_at, batch.batch_number, stopped, task_arn=task_arn
    ):
        logger.info("duplicate or stale task event", extra={"version": stopped.event_version})
        return []
    logger.warning(
        "batch retried",
        extra={
            "stop_code": stopped.stop_code,
            "stopped_reason": stopped.stopped_reason,
            "unreported_scenes": unreported,
            "next_attempt": batch.attempt + 1,
        },
    )
    metrics.add_metric(name="BatchesRetried", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="TaskCostUSD", unit=MetricUnit.NoUnit, value=stopped.cost_usd)
    return [replace(batch, status="PENDING", attempt=batch.attempt + 1, task_arn=None)]


def _batch_outcome(
    svc: Services, event: TaskStateChangeEvent, batch: BatchView
) -> tuple[BatchOutcome, int]:
    """The stopped task's outcome, and how many of its scenes it never reported."""
    detail = event.detail
    succeeded, unreported = _scene_counts(svc, batch)
    vcpu = int(detail.cpu or 0) / 1024 or batch.vcpu
    memory_gb = int(detail.memory or 0) / 1024
    architecture = event.architecture or svc.settings.architecture
    seconds = pricing.billed_seconds(detail.pull_started_at, detail.stopped_at)
    rate = pricing.fargate_rate(
        svc.settings.region, "arm64" if architecture == "arm64" else "x86_64", event.is_spot
    )
    stopped_at = detail.stopped_at or datetime.now(UTC)
    outcome = BatchOutcome(
        status=job_outcome(succeeded, len(batch.scene_names)),
        scenes_succeeded=succeeded,
        scenes_failed=len(batch.scene_names) - succeeded,
        cost_usd=pricing.task_cost_usd(vcpu, memory_gb, seconds, rate),
        billed_seconds=seconds,
        stopped_at=stopped_at.isoformat(),
        exit_code=event.exit_code(svc.settings.container_name),
        stop_code=detail.stop_code,
        stopped_reason=detail.stopped_reason,
        event_version=detail.version,
    )
    return outcome, unreported


def complete_job_if_done(svc: Services, job_id: str) -> None:
    """When every batch is final: write the report, mark the job, send one webhook."""
    job = svc.store.get_job(job_id)
    if job is None or job.status != "RUNNING" or job.batches_final < job.batches_total:
        return
    batches = svc.store.list_batches(job_id)
    names = [name for batch in batches for name in batch.scene_names]
    results = objects.read_results(svc.s3, svc.settings.bucket, job_id, names)
    report = build_job_report(job, batches, results, datetime.now(UTC))
    objects.put_json(svc.s3, svc.settings.bucket, report_key(job_id), report)
    if not svc.store.finish_job(job_id, report["status"], report_key(job_id)):
        return  # a concurrent invocation finished it and sends the webhook
    logger.info(
        "job finished",
        extra={"status": report["status"], "total_cost_usd": report["total_cost_usd"]},
    )
    finished = svc.store.get_job(job_id)
    assert finished is not None
    _notify(svc, finished, report)


def _notify(
    svc: Services, job: JobView, report: dict[str, Any], now: datetime | None = None
) -> None:
    event_type = WEBHOOK_TYPES[job.status]
    if not job.webhook_url:
        svc.store.record_webhook(job.job_id, "NO_URL")
        return
    if not svc.settings.webhook_secret:
        logger.error("no webhook secret configured; webhook not sent")
        svc.store.record_webhook(job.job_id, "FAILED", "no webhook secret configured")
        return
    delivery = webhooks.send(
        job.webhook_url,
        svc.settings.webhook_secret,
        job_id=job.job_id,
        event_type=event_type,
        data=report,
        timeout=svc.settings.webhook_timeout_seconds,
        allow_loopback=svc.settings.allow_loopback_webhooks,
    )
    attempts = job.webhook_attempts + 1
    delay = webhooks.retry_delay(attempts, delivery)
    retry_at = None if delay is None else _iso((now or datetime.now(UTC)) + delay)
    state = "DELIVERED" if delivery.ok else ("RETRYING" if retry_at else "FAILED")
    svc.store.record_webhook(job.job_id, state, delivery.error, retry_at)
    log = logger.info if delivery.ok else logger.warning
    log(
        "webhook " + state.lower(),
        extra={
            "type": event_type,
            "http_status": delivery.status,
            "error": delivery.error,
            "attempt": attempts,
            "retry_at": retry_at,
        },
    )
    metrics.add_metric(
        name="WebhooksDelivered" if delivery.ok else "WebhooksFailed",
        unit=MetricUnit.Count,
        value=1,
    )


# -- sweeper --------------------------------------------------------------------------------


def sweep(svc: Services, now: datetime | None = None) -> dict[str, int]:
    """The scheduled safety net for work no event will come back for.

    - Running batches launched a while ago are checked against ECS: a task that stopped
      without its event reaching us is recorded now, one ECS no longer knows is finished
      from its result records, one running past ``max_task_hours`` is stopped.
    - Batches left waiting (RunTask said "later", or the queue index lagged) are started:
      nothing else may come to start them if no task of theirs is running.
    - Webhooks due again are sent.
    """
    now = now or datetime.now(UTC)
    checked = _reconcile_running(svc, now)
    launched = launch_pending(svc)
    retried = 0
    for job in svc.store.webhooks_due(_iso(now)):
        lease = _iso(now + _WEBHOOK_LEASE)
        if job.webhook_due is None or not svc.store.claim_webhook_retry(
            job.job_id, job.webhook_due, lease
        ):
            continue  # another sweeper took it
        logger.append_keys(job_id=job.job_id)
        report = objects.get_json(svc.s3, svc.settings.bucket, report_key(job.job_id))
        _notify(svc, job, report, now)
        retried += 1
    logger.remove_keys(["job_id"])
    return {"launched": launched, "webhooks_retried": retried, **checked}


_WEBHOOK_LEASE = timedelta(minutes=5)
# A STOPPED event normally arrives within seconds; one missing after this long was lost.
_RECONCILE_AFTER = timedelta(minutes=10)
_DESCRIBE_LIMIT = 100  # DescribeTasks takes at most 100 tasks


def _reconcile_running(svc: Services, now: datetime) -> dict[str, int]:
    batches = svc.store.running_batches(_iso(now - _RECONCILE_AFTER))
    by_arn = {batch.task_arn: batch for batch in batches if batch.task_arn}
    arns = list(by_arn)
    counts = {"recorded": 0, "vanished": 0, "stopped_overtime": 0}
    overtime = timedelta(hours=svc.settings.max_task_hours)
    for start in range(0, len(arns), _DESCRIBE_LIMIT):
        chunk = arns[start : start + _DESCRIBE_LIMIT]
        described = svc.ecs.describe_tasks(cluster=svc.settings.cluster, tasks=chunk)["tasks"]
        for task in described:
            batch = by_arn[task["taskArn"]]
            if task.get("lastStatus") == "STOPPED":
                logger.warning("task stopped without its event reaching us; recorded now")
                account = task["taskArn"].split(":")[4]
                record_task_stopped(
                    event_from_described_task(
                        task, region=svc.settings.region, account=account, at=now
                    ),
                    svc,
                )
                counts["recorded"] += 1
            elif batch.launched_at and now - datetime.fromisoformat(batch.launched_at) > overtime:
                hours = f"{svc.settings.max_task_hours:g}"
                launcher.stop(svc.ecs, svc.settings.cluster, task["taskArn"], f"ran over {hours} h")
                logger.warning("task ran too long; stopped", extra=_batch_keys(batch))
                counts["stopped_overtime"] += 1
        for arn in set(chunk) - {task["taskArn"] for task in described}:
            _finish_vanished(svc, by_arn[arn])
            counts["vanished"] += 1
    return counts


def _finish_vanished(svc: Services, batch: BatchView) -> None:
    """ECS keeps stopped tasks for about an hour; past that, the result records decide."""
    succeeded, _ = _scene_counts(svc, batch)
    outcome = _taskless_outcome(
        batch,
        succeeded,
        error=f"ECS no longer knows task {batch.task_arn} and its STOPPED event never came",
        event_version=_VANISHED_VERSION,
    )
    logger.error("task vanished", extra={**_batch_keys(batch), "task_arn": batch.task_arn})
    if svc.store.finish_batch(batch.job_id, batch.batch_number, outcome, task_arn=batch.task_arn):
        complete_job_if_done(svc, batch.job_id)


_VANISHED_VERSION = 2**31  # newer than any real event of the task: a late one changes nothing


def _scene_counts(svc: Services, batch: BatchView) -> tuple[int, int]:
    """(scenes that succeeded, scenes with no result record) of a batch, from S3."""
    results = objects.read_results(svc.s3, svc.settings.bucket, batch.job_id, batch.scene_names)
    succeeded = sum(1 for r in results.values() if r is not None and r.status == "succeeded")
    return succeeded, sum(1 for r in results.values() if r is None)


def _taskless_outcome(
    batch: BatchView, succeeded: int, *, error: str, event_version: int
) -> BatchOutcome:
    """A batch ended without a stopped task to learn from: no cost or times (unknown or
    none), its scenes counted from their result records."""
    return BatchOutcome(
        status=job_outcome(succeeded, len(batch.scene_names)),
        scenes_succeeded=succeeded,
        scenes_failed=len(batch.scene_names) - succeeded,
        cost_usd=0.0,
        billed_seconds=0,
        stopped_at=datetime.now(UTC).isoformat(),
        exit_code=None,
        stop_code=None,
        stopped_reason=None,
        event_version=event_version,
        error=error,
    )


def _batch_keys(batch: BatchView) -> dict[str, Any]:
    return {"job_id": batch.job_id, "batch_number": batch.batch_number}


def _iso(at: datetime) -> str:
    """The store's timestamp format (sortable as text)."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds")
