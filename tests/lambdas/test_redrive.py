"""Events EventBridge gave up on come back from the rules' dead-letter queues, so no upload
is lost without a trace."""

from __future__ import annotations

import json

from chalicelib.model import JobStatus


def dead_letter_queue(aws, with_settings) -> str:
    url = aws.svc.sqs.create_queue(QueueName="cloudburst-local-manifest-dlq")["QueueUrl"]
    with_settings(aws, dead_letter_queues=[url])
    return url


def test_an_upload_whose_event_never_reached_its_handler_becomes_a_job_at_the_next_sweep(
    aws, with_settings
):
    queue = dead_letter_queue(aws, with_settings)
    aws.put_assets(["one"])
    # given the upload's event ended in the rule's dead-letter queue, as EventBridge puts it
    lost = aws.upload_manifest(["one"])
    aws.svc.sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(lost))

    result = aws.sweep()

    assert result["redriven"] == 1
    [task] = aws.tasks()
    job_id = task["startedBy"].split("/")[1]
    assert aws.job(job_id).status is JobStatus.RUNNING
    assert "Messages" not in aws.svc.sqs.receive_message(QueueUrl=queue)
    assert aws.sweep()["redriven"] == 0  # handled once


def test_a_dead_letter_that_fails_again_stays_for_a_later_sweep(aws, with_settings):
    queue = dead_letter_queue(aws, with_settings)
    aws.svc.sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"source": "aws.s3"}))
    aws.svc.sqs.send_message(QueueUrl=queue, MessageBody="not an event")

    result = aws.sweep()

    assert result["redriven"] == 0
    attributes = aws.svc.sqs.get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "2"
