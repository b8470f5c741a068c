"""Runs one batch: resume what is done, render the rest in parallel, report every scene.

The completion Lambda trusts only the per-scene result records, so the order of writes is
the contract: the MP4 is uploaded first and its record second, hence a ``succeeded``
record always means the video is in S3. A scene that cannot be rendered gets a ``failed``
record naming the asset or the render error, and the batch goes on with the others.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from chalicelib.contracts import (
    BatchSpec,
    SceneResult,
    SceneSpec,
    SceneStatus,
    is_s3_not_found,
    render_slots,
    split_s3_uri,
)
from cloudburst_worker.assets import TRANSFER_CONFIG, AssetCache, AssetError, S3Client
from cloudburst_worker.log import logger
from cloudburst_worker.pictures import ensure_poster, sheet_if_complete, upload_poster
from cloudburst_worker.render import RenderResult, RenderSettings, SceneInput, render_scene

RenderFunction = Callable[[SceneInput, RenderSettings, Path], RenderResult]

# Parallel asset downloads; S3 GETs are latency-bound, so a few more than the renders.
DOWNLOAD_THREADS = 4
_UNSAFE_SCENE_NAME = re.compile(r"[/\\\x00-\x1f\x7f]|^\.\.?$")


class SpecError(Exception):
    """The batch spec cannot be read or is not a valid spec; the task can do nothing."""


@dataclass(frozen=True)
class BatchRun:
    """Every scene's result record, in the spec's scene order, and the exit code."""

    results: list[SceneResult]

    @property
    def succeeded(self) -> list[SceneResult]:
        return [r for r in self.results if r.status == SceneStatus.SUCCEEDED]

    @property
    def failed(self) -> list[SceneResult]:
        return [r for r in self.results if r.status == SceneStatus.FAILED]

    @property
    def exit_code(self) -> int:
        """0 only when every scene succeeded: the completion Lambda retries on anything else."""
        return 0 if not self.failed else 1


def load_batch_spec(uri: str, s3: S3Client) -> BatchSpec:
    """Read and validate the spec at ``uri``; raises SpecError with a reason for the log."""
    try:
        bucket, key = split_s3_uri(uri)
    except ValueError as error:
        raise SpecError(f"BATCH_SPEC is not a valid S3 URI: {error}") from None
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "unknown")
        raise SpecError(f"batch spec {uri} could not be read: S3 error {code}") from None
    except BotoCoreError as error:
        raise SpecError(f"batch spec {uri} could not be read: {error}") from None
    try:
        return BatchSpec.model_validate_json(body)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(document)'}: {e['msg']}"
            for e in error.errors(include_url=False)[:10]
        )
        raise SpecError(f"batch spec {uri} is not a valid batch spec: {problems}") from None


def run_batch(
    spec: BatchSpec,
    s3: S3Client,
    workdir: Path,
    render: RenderFunction = render_scene,
) -> BatchRun:
    """Render every scene of ``spec`` not already in S3 and write one record per scene."""
    return _BatchRun(spec, s3, workdir, render).run()


def scene_output_key(spec: BatchSpec, scene_name: str) -> str:
    """Where a scene's MP4 goes; equals ``contracts.output_key`` for planner-made specs."""
    return f"{spec.outputs_prefix}{scene_name}.mp4"


def scene_result_key(spec: BatchSpec, scene_name: str) -> str:
    """Where a scene's record goes; equals ``contracts.result_key`` for planner-made specs."""
    return f"{spec.results_prefix}{scene_name}.json"


def render_workers(spec: BatchSpec) -> int:
    return render_slots(spec.vcpu)


class _BatchRun:
    """The state of one ``run_batch`` call; private so the public surface stays a function."""

    def __init__(
        self, spec: BatchSpec, s3: S3Client, workdir: Path, render: RenderFunction
    ) -> None:
        self.spec = spec
        self.s3 = s3
        self.workdir = workdir
        self.render = render
        self.watermark_uri = spec.options.watermark_uri
        self.results: dict[str, SceneResult] = {}
        self._results_lock = threading.Lock()

    def run(self) -> BatchRun:
        started = time.monotonic()
        workers = render_workers(self.spec)
        logger.info(
            "batch started", extra={"scenes": len(self.spec.scenes), "render_workers": workers}
        )
        todo: list[SceneSpec] = []
        for scene in self.spec.scenes:
            if _UNSAFE_SCENE_NAME.search(scene.scene_name) or not scene.scene_name:
                error = f"scene {scene.scene_name!r}: unsafe scene name"
                self._record(self._result(scene, SceneStatus.FAILED, error=error))
                continue
            reused = self._reuse_existing_output(scene)
            if reused is None:
                todo.append(scene)
            else:
                key = scene_output_key(self.spec, scene.scene_name)
                ensure_poster(self.spec, self.s3, scene.scene_name, key, self.workdir / "reused")
                self._record(reused)
        reused_count = sum(r.reused for r in self.results.values())
        if reused_count:
            logger.info(
                "resuming: scenes already in S3 are not rendered again",
                extra={"reused": reused_count, "to_render": len(todo)},
            )
        if todo:
            self._render_all(todo, workers)
        outcome = BatchRun([self.results[s.scene_name] for s in self.spec.scenes])
        sheet_if_complete(self.spec, self.s3, self.workdir / "sheet")
        logger.info(
            "batch finished",
            extra={
                "succeeded": len(outcome.succeeded),
                "failed": len(outcome.failed),
                "failed_scenes": [r.scene_name for r in outcome.failed],
                "wall_seconds": round(time.monotonic() - started, 3),
                "exit_code": outcome.exit_code,
            },
        )
        return outcome

    # -- resume ---------------------------------------------------------------------------

    def _reuse_existing_output(self, scene: SceneSpec) -> SceneResult | None:
        """A succeeded ``reused`` record when the scene's MP4 is already in S3, else None."""
        key = scene_output_key(self.spec, scene.scene_name)
        try:
            head = self.s3.head_object(Bucket=self.spec.bucket, Key=key)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if not is_s3_not_found(code):
                logger.warning(
                    "could not check for an existing output; rendering the scene",
                    extra={"scene_name": scene.scene_name, "output_key": key, "s3_error": code},
                )
            return None
        except BotoCoreError as error:
            logger.warning(
                "could not check for an existing output; rendering the scene",
                extra={"scene_name": scene.scene_name, "output_key": key, "s3_error": str(error)},
            )
            return None
        previous = self._previous_record(scene.scene_name)
        return self._result(
            scene,
            SceneStatus.SUCCEEDED,
            output_key=key,
            bytes=int(head.get("ContentLength", 0)),
            duration_seconds=previous.duration_seconds if previous else 0.0,
            reused=True,
        )

    def _previous_record(self, scene_name: str) -> SceneResult | None:
        key = scene_result_key(self.spec, scene_name)
        try:
            body = self.s3.get_object(Bucket=self.spec.bucket, Key=key)["Body"].read()
            return SceneResult.model_validate_json(body)
        except (ClientError, BotoCoreError, ValidationError):
            return None

    # -- rendering --------------------------------------------------------------------------

    def _render_all(self, todo: list[SceneSpec], workers: int) -> None:
        """Downloads run ahead of the renders, bounded so disk holds only scenes in flight."""
        cache = AssetCache(
            self.s3, self.workdir / "assets", self._uris(todo), self.spec.asset_versions
        )
        (self.workdir / "out").mkdir(parents=True, exist_ok=True)
        in_flight = threading.BoundedSemaphore(2 * workers)
        with (
            ThreadPoolExecutor(DOWNLOAD_THREADS, thread_name_prefix="download") as downloads,
            ThreadPoolExecutor(workers, thread_name_prefix="render") as renders,
        ):
            for scene in todo:
                in_flight.acquire()
                fetched = downloads.submit(self._fetch, scene, cache)
                renders.submit(self._finish_scene, scene, fetched, cache, in_flight)

    def _uris(self, scenes: Iterable[SceneSpec]) -> list[str]:
        uris: list[str] = []
        for scene in scenes:
            uris.extend(self._scene_uris(scene).values())
        return uris

    def _scene_uris(self, scene: SceneSpec) -> dict[str, str]:
        """Each asset of a scene by the role it plays, for error messages that say which."""
        roles = {"image": scene.image_uri, "audio": scene.audio_uri}
        if scene.subtitle_uri:
            roles["subtitle"] = scene.subtitle_uri
        if self.watermark_uri:
            roles["watermark"] = self.watermark_uri
        return roles

    def _fetch(self, scene: SceneSpec, cache: AssetCache) -> dict[str, Path]:
        """Download every asset of a scene; raises AssetError naming each one that failed."""
        paths: dict[str, Path] = {}
        errors: list[str] = []
        for role, uri in self._scene_uris(scene).items():
            try:
                paths[role] = cache.acquire(uri)
            except AssetError as error:
                errors.append(f"{role} {error}")
        if errors:
            raise AssetError(f"scene {scene.scene_name!r}: " + "; ".join(errors))
        return paths

    def _finish_scene(
        self,
        scene: SceneSpec,
        fetched: Future[dict[str, Path]],
        cache: AssetCache,
        in_flight: threading.BoundedSemaphore,
    ) -> None:
        """Render and upload one scene, always leaving a record and no local files behind."""
        output = self.workdir / "out" / f"{scene.scene_name}.mp4"
        try:
            self._record(self._render_and_upload(scene, fetched, output))
        except Exception as error:  # a bug must fail one scene, not hang the batch
            logger.exception("scene crashed", extra={"scene_name": scene.scene_name})
            self._record(self._result(scene, SceneStatus.FAILED, error=f"worker error: {error!r}"))
        finally:
            output.unlink(missing_ok=True)
            for uri in self._scene_uris(scene).values():
                cache.release(uri)
            in_flight.release()

    def _render_and_upload(
        self, scene: SceneSpec, fetched: Future[dict[str, Path]], output: Path
    ) -> SceneResult:
        name = scene.scene_name
        try:
            paths = fetched.result()
        except AssetError as error:
            return self._result(scene, SceneStatus.FAILED, error=str(error))
        settings = RenderSettings(
            **self.spec.options.look(), watermark=paths.get("watermark"), threads=1
        )
        scene_input = SceneInput(
            name=name,
            image=paths["image"],
            audio=paths["audio"],
            subtitle=paths.get("subtitle"),
            effect=scene.effect,
            keyframe_reach=scene.keyframe_reach,
        )
        rendered = self.render(scene_input, settings, output)
        if not rendered.ok or not output.is_file():
            reason = rendered.error or "the renderer produced no output file"
            if not reason.startswith(f"scene {name!r}"):
                reason = f"scene {name!r}: render failed: {reason}"
            return self._result(
                scene, SceneStatus.FAILED, render_seconds=rendered.render_seconds, error=reason
            )
        key = scene_output_key(self.spec, name)
        try:
            self.s3.upload_file(
                str(output),
                self.spec.bucket,
                key,
                ExtraArgs={"ContentType": "video/mp4"},
                Config=TRANSFER_CONFIG,
            )
        except (ClientError, BotoCoreError, OSError) as error:
            return self._result(
                scene,
                SceneStatus.FAILED,
                render_seconds=rendered.render_seconds,
                error=f"scene {name!r}: upload to s3://{self.spec.bucket}/{key} failed: {error}",
            )
        upload_poster(self.spec, self.s3, name, output)  # before the record: the sheet needs it
        return self._result(
            scene,
            SceneStatus.SUCCEEDED,
            output_key=key,
            bytes=rendered.bytes or output.stat().st_size,
            duration_seconds=rendered.duration_seconds,
            render_seconds=rendered.render_seconds,
        )

    # -- records ----------------------------------------------------------------------------

    def _result(self, scene: SceneSpec, status: SceneStatus, **fields: object) -> SceneResult:
        return SceneResult.model_validate(
            {
                "job_id": self.spec.job_id,
                "batch_number": self.spec.batch_number,
                "attempt": self.spec.attempt,
                "scene_name": scene.scene_name,
                "status": status,
                **fields,
            }
        )

    def _record(self, result: SceneResult) -> None:
        """Write the scene's record to S3 (after its MP4) and log the scene's outcome."""
        key = scene_result_key(self.spec, result.scene_name)
        try:
            self.s3.put_object(
                Bucket=self.spec.bucket,
                Key=key,
                Body=result.model_dump_json().encode(),
                ContentType="application/json",
            )
        except (ClientError, BotoCoreError) as error:
            # Without its record the completion Lambda treats the scene as missing: say so.
            result = result.model_copy(
                update={
                    "status": SceneStatus.FAILED,
                    "error": f"result record s3://{self.spec.bucket}/{key} not written: {error}",
                }
            )
        with self._results_lock:
            self.results[result.scene_name] = result
        fields = result.model_dump(mode="json", exclude={"job_id", "batch_number", "attempt"})
        if result.status == SceneStatus.SUCCEEDED:
            logger.info("scene reused" if result.reused else "scene succeeded", extra=fields)
        else:
            logger.warning("scene failed", extra=fields)


def clean_workdir(workdir: Path) -> None:
    """Best-effort removal of the task's scratch space (Fargate's disk is per task)."""
    shutil.rmtree(workdir, ignore_errors=True)
