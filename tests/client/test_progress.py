"""What ``watch`` and ``status`` print, from the status document alone."""

from __future__ import annotations

from datetime import UTC, datetime

from cloudburst.client.progress import duration_text, eta_seconds, outcome_line, progress_line
from cloudburst.client.status import JobView

CREATED = "2026-11-29T02:00:00+00:00"


def status(**fields: object) -> JobView:
    document = {
        "job_id": "ep1-0123456789ab",
        "status": "RUNNING",
        "created_at": CREATED,
        "updated_at": CREATED,
        "finished_at": None,
        "total_scenes": 24,
        "scenes_succeeded": 0,
        "scenes_failed": 0,
        "batches_total": 3,
        "batches_final": 0,
        "tasks_running": 3,
        "batches_waiting": 0,
        "tasks_used": 3,
        "cost_usd": 0.0,
        "cost_estimated": True,
        "webhook": {"state": None, "attempts": 0, "error": None},
        "errors": [],
        "errors_total": 0,
        "metadata": None,
        "report_key": None,
        "cancel_requested": False,
        **fields,
    }
    return JobView.from_document(document)


def test_the_outcome_line_of_a_finished_job() -> None:
    done = status(
        status="SUCCEEDED",
        scenes_succeeded=24,
        finished_at="2026-11-29T02:00:41.300+00:00",
        cost_usd=0.00487,
    )

    assert outcome_line(done) == "24/24 scenes · 3 tasks · 41 s · $0.0049"


def test_progress_shows_scenes_tasks_waiting_batches_cost_and_eta() -> None:
    now = datetime(2026, 11, 29, 2, 0, 12, tzinfo=UTC)
    running = status(
        scenes_succeeded=5, scenes_failed=1, tasks_running=2, batches_waiting=1, cost_usd=0.0012
    )

    line = progress_line(running, now)

    assert line == (
        "RUNNING · 5/24 scenes (1 failed) · tasks 2 running, 1 batch waiting · 12 s · "
        "$0.0012 · ETA 36 s"
    )


def test_there_is_no_eta_before_the_first_scene_ends() -> None:
    now = datetime(2026, 11, 29, 2, 0, 5, tzinfo=UTC)

    assert eta_seconds(status(), now) is None
    assert progress_line(status(), now).endswith("ETA …")
    assert "cancel requested" in progress_line(status(cancel_requested=True), now)


def test_durations_read_as_a_person_says_them() -> None:
    assert [duration_text(s) for s in (0.4, 41, 185, 7260)] == [
        "0 s",
        "41 s",
        "3 min 05 s",
        "2 h 01 min",
    ]


def test_a_report_of_a_job_older_than_status_documents_reads_as_a_final_status() -> None:
    report = {
        "job_id": "old-0123456789ab",
        "status": "PARTIAL",
        "created_at": CREATED,
        "finished_at": "2026-11-29T02:01:00+00:00",
        "total_scenes": 3,
        "successful_scenes": 2,
        "failed_scenes": 1,
        "total_cost_usd": 0.002,
        "tasks_used": 1,
        "task_results": [{"batch_number": 1}],
        "errors": ["scene_003: audio has no stream"],
    }

    old = JobView.from_report(report)

    assert old.is_final
    assert outcome_line(old) == "2/3 scenes (1 failed) · 1 task · 1 min 00 s · $0.0020"
    assert old.errors == ("scene_003: audio has no stream",)
