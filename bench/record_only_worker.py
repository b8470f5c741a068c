"""A stand-in worker for the orchestration bench: reports every scene of its batch rendered
without rendering it, so a 10,000-scene job exercises only the pipeline around the worker."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

from chalicelib.contracts import BATCH_SPEC_ENV, BatchSpec, SceneResult, split_s3_uri


def main() -> None:
    bucket, key = split_s3_uri(os.environ[BATCH_SPEC_ENV])
    # a loaded machine (bench --hog) makes moto slow to accept: retry, as a worker would
    s3 = boto3.client(
        "s3", config=Config(retries={"mode": "standard", "max_attempts": 10}, connect_timeout=20)
    )
    spec = BatchSpec.model_validate_json(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def report(name: str) -> None:
        record = SceneResult(
            job_id=spec.job_id,
            batch_number=spec.batch_number,
            attempt=spec.attempt,
            scene_name=name,
            status="succeeded",
            output_key=f"{spec.outputs_prefix}{name}.mp4",
            bytes=1,
            duration_seconds=1.0,
            render_seconds=1.0,
        )
        s3.put_object(
            Bucket=spec.bucket,
            Key=f"{spec.results_prefix}{name}.json",
            Body=json.dumps(record.model_dump(mode="json")).encode(),
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(report, [scene.scene_name for scene in spec.scenes]))


if __name__ == "__main__":
    main()
