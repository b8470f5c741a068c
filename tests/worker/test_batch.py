"""run_batch against moto S3 with the real renderer: S3 in, MP4s and result records out."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import av
from botocore.exceptions import ClientError
from cloudburst_worker.batch import BatchRun, run_batch
from cloudburst_worker.render import RenderResult, RenderSettings, SceneInput, render_scene

from chalicelib.contracts import SceneResult, SceneSpec, output_key, poster_key, result_key

from .conftest import (
    BUCKET,
    JOB_ID,
    OTHER_BUCKET,
    CountingS3,
    Media,
    make_spec,
    put_file,
    scene_with_assets,
)


def read_record(s3: Any, scene_name: str) -> SceneResult:
    body = s3.get_object(Bucket=BUCKET, Key=result_key(JOB_ID, scene_name))["Body"].read()
    return SceneResult.model_validate_json(body)


def files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()]


def test_every_scene_succeeds_with_its_mp4_and_record_in_s3(
    s3: Any, media: Media, tmp_path: Path
) -> None:
    # given two scenes, one of them with its assets in another team's bucket
    spec = make_spec(
        [
            scene_with_assets(s3, media, "scene_001"),
            scene_with_assets(s3, media, "scene_002", bucket=OTHER_BUCKET),
        ]
    )

    # when the batch runs
    outcome = run_batch(spec, s3, tmp_path)

    # then both scenes succeeded, each MP4 is in S3 before its record says so, exit code 0
    assert outcome.exit_code == 0
    assert [r.scene_name for r in outcome.succeeded] == ["scene_001", "scene_002"]
    for name in ("scene_001", "scene_002"):
        record = read_record(s3, name)
        head = s3.head_object(Bucket=BUCKET, Key=output_key(JOB_ID, name))
        assert record.status == "succeeded"
        assert record.output_key == output_key(JOB_ID, name)
        assert record.bytes == head["ContentLength"] > 0
        assert head["ContentType"] == "video/mp4"
        assert abs(record.duration_seconds - 1.0) < 0.1
        assert record.render_seconds > 0
        assert (record.reused, record.error, record.attempt) == (False, None, 1)
    # and no local asset or output is left on the task's disk
    assert files_under(tmp_path) == []


def test_rendered_mp4_is_1080p_h264_aac_as_long_as_the_narration(
    s3: Any, media: Media, tmp_path: Path
) -> None:
    # given a single plain scene
    spec = make_spec([scene_with_assets(s3, media, "scene_001")])

    # when it is rendered and fetched back from S3
    assert run_batch(spec, s3, tmp_path).exit_code == 0
    local = tmp_path / "fetched.mp4"
    s3.download_file(BUCKET, output_key(JOB_ID, "scene_001"), str(local))

    # then it is 1920x1080 H.264 + AAC lasting the audio's one second (within a frame)
    with av.open(str(local)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.name, audio.codec_context.name) == ("h264", "aac")
        assert (video.codec_context.width, video.codec_context.height) == (1920, 1080)
        assert container.duration is not None
        assert abs(container.duration / av.time_base - 1.0) <= 1 / 30 + 0.03


def test_missing_asset_fails_only_its_scene_with_an_error_naming_it(
    s3: Any, media: Media, tmp_path: Path
) -> None:
    # given three scenes, the second of which points at narration that is not in S3
    missing_audio = f"s3://{BUCKET}/inputs/nowhere.mp3"
    second = scene_with_assets(s3, media, "scene_002").model_copy(
        update={"audio_uri": missing_audio}
    )
    spec = make_spec(
        [
            scene_with_assets(s3, media, "scene_001"),
            second,
            scene_with_assets(s3, media, "scene_003"),
        ]
    )

    # when the batch runs
    outcome = run_batch(spec, s3, tmp_path)

    # then that scene failed, naming itself, the asset's role and URI; the others succeeded
    assert outcome.exit_code == 1
    assert [r.scene_name for r in outcome.succeeded] == ["scene_001", "scene_003"]
    failed = read_record(s3, "scene_002")
    assert failed.status == "failed"
    assert failed.output_key is None
    assert failed.error is not None
    assert "'scene_002'" in failed.error
    assert f"audio {missing_audio}" in failed.error
    assert "not found" in failed.error
    objects = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"outputs/{JOB_ID}/")["Contents"]
    assert sorted(o["Key"] for o in objects) == [
        poster_key(JOB_ID, "scene_001"),  # a poster for each rendered scene
        poster_key(JOB_ID, "scene_003"),
        output_key(JOB_ID, "scene_001"),
        output_key(JOB_ID, "scene_003"),
    ]


def test_asset_keys_ending_in_dot_segments_fail_only_their_scene_with_a_clear_reason(
    s3: Any, media: Media, tmp_path: Path
) -> None:
    # given scenes whose image keys end in "/.." and "/." (free text in S3), and a good one
    dotted = [f"s3://{BUCKET}/inputs/..", f"s3://{BUCKET}/inputs/."]
    scenes = [
        scene_with_assets(s3, media, f"scene_00{i}").model_copy(update={"image_uri": uri})
        for i, uri in enumerate(dotted, start=1)
    ]
    scenes.append(scene_with_assets(s3, media, "scene_003"))

    # when the batch runs
    outcome = run_batch(make_spec(scenes), s3, tmp_path)

    # then each dotted scene failed saying its image was not found (no worker crash)
    assert [r.scene_name for r in outcome.succeeded] == ["scene_003"]
    for name, uri in zip(["scene_001", "scene_002"], dotted, strict=True):
        error = read_record(s3, name).error or ""
        assert error == f"scene '{name}': image {uri} could not be downloaded: object not found"


def test_render_failure_is_recorded_and_leaves_no_mp4(
    s3: Any, media: Media, tmp_path: Path
) -> None:
    # given a scene whose "image" is not an image at all
    spec = make_spec([scene_with_assets(s3, media, "scene_001", image=media.not_an_image)])

    # when the batch runs with the real renderer
    outcome = run_batch(spec, s3, tmp_path)

    # then the scene failed with the renderer's reason and nothing was uploaded
    assert outcome.exit_code == 1
    record = read_record(s3, "scene_001")
    assert record.status == "failed"
    assert record.error is not None
    assert record.error.startswith("scene 'scene_001'")
    assert "image" in record.error
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="outputs/")
    assert files_under(tmp_path) == []


def test_existing_output_is_reused_and_only_the_missing_scene_is_rendered(
    s3: Any, media: Media, tmp_path: Path
) -> None:
    # given scene_001 finished by an earlier attempt (MP4 and record) and scene_002 not
    first, second = (scene_with_assets(s3, media, n) for n in ("scene_001", "scene_002"))
    s3.put_object(Bucket=BUCKET, Key=output_key(JOB_ID, "scene_001"), Body=b"earlier mp4")
    earlier = SceneResult(
        job_id=JOB_ID,
        batch_number=1,
        attempt=1,
        scene_name="scene_001",
        status="succeeded",
        output_key=output_key(JOB_ID, "scene_001"),
        bytes=11,
        duration_seconds=4.25,
        render_seconds=3.0,
    )
    s3.put_object(
        Bucket=BUCKET, Key=result_key(JOB_ID, "scene_001"), Body=earlier.model_dump_json()
    )
    spec = make_spec([first, second]).model_copy(update={"attempt": 2})
    rendered: list[str] = []

    def real_render_recording_calls(
        scene: SceneInput, settings: RenderSettings, output: Path
    ) -> RenderResult:
        rendered.append(scene.name)
        return render_scene(scene, settings, output)

    # when the second attempt runs
    outcome = run_batch(spec, s3, tmp_path, render=real_render_recording_calls)

    # then only scene_002 was rendered; scene_001 kept its MP4 and its duration, marked reused
    assert outcome.exit_code == 0
    assert rendered == ["scene_002"]
    body = s3.get_object(Bucket=BUCKET, Key=output_key(JOB_ID, "scene_001"))["Body"].read()
    assert body == b"earlier mp4"
    reused = read_record(s3, "scene_001")
    assert (reused.status, reused.reused, reused.attempt) == ("succeeded", True, 2)
    assert (reused.duration_seconds, reused.bytes) == (4.25, 11)
    assert read_record(s3, "scene_002").reused is False


def test_output_without_an_earlier_record_is_still_reused(s3: Any, tmp_path: Path) -> None:
    # given an MP4 already in place but no record (a task stopped between the two writes)
    scene = SceneSpec(
        scene_name="scene_001",
        image_uri=f"s3://{BUCKET}/never/read.png",
        audio_uri=f"s3://{BUCKET}/never/read.mp3",
    )
    s3.put_object(Bucket=BUCKET, Key=output_key(JOB_ID, "scene_001"), Body=b"x" * 7)

    # when the batch runs
    outcome = run_batch(make_spec([scene]), s3, tmp_path, render=fail_if_called)

    # then a succeeded, reused record is written without touching the assets
    assert outcome.exit_code == 0
    record = read_record(s3, "scene_001")
    assert (record.status, record.reused, record.bytes) == ("succeeded", True, 7)


def test_watermark_and_a_shared_image_are_downloaded_once_per_batch(
    s3: Any, media: Media, tmp_path: Path
) -> None:
    # given four scenes sharing one image and a job-wide watermark
    counting = CountingS3(s3)
    image_uri = put_file(s3, media.image, BUCKET, "inputs/shared.png")
    watermark_uri = put_file(s3, media.watermark, OTHER_BUCKET, "brand/logo.png")
    scenes = [
        SceneSpec(
            scene_name=f"scene_{i:03d}",
            image_uri=image_uri,
            audio_uri=put_file(s3, media.audio, BUCKET, f"inputs/{i}.mp3"),
        )
        for i in range(1, 5)
    ]
    spec = make_spec(scenes, watermark_uri=watermark_uri)
    seen_watermarks: list[Path | None] = []

    def render_checking_watermark(
        scene: SceneInput, settings: RenderSettings, output: Path
    ) -> RenderResult:
        assert settings.watermark is not None
        assert settings.watermark.is_file()
        seen_watermarks.append(settings.watermark)
        return fake_render(scene, settings, output)

    # when the batch runs
    outcome = run_batch(spec, counting, tmp_path, render=render_checking_watermark)

    # then every scene got the watermark, and each distinct object was fetched exactly once
    assert outcome.exit_code == 0
    assert len(seen_watermarks) == 4
    assert counting.downloads[watermark_uri] == 1
    assert counting.downloads[image_uri] == 1
    assert max(counting.downloads.values()) == 1
    assert files_under(tmp_path) == []


def test_spec_options_subtitles_and_effect_reach_the_renderer(
    s3: Any, media: Media, tmp_path: Path
) -> None:
    # given a portrait Chinese job with a subtitled, panning scene
    srt = tmp_path / "lines.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\n你好\n", encoding="utf-8")
    scene = scene_with_assets(s3, media, "scene_001").model_copy(
        update={
            "subtitle_uri": put_file(s3, srt, BUCKET, "inputs/scene_001_chinese.srt"),
            "effect": "pan_left",
        }
    )
    spec = make_spec(
        [scene],
        language="chinese",
        enable_zoom=True,
        is_portrait=True,
        background_box=False,
        background_opacity=0.6,
    )
    seen: list[tuple[SceneInput, RenderSettings, str]] = []

    def recording_render(scene: SceneInput, settings: RenderSettings, output: Path) -> RenderResult:
        assert scene.subtitle is not None
        seen.append((scene, settings, scene.subtitle.read_text(encoding="utf-8")))
        return fake_render(scene, settings, output)

    # when the batch runs
    run_batch(spec, s3, tmp_path / "work", render=recording_render)

    # then the renderer got every option, the scene's effect and its downloaded SRT
    ((got, settings, subtitle_text),) = seen
    assert (got.name, got.effect, got.subtitle and got.subtitle.suffix) == (
        "scene_001",
        "pan_left",
        ".srt",
    )
    assert "你好" in subtitle_text
    assert settings == RenderSettings(
        language="chinese",
        enable_zoom=True,
        is_portrait=True,
        watermark=None,
        background_box=False,
        background_opacity=0.6,
        threads=1,
    )


def test_renders_run_one_per_vcpu_in_parallel(s3: Any, media: Media, tmp_path: Path) -> None:
    # given six scenes on a 2-vCPU task, and a renderer that only finishes in pairs
    scenes = [scene_with_assets(s3, media, f"scene_{i:03d}") for i in range(6)]
    running, peak, lock = [0], [0], threading.Lock()
    pair = threading.Barrier(2, timeout=10)  # broken (scene fails) if renders never overlap
    threads_asked: set[int] = set()

    def paired_render(scene: SceneInput, settings: RenderSettings, output: Path) -> RenderResult:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        threads_asked.add(settings.threads)
        pair.wait()
        time.sleep(0.05)  # a third render, if one were allowed, would start meanwhile
        with lock:
            running[0] -= 1
        return fake_render(scene, settings, output)

    # when the batch runs
    outcome = run_batch(make_spec(scenes, vcpu=2), s3, tmp_path, render=paired_render)

    # then exactly two single-threaded renders ran at a time
    assert outcome.exit_code == 0
    assert peak[0] == 2
    assert threads_asked == {1}


def test_fractional_vcpu_still_renders_one_scene_at_a_time(
    s3: Any, media: Media, tmp_path: Path
) -> None:
    # given a quarter-vCPU task
    scenes = [scene_with_assets(s3, media, f"scene_{i:03d}") for i in range(2)]

    # when the batch runs
    outcome = run_batch(make_spec(scenes, vcpu=0.25), s3, tmp_path, render=fake_render)

    # then it still renders every scene
    assert [r.status for r in outcome.results] == ["succeeded", "succeeded"]


def test_renderer_crash_fails_that_scene_and_the_batch_goes_on(
    s3: Any, media: Media, tmp_path: Path
) -> None:
    # given a renderer that raises for one scene (it promises not to, but bugs happen)
    scenes = [scene_with_assets(s3, media, f"scene_{i:03d}") for i in range(1, 4)]

    def render_crashing_on_two(
        scene: SceneInput, settings: RenderSettings, output: Path
    ) -> RenderResult:
        if scene.name == "scene_002":
            raise RuntimeError("boom")
        return fake_render(scene, settings, output)

    # when the batch runs
    outcome = run_batch(make_spec(scenes), s3, tmp_path, render=render_crashing_on_two)

    # then only scene_002 failed, with the crash in its record
    assert outcome.exit_code == 1
    assert [r.scene_name for r in outcome.failed] == ["scene_002"]
    assert "boom" in (read_record(s3, "scene_002").error or "")
    assert files_under(tmp_path) == []


def test_invalid_asset_uri_fails_the_scene_with_the_uri_in_the_error(
    s3: Any, media: Media, tmp_path: Path
) -> None:
    # given a scene whose image is a bare key instead of an s3:// URI
    scene = scene_with_assets(s3, media, "scene_001").model_copy(
        update={"image_uri": "inputs/scene_001.png"}
    )

    # when the batch runs
    outcome = run_batch(make_spec([scene]), s3, tmp_path, render=fail_if_called)

    # then the scene failed, saying which asset was not a URI
    error = outcome.failed[0].error or ""
    assert "scene 'scene_001'" in error
    assert "image not an s3:// URI: 'inputs/scene_001.png'" in error


def test_failed_upload_fails_the_scene_and_never_claims_success(
    s3: Any, media: Media, tmp_path: Path
) -> None:
    # given an S3 that refuses the MP4 upload
    class RefusingUploads(CountingS3):
        def upload_file(self, *args: Any, **kwargs: Any) -> None:
            error = {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}
            raise ClientError(error, "PutObject")

    scene = scene_with_assets(s3, media, "scene_001")

    # when the batch runs
    outcome = run_batch(make_spec([scene]), RefusingUploads(s3), tmp_path, render=fake_render)

    # then the scene's record is failed and names the destination
    assert outcome.exit_code == 1
    record = read_record(s3, "scene_001")
    assert record.status == "failed"
    assert f"upload to s3://{BUCKET}/{output_key(JOB_ID, 'scene_001')} failed" in (
        record.error or ""
    )
    assert files_under(tmp_path) == []


def test_batch_outcome_exit_code_is_zero_only_when_every_scene_succeeded() -> None:
    def result(name: str, status: str) -> SceneResult:
        return SceneResult.model_validate(
            {"job_id": "j", "batch_number": 1, "attempt": 1, "scene_name": name, "status": status}
        )

    assert BatchRun([]).exit_code == 0
    assert BatchRun([result("a", "succeeded")]).exit_code == 0
    assert BatchRun([result("a", "succeeded"), result("b", "failed")]).exit_code == 1


def test_scene_outcome_is_logged_once_per_scene_with_render_seconds(
    s3: Any, media: Media, tmp_path: Path, caplog: Any
) -> None:
    # given two scenes, one of which cannot be fetched
    good = scene_with_assets(s3, media, "scene_001")
    bad = good.model_copy(update={"scene_name": "scene_002", "image_uri": f"s3://{BUCKET}/x"})

    # when the batch runs
    with caplog.at_level("INFO", logger="cloudburst-worker"):
        run_batch(make_spec([good, bad]), s3, tmp_path, render=fake_render)

    # then one outcome line per scene, carrying its status and render seconds
    outcomes = [r for r in caplog.records if r.getMessage().startswith("scene ")]
    by_scene = {r.scene_name: r for r in outcomes}  # type: ignore[attr-defined]
    assert len(outcomes) == 2
    assert by_scene["scene_001"].getMessage() == "scene succeeded"
    assert by_scene["scene_001"].render_seconds == 0.5  # type: ignore[attr-defined]
    assert by_scene["scene_002"].getMessage() == "scene failed"
    assert "image" in by_scene["scene_002"].error  # type: ignore[attr-defined]
    json.dumps(by_scene["scene_002"].__dict__["error"])  # serialisable for the JSON log


def fake_render(scene: SceneInput, settings: RenderSettings, output: Path) -> RenderResult:
    """Stands in for ffmpeg where a test is about orchestration, not pixels."""
    assert scene.image.is_file()
    assert scene.audio.is_file()
    output.write_bytes(b"fake mp4 " + scene.name.encode())
    return RenderResult(
        ok=True,
        output=output,
        duration_seconds=1.0,
        render_seconds=0.5,
        bytes=output.stat().st_size,
        error=None,
    )


def fail_if_called(scene: SceneInput, settings: RenderSettings, output: Path) -> RenderResult:
    raise AssertionError(f"render must not be called for {scene.name}")
