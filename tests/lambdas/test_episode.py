"""A job with an ``episode``: one assembly batch after the scene batches, then the job ends.

The assembly batch is a batch like the others (launch, slots, Spot retry, cancel, cost); the
job's report and webhook carry what its task recorded, or why there is no episode.
"""

from __future__ import annotations

import pytest

from chalicelib.contracts import (
    BatchSpec,
    EpisodeRecord,
    SceneStatus,
    batch_spec_key,
    episode_key,
    episode_record_key,
)
from chalicelib.model import BatchStatus, JobStatus

SCENES = ["scene_001", "scene_002", "scene_003", "scene_004"]
EPISODE = {"name": "ep1", "transition": {"type": "fade", "duration": 0.5}, "pause": 0.2}
SPOT_REASON = "Your Spot Task was interrupted."


def start_job(aws, episode=None, **options):
    aws.put_assets(SCENES)
    return aws.submit(
        SCENES,
        scenes_per_batch=2,
        max_parallel_tasks=2,
        config_priority=5,
        episode=episode or EPISODE,
        **options,
    )


def render_everything(aws, job_id, outcome="succeeded"):
    tasks = aws.tasks_by_batch()
    aws.write_results(job_id, dict.fromkeys(SCENES[:2], "succeeded"), batch_number=1)
    aws.write_results(job_id, dict.fromkeys(SCENES[2:], outcome), batch_number=2)
    aws.stop(tasks[1])
    aws.stop(tasks[2], exit_code=0 if outcome == "succeeded" else 1)


def assembly_task(aws, job_id):
    batch = aws.svc.jobs.get_batch(job_id, 3)
    [task] = [t for t in aws.tasks() if t["taskArn"] == batch.task_arn]
    return task


def write_episode(aws, job_id, *, ok=True, attempt=1):
    record = EpisodeRecord(
        job_id=job_id,
        attempt=attempt,
        status=SceneStatus.SUCCEEDED if ok else SceneStatus.FAILED,
        key=episode_key(job_id, "ep1") if ok else None,
        duration=12.5 if ok else 0.0,
        bytes=4_000_000 if ok else 0,
        loudness_lufs=-16.1 if ok else None,
        true_peak_db=-1.6 if ok else None,
        seams_reencoded=3 if ok else 0,
        subtitles_keys=[episode_key(job_id, "ep1", ".srt")] if ok else [],
        error=None if ok else "scene 'scene_002': its MP4 holds no video frames",
    )
    aws.documents.put(episode_record_key(job_id), record.model_dump_json())


def test_the_specs_place_keyframes_at_the_transitions_and_the_assembly_spec_waits(aws):
    job_id = start_job(aws)

    first = BatchSpec.model_validate(aws.documents.get_json(batch_spec_key(job_id, 1)))
    second = BatchSpec.model_validate(aws.documents.get_json(batch_spec_key(job_id, 2)))
    reaches = [s.keyframe_reach for s in first.scenes + second.scenes]
    # the first scene has no transition into it, the last none out of it
    assert reaches[0][0] == 0
    assert reaches[-1][1] == 0
    assert all(head > 0 for head, _ in reaches[1:])
    assert all(tail > 0 for _, tail in reaches[:-1])
    assert first.sheet_scenes == SCENES
    assembly = BatchSpec.model_validate(aws.documents.get_json(batch_spec_key(job_id, 3)))
    assert assembly.kind == "assembly"
    assert [s.scene_name for s in assembly.scenes] == SCENES
    assert assembly.episode is not None
    assert assembly.episode["name"] == "ep1"
    # only the scene batches are queued until every scene has rendered
    assert [b.batch_number for b in aws.batches(job_id)] == [1, 2]
    assert aws.status(job_id)["phase"] == "rendering"


def test_the_job_ends_after_its_episode_with_the_episode_in_the_report_and_webhook(aws):
    job_id = start_job(aws)

    render_everything(aws, job_id)

    # then the assembly batch runs and the job goes on
    assert aws.job(job_id).status is JobStatus.RUNNING
    status = aws.status(job_id)
    assert (status["phase"], status["tasks_running"], status["batches_total"]) == (
        "assembling", 1, 3,
    )  # fmt: skip
    assert aws.receiver.deliveries == []
    task = assembly_task(aws, job_id)
    assert task["startedBy"].endswith("/0003")

    write_episode(aws, job_id)
    aws.stop(task, seconds=30)

    report = aws.report(job_id)
    assert report["status"] == "SUCCEEDED"
    assert report["episode"] == {
        "key": f"outputs/{job_id}/ep1.mp4",
        "duration": 12.5,
        "bytes": 4_000_000,
        "loudness_lufs": -16.1,
        "true_peak_db": -1.6,
        "seams_reencoded": 3,
        "subtitles_keys": [f"outputs/{job_id}/ep1.srt"],
    }
    assert report["tasks_used"] == 3
    assert report["task_results"][2]["billed_seconds"] == 60  # the assembly's minimum
    assert report["total_cost_usd"] == pytest.approx(
        sum(t["cost_usd"] for t in report["task_results"]), abs=1e-6
    )
    assert (report["successful_scenes"], report["failed_scenes"]) == (4, 0)
    [delivery] = aws.receiver.wait_for(1)
    assert delivery.type == "job.succeeded"
    assert delivery.body["data"]["episode"]["key"] == f"outputs/{job_id}/ep1.mp4"
    assert aws.status(job_id)["phase"] == "ended"
    assert aws.svc.slots.taken() == 0


def test_a_failed_scene_ends_the_job_partial_with_the_reason_and_no_assembly(aws):
    job_id = start_job(aws)

    render_everything(aws, job_id, outcome="failed")

    report = aws.report(job_id)
    assert report["status"] == "PARTIAL"
    assert report["episode"] is None
    assert "episode not assembled: 2 of 4 scenes failed" in report["errors"]
    assert [b.batch_number for b in aws.batches(job_id)] == [1, 2]
    assert len(aws.tasks()) == 2
    [delivery] = aws.receiver.wait_for(1)
    assert delivery.type == "job.partial"
    assert delivery.body["data"]["episode"] is None


def test_a_failed_assembly_ends_the_job_partial_keeping_every_scene(aws):
    job_id = start_job(aws)
    render_everything(aws, job_id)

    write_episode(aws, job_id, ok=False)
    aws.stop(assembly_task(aws, job_id), exit_code=1)

    report = aws.report(job_id)
    assert (report["status"], report["successful_scenes"], report["episode"]) == (
        "PARTIAL", 4, None,
    )  # fmt: skip
    assert report["errors"] == [
        "episode not assembled: scene 'scene_002': its MP4 holds no video frames"
    ]
    assert len(report["outputs"]) == 4


def test_a_cancel_during_assembly_stops_its_task_and_ends_the_job_without_episode(aws):
    job_id = start_job(aws)
    render_everything(aws, job_id)
    task = assembly_task(aws, job_id)

    aws.request_cancel(job_id, "wrong music")

    described = {t["taskArn"]: t for t in aws.tasks()}
    assert described[task["taskArn"]]["desiredStatus"] == "STOPPED"
    aws.stop(task, stop_code="UserInitiated", exit_code=143)

    report = aws.report(job_id)
    assert (report["status"], report["cancel_reason"], report["episode"]) == (
        "CANCELLED", "wrong music", None,
    )  # fmt: skip
    assert "episode not assembled: the job was cancelled" in report["errors"]
    assert report["tasks_used"] == 3
    assert [d.type for d in aws.receiver.wait_for(1)] == ["job.cancelled"]
    assert aws.svc.jobs.get_batch(job_id, 3).status is BatchStatus.FAILED
    assert aws.svc.slots.taken() == 0


def test_a_spot_interrupted_assembly_runs_again_and_its_cost_is_counted(aws):
    job_id = start_job(aws, spot=True)
    render_everything(aws, job_id)
    first = assembly_task(aws, job_id)

    aws.stop(first, exit_code=None, seconds=40, stop_code="SpotInterruption", reason=SPOT_REASON)

    batch = aws.svc.jobs.get_batch(job_id, 3)
    assert (batch.status, batch.attempt, batch.last_stop_code) == (
        "RUNNING", 2, "SpotInterruption",
    )  # fmt: skip
    retry = assembly_task(aws, job_id)
    assert retry["taskArn"] != first["taskArn"]
    assert aws.job(job_id).status is JobStatus.RUNNING

    write_episode(aws, job_id, attempt=2)
    aws.stop(retry, seconds=30)

    report = aws.report(job_id)
    assert report["status"] == "SUCCEEDED"
    assert report["episode"]["key"] == f"outputs/{job_id}/ep1.mp4"
    assembly = report["task_results"][2]
    assert (assembly["attempt"], assembly["retried_after"]) == (2, "SpotInterruption")
    assert assembly["billed_seconds"] == 120  # both attempts' one-minute minimum
    assert report["tasks_used"] == 4


def test_a_manifest_without_episode_ends_after_its_scenes_as_before(aws):
    aws.put_assets(SCENES)
    job_id = aws.submit(SCENES, scenes_per_batch=2, max_parallel_tasks=2)

    render_everything(aws, job_id)

    report = aws.report(job_id)
    assert report["status"] == "SUCCEEDED"
    assert "episode" not in report
    assert [b.batch_number for b in aws.batches(job_id)] == [1, 2]


def test_missing_music_and_bad_episode_fields_reject_the_job_naming_each(aws):
    aws.put_assets(SCENES)
    episode = {
        "name": "scene_001",
        "transition": {"type": "spin", "duration": 3},
        "music": {"path": "inputs/ep1/music.mp3", "volume": 2},
        "loudness": {"target_lufs": -16, "colour": "red"},
    }

    job_id = aws.submit(SCENES, episode=episode)

    report = aws.report(job_id)
    assert report["status"] == "REJECTED"
    errors = "\n".join(report["errors"])
    for expected in (
        "episode.transition.type: must be one of none, fade",
        "episode.transition.duration",
        "episode.music.volume",
        "episode.loudness.colour: unknown field",
        "episode.music.path",
    ):
        assert expected in errors, errors
    assert len(report["errors"]) == 5, report["errors"]
