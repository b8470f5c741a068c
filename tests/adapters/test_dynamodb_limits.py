"""DynamoDB's 400 KB item limit: a job with thousands of reasons or of long scene names is
stored whole where it must be (the report, the batch spec) and summarised where it cannot."""

from __future__ import annotations

import json

from chalicelib.model import MAX_STORED_ERRORS, BatchStatus, JobStatus


def rejected(aws, event: dict) -> tuple[str, dict]:
    job_id = aws.deliver(event)
    assert aws.job(job_id).status is JobStatus.REJECTED
    return job_id, aws.report(job_id)


def test_thousands_of_reasons_are_kept_whole_in_the_report_and_summarised_on_the_job(
    aws_dynamo,
):
    aws = aws_dynamo
    names = [f"scene-{i:05d}-{'x' * 100}" for i in range(2_500)]

    job_id, report = rejected(aws, aws.upload_manifest(names, scenes_per_batch=1000))

    assert len(report["errors"]) == 5_000
    job = aws.job(job_id)
    assert (len(job.errors), job.errors_total) == (MAX_STORED_ERRORS, 5_000)
    [delivery] = aws.receiver.wait_for(1, timeout=5)
    assert delivery.body["data"]["errors_total"] == 5_000
    assert len(delivery.raw) <= 64 * 1024


def test_a_batch_of_thousands_of_long_names_runs(aws_dynamo):
    aws = aws_dynamo
    # 3,400 names of 120 characters: 408 KB of names, past DynamoDB's 400 KB item limit
    names = [f"scene-{i:05d}-{'x' * 108}" for i in range(3_400)]
    aws.s3.put_object(Bucket=aws.bucket, Key="inputs/a.png", Body=b"png")
    aws.s3.put_object(Bucket=aws.bucket, Key="inputs/a.mp3", Body=b"mp3")
    document = {
        "scenes": [
            {"scene_name": n, "image_path": "inputs/a.png", "audio_path": "inputs/a.mp3"}
            for n in names
        ],
        "scenes_per_batch": 1000,
        "max_parallel_tasks": 1,
    }

    job_id = aws.deliver(aws.upload_raw(json.dumps(document, ensure_ascii=False).encode()))

    assert aws.job(job_id).status is JobStatus.RUNNING
    [batch] = aws.batches(job_id)
    assert (batch.status, batch.scene_count) == (BatchStatus.RUNNING, 3_400)
