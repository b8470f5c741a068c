"""Every upload ends in a verdict: 300 generated manifests through the intake use case, each
ending as a RUNNING job with its batches or a REJECTED one with reasons and a report — never
an exception, never a job in between.

Fixed seed and budget (``derandomize``), so CI runs the same 300 uploads in bounded time; the
parser's own fuzz suite (tests/unit/test_manifest_fuzz.py) covers bytes far more widely.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.events import ObjectCreatedEvent
from chalicelib.model import JobStatus
from chalicelib.usecases import intake

UPLOADS = 300
NAMES = ["s1", "s2", "s3"]  # scenes whose assets exist

hostile_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.sampled_from(["\ud800", "../x", "s3://", "a/b", "x" * 300, "场景", "http://10.0.0.1/"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
fields = st.sampled_from(
    [
        "scenes", "language", "enable_zoom", "is_portrait", "watermark_path", "background_box",
        "background_opacity", "scenes_per_batch", "max_parallel_tasks", "min_scenes_per_batch",
        "config_priority", "spot", "webhook_url", "metadata", "saving_dir", "version", "colour",
    ]
)  # fmt: skip
scene_fields = st.sampled_from(["scene_name", "image_path", "audio_path", "subtitle_path", "x"])


@st.composite
def manifests(draw: st.DrawFn) -> bytes:
    """A valid manifest, then a few fields (top level or in a scene) set to hostile values;
    now and then raw bytes instead."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    scenes: list[Any] = [
        {
            "scene_name": name,
            "image_path": f"inputs/fz/{name}.png",
            "audio_path": f"inputs/fz/{name}.mp3",
        }
        for name in draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True))
    ]
    document: dict[str, Any] = {"version": 1, "scenes": scenes, "scenes_per_batch": 1}
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            document[draw(fields)] = draw(hostile_values)
        elif isinstance(document.get("scenes"), list) and document["scenes"]:
            scene = draw(st.sampled_from(document["scenes"]))
            if isinstance(scene, dict):
                scene[draw(scene_fields)] = draw(hostile_values)
    return json.dumps(document, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")


def test_every_generated_upload_ends_as_a_running_or_a_rejected_job(aws):
    for name in NAMES:
        aws.put_assets([name], folder="inputs/fz")
    verdicts: dict[JobStatus, int] = {}

    @settings(
        max_examples=UPLOADS,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(body=manifests())
    def upload(body: bytes) -> None:
        event = ObjectCreatedEvent.model_validate(aws.upload_raw(body, "manifests/fuzz.json"))
        verdict = intake.submit_manifest(event, aws.svc)
        job = aws.job(verdict.job_id)
        assert verdict.status is job.status
        assert job.status in (JobStatus.RUNNING, JobStatus.REJECTED), job
        if job.status is JobStatus.REJECTED:
            report = aws.report(job.job_id)
            assert report["errors"]
            assert job.errors
            assert job.errors_total == len(report["errors"])
        else:
            assert len(aws.batches(job.job_id)) == job.batches_total >= 1
        verdicts[job.status] = verdicts.get(job.status, 0) + 1

    upload()

    assert sum(verdicts.values()) == UPLOADS
    assert verdicts[JobStatus.RUNNING] >= 30, verdicts  # the generator reaches both verdicts
    assert verdicts[JobStatus.REJECTED] >= 100, verdicts
