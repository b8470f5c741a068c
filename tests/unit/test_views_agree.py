"""Every view of a job shows the same scene counts: the status document, ``job.json``, the
webhook's summary and the client's status / jobs / watch lines and outcome line — for any mix
of batch and scene outcomes, cancelled and rejected jobs included (issue 17 item 9)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.contracts import SceneResult, SceneStatus
from chalicelib.model import (
    Batch,
    BatchStatus,
    Job,
    JobStatus,
    SceneCounts,
    progress,
    scenes_status,
)
from chalicelib.report import (
    build_job_report,
    build_rejection_report,
    build_status,
    scene_entry,
    webhook_data,
)
from cloudburst.client.progress import outcome_line, progress_line, scenes_text
from cloudburst.client.status import JobView

CREATED = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
SCENES = re.compile(r"(\d+)/(\d+)(?: scenes)?(?: \((\d+) failed\))?")


def job(**changes: Any) -> Job:
    fields: dict[str, Any] = {
        "job_id": "ep1-0123456789ab",
        "status": JobStatus.RUNNING,
        "manifest_bucket": "b",
        "manifest_key": "manifests/ep1.json",
        "created_at": CREATED.isoformat(),
        **changes,
    }
    return Job(**fields)


@st.composite
def batch_mixes(draw: st.DrawFn, *, ended: bool) -> tuple[list[Batch], dict[str, bool]]:
    """Batches with their scenes' outcomes ({scene: succeeded}); ``ended``: all final."""
    batches: list[Batch] = []
    outcomes: dict[str, bool] = {}
    live = [BatchStatus.RUNNING, BatchStatus.PENDING]
    for number in range(1, draw(st.integers(1, 4)) + 1):
        size = draw(st.integers(1, 5))
        names = [f"b{number}_s{i}" for i in range(size)]
        ok = draw(st.lists(st.booleans(), min_size=size, max_size=size))
        cancelled = draw(st.booleans())
        status = (
            BatchStatus.CANCELLED if cancelled else BatchStatus(scenes_status(sum(ok), size).value)
        )
        if not ended and draw(st.booleans()):
            status = draw(st.sampled_from(live))
        batch = Batch(
            job_id="ep1-0123456789ab",
            batch_number=number,
            status=status,
            scene_count=size,
            spec_key=f"jobs/ep1-0123456789ab/batches/{number:04d}.json",
            queued_at=CREATED.isoformat(),
            task_arn=f"arn:aws:ecs:us-east-1:1:task/c/{number}",
            stopped_at=(CREATED + timedelta(seconds=30)).isoformat(),
            error="cancelled before it ran: no longer needed" if cancelled else None,
        )
        if status.is_final:
            batch = replace(batch, scenes_succeeded=sum(ok), scenes_failed=size - sum(ok))
        else:  # some scenes reported so far, as the result records arrived
            seen = draw(st.integers(0, size))
            seen_ok = sum(ok[:seen])
            batch = replace(batch, reported_succeeded=seen_ok, reported_failed=seen - seen_ok)
        batches.append(batch)
        outcomes.update(zip(names, ok, strict=True))
    return batches, outcomes


def entries(batches: list[Batch], outcomes: dict[str, bool]) -> list[dict[str, Any]]:
    """The scene lines the batches' summaries hold: a record for each rendered scene."""
    lines = []
    for batch in batches:
        for name in (n for n in outcomes if n.startswith(f"b{batch.batch_number}_")):
            record = SceneResult(
                job_id=batch.job_id,
                batch_number=batch.batch_number,
                attempt=1,
                scene_name=name,
                status=SceneStatus.SUCCEEDED,
                output_key=f"outputs/{batch.job_id}/{name}.mp4",
            )
            lines.append(scene_entry(name, batch, record if outcomes[name] else None))
    return lines


def shown(line: str) -> SceneCounts:
    match = SCENES.search(line)
    assert match is not None, line
    return SceneCounts(int(match[2]), int(match[1]), int(match[3] or 0))


def client_views(document: dict[str, Any]) -> dict[str, SceneCounts]:
    view = JobView.from_document(document)
    views = {
        "status/watch line": shown(progress_line(view)),
        "jobs line": shown(scenes_text(view.counts, noun=False)),
    }
    if view.is_final:
        views["outcome line"] = shown(outcome_line(view))
    return views


def report_counts(report: dict[str, Any]) -> SceneCounts:
    return SceneCounts(report["total_scenes"], report["successful_scenes"], report["failed_scenes"])


def status_counts(document: dict[str, Any]) -> SceneCounts:
    return SceneCounts(
        document["total_scenes"], document["scenes_succeeded"], document["scenes_failed"]
    )


@settings(max_examples=60, deadline=None)
@given(mix=batch_mixes(ended=True), cancelled=st.booleans())
def test_an_ended_job_shows_one_count_everywhere(mix, cancelled):
    batches, outcomes = mix
    running = job(
        total_scenes=len(outcomes),
        batches_total=len(batches),
        cancel_reason="no longer needed" if cancelled else None,
    )
    ok = sum(outcomes.values())
    status = JobStatus.CANCELLED if cancelled else scenes_status(ok, len(outcomes))
    at = CREATED + timedelta(minutes=1)

    report = build_job_report(running, status, batches, entries(batches, outcomes), at)
    ended = running.finish(status, at.isoformat(), report["errors"])
    assert ended is not None
    document = build_status(ended, progress(ended, batches), at)
    webhook = webhook_data(report, None)

    truth = SceneCounts(len(outcomes), ok, len(outcomes) - ok)
    views = {
        "status.json": status_counts(document),
        "job.json": report_counts(report),
        "webhook": report_counts(webhook),
        "report as status": JobView.from_report(report).counts,
        **client_views(document),
    }
    assert views == dict.fromkeys(views, truth)
    assert document["errors"] == webhook["errors"] == report["errors"][:20]
    assert document["errors_total"] == webhook["errors_total"] == truth.failed


@settings(max_examples=40, deadline=None)
@given(mix=batch_mixes(ended=False))
def test_a_running_job_shows_one_count_everywhere(mix):
    batches, outcomes = mix
    running = job(total_scenes=len(outcomes), batches_total=len(batches))

    document = build_status(running, progress(running, batches), CREATED + timedelta(seconds=9))

    final = [b for b in batches if b.is_final]
    live = [b for b in batches if not b.is_final]
    ok = sum(b.scenes_succeeded for b in final) + sum(b.reported_succeeded for b in live)
    failed = sum(b.scenes_failed for b in final) + sum(b.reported_failed for b in live)
    truth = SceneCounts(len(outcomes), ok, failed)
    views = {"status.json": status_counts(document), **client_views(document)}
    assert views == dict.fromkeys(views, truth)
    assert (document["eta_seconds"] is None) == (truth.done == 0 and truth.total > 0)


@settings(max_examples=20, deadline=None)
@given(listed=st.integers(0, 50), reasons=st.integers(1, 80))
def test_a_rejected_job_counts_the_scenes_its_manifest_listed_everywhere(listed, reasons):
    errors = [f"scenes[{i}].image_path: missing" for i in range(reasons)]
    at = CREATED + timedelta(seconds=1)
    rejected = job(status=JobStatus.REJECTED, total_scenes=listed, errors=errors[:50])
    rejected = replace(rejected, errors_total=reasons)

    report = build_rejection_report(rejected, errors, at)
    document = build_status(rejected, progress(rejected, []), at)
    webhook = webhook_data(report, None)

    truth = SceneCounts(listed, 0, listed)
    views = {
        "status.json": status_counts(document),
        "job.json": report_counts(report),
        "webhook": report_counts(webhook),
        **client_views(document),
    }
    assert views == dict.fromkeys(views, truth)
    assert document["errors_total"] == webhook["errors_total"] == reasons
