"""Events EventBridge gave up on come back from the rules' dead-letter queues, so no upload
is lost without a trace."""

from __future__ import annotations

import json

from chalicelib.model import JobStatus


def dead_letter_queue(aws, with_settings) -> str:
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/cloudburst-local-manifest-dlq"
    with_settings(aws, dead_letter_queues=[url])
    return url


def test_an_upload_whose_event_never_reached_its_handler_becomes_a_job_at_the_next_sweep(
    aws, with_settings
):
    queue = dead_letter_queue(aws, with_settings)
    aws.put_assets(["one"])
    # given the upload's event ended in the rule's dead-letter queue, as EventBridge puts it
    lost = aws.upload_manifest(["one"])
    aws.dead_letters.send(queue, json.dumps(lost))

    result = aws.sweep()

    assert result["redriven"] == 1
    [task] = aws.tasks()
    job_id = task["startedBy"].split("/")[1]
    assert aws.job(job_id).status is JobStatus.RUNNING
    assert aws.dead_letters.queues[queue] == []
    assert aws.sweep()["redriven"] == 0  # handled once


def test_a_dead_letter_that_fails_again_stays_for_a_later_sweep(aws, with_settings):
    queue = dead_letter_queue(aws, with_settings)
    aws.dead_letters.send(queue, json.dumps({"source": "aws.s3"}))
    aws.dead_letters.send(queue, "not an event")

    result = aws.sweep()

    assert result["redriven"] == 0
    assert len(aws.dead_letters.queues[queue]) == 2  # left, hidden until their timeout
    assert aws.sweep()["redriven"] == 0
    aws.dead_letters.reappear()
    assert aws.sweep()["redriven"] == 0  # tried again, failing again


def test_a_result_records_lost_event_counts_its_scene_at_the_next_sweep(aws, with_settings):
    queue = dead_letter_queue(aws, with_settings)
    aws.put_assets(["one", "two"])
    job_id = aws.submit(["one", "two"], min_scenes_per_batch=1)
    # given the worker wrote a result record whose event ended in a dead-letter queue
    aws.write_results(job_id, {"one": "succeeded"})
    lost = aws.created_event(f"jobs/{job_id}/results/one.json", b"{}")
    aws.dead_letters.send(queue, json.dumps(lost))

    assert aws.sweep()["redriven"] == 1

    assert aws.job(job_id).status is JobStatus.RUNNING  # not taken for a manifest
    assert aws.status(job_id)["scenes_succeeded"] == 1
