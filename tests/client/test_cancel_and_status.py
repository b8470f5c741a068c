"""``cancel`` writes its request only for a job still running, and ``status``/``jobs`` read S3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cloudburst.client.cancel import UnknownJob, cancel_job
from cloudburst.client.connection import Connection
from cloudburst.client.fetch import NothingToFetch, fetch_job, results_directory
from cloudburst.client.listing import recent_jobs
from cloudburst.client.status import read_status
from tests.client.conftest import BUCKET


def put_status(s3: Any, job_id: str, **fields: Any) -> None:
    document = {
        "job_id": job_id,
        "status": "RUNNING",
        "created_at": "2026-11-29T02:00:00+00:00",
        "updated_at": "2026-11-29T02:00:05+00:00",
        "finished_at": None,
        "total_scenes": 4,
        "scenes_succeeded": 1,
        "scenes_failed": 0,
        "tasks_running": 2,
        "cancel_requested": False,
        **fields,
    }
    s3.put_object(Bucket=BUCKET, Key=f"outputs/{job_id}/status.json", Body=json.dumps(document))


def test_cancelling_a_running_job_writes_the_request_with_its_reason(
    s3: Any, connection: Connection
) -> None:
    put_status(s3, "ep1-aaaaaaaaaaaa")

    result = cancel_job(connection, "ep1-aaaaaaaaaaaa", "wrong narration")

    assert result.outcome == "requested"
    body = s3.get_object(Bucket=BUCKET, Key="cancel/ep1-aaaaaaaaaaaa.json")["Body"].read()
    assert json.loads(body) == {"reason": "wrong narration"}


@pytest.mark.parametrize(
    ("fields", "outcome", "says"),
    [
        ({"cancel_requested": True}, "already_requested", "already requested; nothing changed"),
        ({"status": "CANCELLED"}, "already_ended", "already ended CANCELLED; nothing changed"),
        ({"status": "SUCCEEDED"}, "already_ended", "already ended SUCCEEDED; nothing changed"),
    ],
)
def test_cancelling_twice_or_after_the_end_writes_nothing_and_says_so(
    s3: Any, connection: Connection, fields: dict[str, Any], outcome: str, says: str
) -> None:
    put_status(s3, "ep1-bbbbbbbbbbbb", **fields)

    result = cancel_job(connection, "ep1-bbbbbbbbbbbb")

    assert result.outcome == outcome
    assert says in result.message
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="cancel/")["KeyCount"] == 0


def test_cancelling_an_unknown_job_is_an_error(connection: Connection) -> None:
    with pytest.raises(UnknownJob, match="no job 'nope'"):
        cancel_job(connection, "nope", wait_seconds=0.2)


def test_a_job_whose_status_document_appears_while_cancel_waits_is_cancelled(
    s3: Any, connection: Connection
) -> None:
    # given a job just submitted: its status document appears on the second look
    def pipeline_catches_up(seconds: float) -> None:
        put_status(s3, "ep1-eeeeeeeeeeee")

    result = cancel_job(connection, "ep1-eeeeeeeeeeee", sleep=pipeline_catches_up)

    assert result.outcome == "requested"


def test_a_long_reason_is_cut_to_stay_under_a_kilobyte(s3: Any, connection: Connection) -> None:
    put_status(s3, "ep1-cccccccccccc")

    cancel_job(connection, "ep1-cccccccccccc", "因" * 2000)

    body = s3.get_object(Bucket=BUCKET, Key="cancel/ep1-cccccccccccc.json")["Body"].read()
    assert len(body) <= 1024


def test_status_prefers_the_status_document_and_falls_back_to_the_report(
    s3: Any, connection: Connection
) -> None:
    put_status(s3, "new-000000000001", scenes_succeeded=3)
    s3.put_object(
        Bucket=BUCKET,
        Key="outputs/old-000000000002/job.json",
        Body=json.dumps({"job_id": "old-000000000002", "status": "FAILED", "total_scenes": 2}),
    )

    new = read_status(s3, BUCKET, "new-000000000001")
    old = read_status(s3, BUCKET, "old-000000000002")

    assert new is not None
    assert (new.status, new.scenes_succeeded) == ("RUNNING", 3)
    assert old is not None
    assert (old.status, old.total_scenes, old.is_final) == ("FAILED", 2, True)
    assert read_status(s3, BUCKET, "missing") is None


def test_jobs_lists_the_most_recently_updated_first(s3: Any, connection: Connection) -> None:
    put_status(s3, "a-000000000001", updated_at="2026-11-29T02:00:01+00:00")
    put_status(s3, "b-000000000002", updated_at="2026-11-29T02:09:00+00:00")
    put_status(s3, "c-000000000003", updated_at="2026-11-29T02:05:00+00:00")

    found = recent_jobs(connection, limit=2)

    assert [job.job_id for job in found] == ["b-000000000002", "c-000000000003"]


def test_fetch_downloads_the_outputs_and_the_folder_follows_the_earlier_priority(
    s3: Any, connection: Connection, tmp_path: Path
) -> None:
    for name in ("scene_001.mp4", "scene_002.mp4", "job.json"):
        s3.put_object(Bucket=BUCKET, Key=f"outputs/ep1-dddddddddddd/{name}", Body=name.encode())

    fetched = fetch_job(connection, "ep1-dddddddddddd", tmp_path / "out")

    assert [p.name for p in fetched.files] == ["job.json", "scene_001.mp4", "scene_002.mp4"]
    assert (tmp_path / "out/scene_002.mp4").read_bytes() == b"scene_002.mp4"
    assert [p.name for p in fetched.videos] == ["scene_001.mp4", "scene_002.mp4"]
    assert results_directory("j", Path("given"), {"RESULTS_DIR": "env"}) == Path("given")
    assert results_directory("j", None, {"RESULTS_DIR": "env"}) == Path("env/j")
    assert results_directory("j", None, {}) == Path("cloudburst_results/j")
    with pytest.raises(NothingToFetch):
        fetch_job(connection, "nothing-here", tmp_path / "none")
