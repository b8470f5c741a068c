"""Orchestration benchmark: how much time CloudBurst itself adds around rendering.

Measures, in one run on this machine, and writes bench/results/orchestration.json:
- planning 100,000 scenes (target < 100 ms);
- cold import of the Lambda module in a fresh interpreter (target < 300 ms);
- a 1,000-scene manifest from upload to every RunTask issued, on the local stack (< 2 s);
- end-to-end overhead of a 20-scene local job: wall time (upload → verified webhook) minus
  the longest task's run time, as a share of wall (target < 3 %).
Both stack measurements run after one warm-up upload (see ``_warm_up``).
``--only completion`` measures the 10,000-scene job's end again, into the same file.
``--hog`` runs that job twice, as is and with two busy loops started by the bench holding
both cores (a loaded laptop; issue 21), and writes bench/results/orchestration_hog.json:
how many of its 100 batches ended by their own STOPPED event (not by the sweeper), the
wall time and the load average.
Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "container")]

from chalicelib.adapters.jobs_dynamodb import DynamoJobStore  # noqa: E402
from chalicelib.events import job_id_for_upload  # noqa: E402
from chalicelib.manifest import Scene  # noqa: E402
from chalicelib.model import Job  # noqa: E402
from chalicelib.planner import plan_batches  # noqa: E402
from cloudburst.demo import make_scene_assets, upload_job  # noqa: E402
from cloudburst.local import LocalStack  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "orchestration.json"
HOG_RESULTS = ROOT / "bench" / "results" / "orchestration_hog.json"
TARGETS = {
    "plan_100k_ms": 100.0,
    "cold_import_ms": 300.0,
    "upload_to_all_run_tasks_s": 2.0,
    "e2e_overhead_pct": 3.0,
}


def bench_planning(repeats: int = 7) -> float:
    scenes = [
        Scene(scene_name=f"scene_{i:06d}", image_path=f"i/{i}.png", audio_path=f"a/{i}.mp3")
        for i in range(100_000)
    ]
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        plan_batches(scenes, 10, 10, 5)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1000


def bench_cold_import(repeats: int = 7) -> float:
    code = "import time; t = time.perf_counter(); import app; print(time.perf_counter() - t)"
    env = {**os.environ, "CLOUDBURST_BUCKET": "cloudburst-local", "AWS_DEFAULT_REGION": "us-east-1"}
    timings = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        timings.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(timings) * 1000


def _warm_up(stack: LocalStack) -> None:
    """Reject one tiny manifest and touch ECS, so moto's backends and the handler's clients
    are loaded (a local-only first-call cost of ~0.5 s that AWS does not have)."""
    store = stack.job_store()
    stack.client("s3").put_object(Bucket=stack.bucket, Key="manifests/warm-up.json", Body=b"{}")
    stack.client("ecs").list_tasks(cluster=stack.cluster)
    _wait_job(store, stack, "manifests/warm-up.json", lambda j, _: j.is_final, timeout=30)
    stack.receiver.wait_for(1, timeout=10)


def _wait_job(
    store: DynamoJobStore,
    stack: LocalStack,
    key: str,
    done: Any,
    timeout: float,
    every: float = 0.25,
) -> Job:
    """Poll gently: every query lands on the same moto process the pipeline is using, so
    timings come from the pipeline's own timestamps, not from how fast this loop notices."""
    version = stack.client("s3").head_object(Bucket=stack.bucket, Key=key)["VersionId"]
    job_id = job_id_for_upload(stack.bucket, key, f"v:{version}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = store.get_job(job_id)
        if job is not None and done(job, store):
            return job
        time.sleep(every)
    raise TimeoutError(f"job for {key} did not reach the expected state in {timeout} s")


def _wait_launched(stack: LocalStack, store: DynamoJobStore, job: Job, timeout: float) -> None:
    """Until every batch of ``job`` records its task. The launch is timed from its own
    records, so this stays out of its way: it watches the Fargate stand-in (in this
    process, no request) and reads the batches only once it has seen every task. Reading
    100 batch items costs moto's server ~0.2 s of CPU, which a poll every second took
    from the launch it was timing."""
    assert stack.fargate is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(stack.fargate.tasks) >= job.batches_total:
            batches = store.list_batches(job.job_id)
            if sum(1 for b in batches if b.launched_at) == job.batches_total:
                return
            time.sleep(0.25)
        time.sleep(0.05)
    raise TimeoutError(f"{job.job_id}: not every batch launched within {timeout} s")


def bench_thousand_scene_launch(workdir: Path) -> dict[str, float]:
    """Upload → all 100 RunTasks issued; workers are `sleep` so only orchestration is timed."""
    with LocalStack(
        port=0,
        state_dir=workdir / "stack-1000",
        worker_command=("sleep", "120"),
        max_running_tasks=100,
    ) as stack:
        s3 = stack.client("s3")
        names = [f"s{i:04d}" for i in range(1000)]
        for name in names:
            s3.put_object(Bucket=stack.bucket, Key=f"inputs/big/{name}.png", Body=b"p")
            s3.put_object(Bucket=stack.bucket, Key=f"inputs/big/{name}.mp3", Body=b"a")
        manifest = {
            "version": 1,
            "scenes": [
                {
                    "scene_name": n,
                    "image_path": f"inputs/big/{n}.png",
                    "audio_path": f"inputs/big/{n}.mp3",
                }
                for n in names
            ],
            "scenes_per_batch": 10,
            "max_parallel_tasks": 100,
        }
        store = stack.job_store()
        _warm_up(stack)
        uploaded_at = datetime.now(UTC)
        s3.put_object(Bucket=stack.bucket, Key="manifests/big.json", Body=json.dumps(manifest))
        job = _wait_job(store, stack, "manifests/big.json", lambda j, _: True, timeout=60)
        _wait_launched(stack, store, job, timeout=60)
        ecs = stack.client("ecs")
        tasks = sum(
            len(page["taskArns"])
            for page in ecs.get_paginator("list_tasks").paginate(cluster=stack.cluster)
        )
        launched = [
            datetime.fromisoformat(b.launched_at)
            for b in store.list_batches(job.job_id)
            if b.launched_at
        ]
        created = datetime.fromisoformat(job.created_at)
        return {
            # the last batch's launched_at is written right after its RunTask returned
            "upload_to_all_run_tasks_s": (max(launched) - uploaded_at).total_seconds(),
            "tasks": tasks,
            "batches": job.batches_total,
            # where the time goes: intake (read, validate, LIST assets, write specs and
            # batches) until the JOB item exists, then planning → first task, then RunTasks
            "upload_to_job_item_s": (created - uploaded_at).total_seconds(),
            "job_item_to_first_task_s": (min(launched) - created).total_seconds(),
            "first_to_last_task_s": (max(launched) - min(launched)).total_seconds(),
        }


def bench_ten_thousand_scene_completion(workdir: Path) -> dict[str, Any]:
    """The end of a 10,000-scene job: the reaction to its last task's stop (requests, seconds)
    and the webhook's size. Workers only report their scenes (bench/record_only_worker.py)."""
    import botocore.client

    from chalicelib.usecases import completion, reactions, sweeping

    # Requests of every thread (a reaction reads result records from a pool): by the end of
    # the job the other reactions are over, so the count is the last reaction's.
    calls = threading.local()
    requests = itertools.count()
    original_call = botocore.client.BaseClient._make_api_call

    def counted(self: Any, operation: str, params: dict[str, Any]) -> Any:
        next(requests)
        return original_call(self, operation, params)

    ended: list[dict[str, float] | None] = []  # None: ended by another path (the sweeper)
    original_stopped = reactions.task_stopped
    original_complete = completion.complete_job_if_done

    def complete(svc: Any, job_id: str) -> Any:
        finished = original_complete(svc, job_id)
        if finished is not None:  # this reaction ended the job: what did it cost so far?
            since = getattr(calls, "started", None)
            ended.append(
                None
                if since is None
                else {
                    "requests": next(requests) - since[1],
                    "seconds": time.perf_counter() - since[0],
                }
            )
        return finished

    handled: set[str] = set()  # tasks whose STOPPED reached the reaction (event or sweep)
    swept: set[str] = set()  # tasks the sweeper had to end (their event never came)
    original_reconcile = sweeping.reconcile

    def stopped(event: Any, svc: Any) -> None:
        calls.started = (time.perf_counter(), next(requests) + 1)
        # before the reaction: the job it ends may be seen final before the reaction returns
        handled.add(event.detail.task_arn)
        original_stopped(event, svc)

    def reconcile(svc: Any, now: Any) -> Any:
        found = original_reconcile(svc, now)
        swept.update(e.detail.task_arn for e in found.stopped)
        swept.update(b.task_arn for b in found.vanished if b.task_arn)
        return found

    worker = (sys.executable, str(ROOT / "bench" / "record_only_worker.py"))
    botocore.client.BaseClient._make_api_call = counted
    reactions.task_stopped = stopped
    completion.complete_job_if_done = complete
    sweeping.reconcile = reconcile
    try:
        with LocalStack(
            port=0,
            state_dir=workdir / "stack-10000",
            worker_command=worker,
            max_running_tasks=100,
            extra_env={"PYTHONPATH": str(ROOT)},
        ) as stack:
            s3 = stack.client("s3")
            s3.put_object(Bucket=stack.bucket, Key="inputs/k/a.png", Body=b"p")
            s3.put_object(Bucket=stack.bucket, Key="inputs/k/a.mp3", Body=b"a")
            names = [f"scene-{i:05d}-{'x' * 60}" for i in range(10_000)]
            manifest = {
                "scenes": [
                    {
                        "scene_name": n,
                        "image_path": "inputs/k/a.png",
                        "audio_path": "inputs/k/a.mp3",
                    }
                    for n in names
                ],
                "scenes_per_batch": 100,
                "max_parallel_tasks": 100,
                "webhook_url": stack.receiver.url,
            }
            _warm_up(stack)
            uploaded = time.perf_counter()
            s3.put_object(
                Bucket=stack.bucket, Key="manifests/ten-k.json", Body=json.dumps(manifest)
            )
            store = stack.job_store()
            job = _wait_job(store, stack, "manifests/ten-k.json", lambda j, _: j.is_final, 1800)
            wall = time.perf_counter() - uploaded
            batches = store.list_batches(job.job_id)
            by_event = [b for b in batches if b.is_final and b.task_arn in handled - swept]
            (webhook,) = stack.receiver.wait_for(1, timeout=60, job_id=job.job_id)
            report = s3.get_object(Bucket=stack.bucket, Key=f"outputs/{job.job_id}/job.json")
            if not ended:
                raise RuntimeError(f"job ended {job.status} without a task's stop ending it")
            reaction = ended[-1]  # None: no task's stop ended it, and there is no figure
            return {
                "status": job.status,
                "scenes": len(names),
                "batches": job.batches_total,
                "job_ended_by": "the last task's stop" if reaction else "the sweeper",
                "last_stop_reaction_requests": reaction and reaction["requests"],
                "last_stop_reaction_s": reaction and round(reaction["seconds"], 3),
                "webhook_body_bytes": len(webhook.raw.encode()),
                "report_bytes": report["ContentLength"],
                "batches_finished_by_event": len(by_event),
                "batches_ended_by_sweeper": len(swept),
                "upload_to_job_end_s": round(wall, 1),
                "fargate_delivery_retries": stack.fargate.outbox.retries if stack.fargate else 0,
                # why, when it is not SUCCEEDED: a figure of a job that failed is no figure
                "first_errors": webhook.body["data"].get("errors", [])[:3],
            }
    finally:
        botocore.client.BaseClient._make_api_call = original_call
        reactions.task_stopped = original_stopped
        completion.complete_job_if_done = original_complete
        sweeping.reconcile = original_reconcile


def bench_twenty_scene_job(workdir: Path) -> dict[str, Any]:
    """A real 20-scene job (2 tasks × 10 scenes, 1 vCPU each) from upload to webhook."""
    scenes = make_scene_assets(workdir / "assets", 20, durations=[6.0], subtitles_every=10**6)
    with LocalStack(port=0, state_dir=workdir / "stack-20") as stack:
        s3 = stack.client("s3")
        store = stack.job_store()
        _warm_up(stack)
        options = {
            "scenes_per_batch": 10,
            "max_parallel_tasks": 2,
            "config_priority": 5,
            "enable_zoom": False,
            "language": "english",
        }
        start = time.perf_counter()
        key = upload_job(s3, stack.bucket, scenes, name="bench20", options=options)
        upload_done, uploaded_at = time.perf_counter(), datetime.now(UTC)
        job = _wait_job(store, stack, key, lambda j, _: j.is_final, timeout=900)
        (webhook,) = stack.receiver.wait_for(1, timeout=30, job_id=job.job_id)
        assert webhook.received_at is not None
        webhook_at = webhook.received_at  # not when this loop noticed: polling adds up to 0.25 s
        wall = (webhook_at - uploaded_at).total_seconds()
        assert stack.fargate is not None
        tasks = [t for t in stack.fargate.stopped() if t.started_at and t.stopped_at]
        runs = [(t.stopped_at - t.started_at).total_seconds() for t in tasks]  # type: ignore[operator]
        first_start = min(t.started_at for t in tasks if t.started_at)
        last_stop = max(t.stopped_at for t in tasks if t.stopped_at)
        report = json.loads(
            s3.get_object(Bucket=stack.bucket, Key=f"outputs/{job.job_id}/job.json")["Body"].read()
        )
        render_by_task: dict[int, float] = {}
        for scene in report["scenes"]:
            render_by_task[scene["batch_number"]] = (
                render_by_task.get(scene["batch_number"], 0.0) + scene["render_seconds"]
            )
        longest_task = max(runs)
        return {
            "status": job.status,
            "assets_upload_s": upload_done - start,
            "wall_s": wall,
            "longest_task_s": longest_task,
            "longest_task_render_s": max(render_by_task.values()),
            "e2e_overhead_s": wall - longest_task,
            "upload_to_first_task_start_s": (first_start - uploaded_at).total_seconds(),
            "last_task_stop_to_webhook_s": (webhook_at - last_stop).total_seconds(),
            "e2e_overhead_pct": 100 * (wall - longest_task) / wall,
            "overhead_vs_render_pct": 100 * (wall - max(render_by_task.values())) / wall,
        }


def _completion(workdir: Path) -> dict[str, Any]:
    done = bench_ten_thousand_scene_completion(workdir)
    reaction = (
        f"last task's stop → job ended in {done['last_stop_reaction_s']:.2f} s, "
        f"{done['last_stop_reaction_requests']} requests"
        if done["last_stop_reaction_s"] is not None
        else "job ended by the sweeper, not by a task's stop"
    )
    print(
        f"10,000 scenes: {reaction}; {done['batches_finished_by_event']}/{done['batches']} "
        f"batches ended by their event in {done['upload_to_job_end_s']:.0f} s; webhook "
        f"{done['webhook_body_bytes']:,} bytes, job.json {done['report_bytes']:,} bytes"
    )
    return done


def _under_load(workdir: Path, hogs: int) -> dict[str, Any]:
    """The 10,000-scene job with ``hogs`` busy loops (started here, stopped here) holding
    the cores, and the 1-minute load average it ran at."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(hogs)]
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(5):
            peak[0] = max(peak[0], os.getloadavg()[0])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = _completion(workdir)
    finally:
        done.set()
        for loop in loops:
            loop.kill()
            loop.wait()
    result["busy_loops"] = hogs
    result["peak_load_1min"] = round(peak[0], 1)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["completion"], help="measure this figure again")
    parser.add_argument("--hog", action="store_true", help="the completion job, quiet and loaded")
    args = parser.parse_args()
    if args.hog:
        with tempfile.TemporaryDirectory(prefix="cloudburst-bench-") as tmp:
            quiet = _under_load(Path(tmp) / "quiet", hogs=0)
            loaded = _under_load(Path(tmp) / "hog", hogs=2)
        HOG_RESULTS.write_text(json.dumps({"quiet": quiet, "hog": loaded}, indent=2) + "\n")
        for name, run in (("quiet", quiet), ("2 busy loops", loaded)):
            print(
                f"{name:>12}: {run['batches_finished_by_event']}/{run['batches']} batches ended"
                f" by their event, job {run['status']} in {run['upload_to_job_end_s']:.0f} s"
                f" (peak load {run['peak_load_1min']})"
            )
        print(f"wrote {HOG_RESULTS.relative_to(ROOT)}")
        return 0
    if args.only == "completion":  # one figure, kept beside the recorded run
        with tempfile.TemporaryDirectory(prefix="cloudburst-bench-") as tmp:
            recorded = json.loads(RESULTS.read_text())
            recorded["ten_thousand_scene_completion"] = _completion(Path(tmp))
        RESULTS.write_text(json.dumps(recorded, indent=2) + "\n")
        return 0
    results: dict[str, Any] = {"targets": TARGETS}
    results["plan_100k_ms"] = bench_planning()
    print(f"plan 100,000 scenes        {results['plan_100k_ms']:8.1f} ms   (target < 100 ms)")
    results["cold_import_ms"] = bench_cold_import()
    print(f"cold import of app.py      {results['cold_import_ms']:8.1f} ms   (target < 300 ms)")
    with tempfile.TemporaryDirectory(prefix="cloudburst-bench-") as tmp:
        launch = bench_thousand_scene_launch(Path(tmp))
        results["thousand_scenes"] = launch
        results["upload_to_all_run_tasks_s"] = launch["upload_to_all_run_tasks_s"]
        print(
            f"1,000 scenes → {launch['tasks']} RunTasks "
            f"{launch['upload_to_all_run_tasks_s']:8.2f} s    (target < 2 s)"
        )
        print(
            f"              upload → JOB item {launch['upload_to_job_item_s']:.2f} s, "
            f"→ first task {launch['job_item_to_first_task_s']:.2f} s, "
            f"first → last task {launch['first_to_last_task_s']:.2f} s"
        )
        job = bench_twenty_scene_job(Path(tmp))
        results["twenty_scene_job"] = job
        results["e2e_overhead_pct"] = job["e2e_overhead_pct"]
        print(
            f"20-scene job: wall {job['wall_s']:.1f} s, "
            f"longest task {job['longest_task_s']:.1f} s, "
            f"overhead {job['e2e_overhead_s']:.2f} s = {job['e2e_overhead_pct']:.2f} % of wall"
            "   (target < 3 %)"
        )
        print(
            f"              upload → first task {job['upload_to_first_task_start_s']:.2f} s, "
            f"last task stop → webhook {job['last_task_stop_to_webhook_s']:.2f} s"
        )
        print(
            f"              longest task's render seconds {job['longest_task_render_s']:.1f} s "
            f"→ overhead incl. worker start-up and S3 I/O {job['overhead_vs_render_pct']:.1f} %"
        )
        results["ten_thousand_scene_completion"] = _completion(Path(tmp))
    results["ratios_to_target"] = {k: results[k] / v for k, v in TARGETS.items()}
    results["meets_targets"] = {k: results[k] < v for k, v in TARGETS.items()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print("ratio to target (< 1 meets it):")
    for key, ratio in results["ratios_to_target"].items():
        print(f"  {key:28s} {ratio:6.2f}")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
