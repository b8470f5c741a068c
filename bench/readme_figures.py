"""Write the README's measured figures from bench/results/*.json.

Each figure block sits between ``<!-- figures:NAME -->`` and ``<!-- /figures:NAME -->``;
everything between the markers is generated here, so the README quotes the last recorded run
and nothing else. ``tests/unit/test_readme_figures.py`` fails when the two disagree: run
``python bench/readme_figures.py`` after a bench.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
README = ROOT / "README.md"
_BLOCK = re.compile(
    r"(<!-- figures:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /figures:(?P=name) -->)", re.S
)


def orchestration(d: dict[str, Any]) -> str:
    t, big, small = d["targets"], d["thousand_scenes"], d["twenty_scene_job"]
    ratio = d["ratios_to_target"]
    return f"""| what | measured | target | ratio |
|---|---:|---:|---:|
| plan 100,000 scenes | {d["plan_100k_ms"]:.1f} ms | < {t["plan_100k_ms"]:.0f} ms | {ratio["plan_100k_ms"]:.2f} |
| cold import of the Lambda module (`import app`, fresh interpreter) | {d["cold_import_ms"]:.0f} ms | < {t["cold_import_ms"]:.0f} ms | {ratio["cold_import_ms"]:.2f} |
| 1,000-scene manifest: upload → all {big["tasks"]} RunTasks issued | {big["upload_to_all_run_tasks_s"]:.2f} s | < {t["upload_to_all_run_tasks_s"]:.0f} s | {ratio["upload_to_all_run_tasks_s"]:.2f} |
| 20-scene job: (upload → verified webhook) − longest task | {small["e2e_overhead_s"]:.2f} s of {small["wall_s"]:.1f} s = {small["e2e_overhead_pct"]:.2f} % | < {t["e2e_overhead_pct"]:.0f} % | {ratio["e2e_overhead_pct"]:.2f} |

- 1,000-scene launch breakdown: upload → job recorded {big["upload_to_job_item_s"]:.2f} s (event
  delivery, read, validate, LIST the assets by version), → first task {big["job_item_to_first_task_s"]:.2f} s
  (batch specs to S3, batch items, the queue query), first → last task
  {big["first_to_last_task_s"]:.2f} s (RunTask + a conditional write per batch).
- 20-scene job (2 tasks × 10 scenes of 6 s, 1 vCPU each): upload → first task
  {small["upload_to_first_task_start_s"]:.2f} s, last task stop → webhook {small["last_task_stop_to_webhook_s"]:.2f} s
  (wall ends when the receiver gets the webhook). Counting the worker's own start-up and S3
  transfers as overhead too (wall − the longest task's summed render seconds) gives
  {small["overhead_vs_render_pct"]:.1f} %.
""" + _completion(d.get("ten_thousand_scene_completion"))  # noqa: E501


def _completion(done: dict[str, Any] | None) -> str:
    if not done:
        return ""
    if done.get("last_stop_reaction_s") is None:
        reaction = "no task's stop ended the job: the sweeper did"
    else:
        reaction = (
            f"the reaction to the last task's stop ends the job in "
            f"{done['last_stop_reaction_s']:.2f} s with\n  "
            f"{done['last_stop_reaction_requests']} requests (one summary per batch, not one "
            "record per\n  scene)"
        )
    run = ""
    if "upload_to_job_end_s" in done:
        run = (
            f";\n  upload → job end {done['upload_to_job_end_s']:.0f} s, "
            f"{done['batches_finished_by_event']}/{done['batches']} batches ended by their event"
        )
    return f"""- {done["scenes"]:,}-scene job ({done["batches"]} batches; workers only report their scenes):
  {reaction}; the webhook body is {done["webhook_body_bytes"]:,} bytes, the whole `job.json`
  {done["report_bytes"]:,} bytes (linked from the webhook){run}. Measured again alone by
  `bench/orchestration.py --only completion`.
"""  # noqa: E501


def orchestration_load(d: dict[str, Any]) -> str:
    rows = [("quiet", d["quiet"]), ("two busy loops on both cores", d["hog"])]
    lines = [
        "| run | batches ended by their event | by the sweeper | job | upload → job end"
        " | peak load (1 min) |",
        "|---|---:|---:|---|---:|---:|",
    ]
    lines += [
        f"| {name} | {r['batches_finished_by_event']}/{r['batches']}"
        f" | {r['batches_ended_by_sweeper']} | {r['status']} | {r['upload_to_job_end_s']:.0f} s"
        f" | {r['peak_load_1min']:.1f} |"
        for name, r in rows
    ]
    return "\n".join(lines) + "\n"


def render_modes(d: dict[str, Any]) -> str:
    m = d["modes"]
    rows = [
        ("plain", m["plain"]),
        ("zoom", m["zoom"]),
        ("subtitles", m["subtitles"]),
        ("full (zoom + subtitles + watermark)", m["full"]),
        ("portrait full", m["portrait_full"]),
    ]
    lines = ["| mode | wall s | CPU s | MB | VMAF |", "| --- | ---: | ---: | ---: | ---: |"]
    lines += [_row(name, r["wall_s"], r["cpu_s"], r["mb"], r["vmaf"]) for name, r in rows]
    plain, full = m["limit_plain"], m["limit_full"]
    minute = d["plain_minute_long"]
    lines += [
        _row("encode-only limit, plain frames", *_limit(plain, "limit")),
        _row("plain encoding every frame (one pass, not shipped)", *_limit(plain, "one_pass")),
        _row("encode-only limit, full frames", *_limit(full, "limit")),
        _row("seed method, full", *(m["seed_full"][k] for k in ("wall_s", "cpu_s", "mb", "vmaf"))),
        _row("plain, 61.3 s (single run)", *_minute(minute["repeated"])),
        _row("plain, 61.3 s, one pass (single run, not shipped)", *_minute(minute["one_pass"])),
    ]
    return "\n".join(lines) + "\n"


def render_sweep(d: dict[str, Any]) -> str:
    full, seed = d["modes"]["full"], d["modes"]["seed_full"]
    enc = d["encoder"]
    lines = [
        "| full scene, 10 s 1080p | CPU s | MB | VMAF |",
        "| --- | ---: | ---: | ---: |",
        f"| seed method (Lanczos RGB warp → mp4v → x264 medium CRF 23 → x264 again for "
        f"subtitles) | {seed['cpu_s']:.1f} | {seed['mb']:.2f} | {seed['vmaf']:.2f} |",
        f"| **shipped: {enc['preset']} CRF {enc['crf']}** | **{full['cpu_s']:.1f}** | "
        f"**{full['mb']:.2f}** | **{full['vmaf']:.2f}** |",
    ]
    for row in d["encoder_sweep_full"]:
        lines.append(
            f"| {row['preset']} CRF {row['crf']} | {row['cpu_s']:.1f} | {row['mb']:.2f} | "
            f"{row['vmaf']:.2f} |"
        )
    smaller = 100 * (1 - d["size_mb_full"] / d["size_mb_seed_full"])
    lines += [
        "",
        f"The shipped setting against the seed's method, same run: {d['seed_cpu_ratio_full']:.1f}×"
        f" fewer CPU-seconds, VMAF {d['vmaf_full'] - d['vmaf_seed_full']:+.1f}, "
        f"{smaller:.0f} % smaller.",
    ]
    return "\n".join(lines) + "\n"


def render_ratios(d: dict[str, Any]) -> str:
    tp, wobble = d["throughput"], d["wobble"]
    costs = d["fargate_cost_per_full_scene_usd"]
    economy, standard = costs["economy"], costs["standard"]
    return f"""- Against the encode-only limit (best of 5 interleaved runs): plain
  **{d["limit_ratio_plain"]:.2f}×** wall (CPU {d["limit_cpu_ratio_plain"]:.2f}×), full
  **{d["limit_ratio_full"]:.2f}×** wall (CPU {d["limit_cpu_ratio_full"]:.2f}×); plain encoding
  every frame measures {d["limit_ratio_plain_one_pass"]:.2f}×.
- Seed's method, full scene: {d["seed_cpu_ratio_full"]:.1f}× our CPU-seconds.
- Camera path wobble: {wobble["ours_px_rms"]:.3f} px RMS, ffmpeg's `zoompan` {wobble["zoompan_px_rms"]:.2f} px.
- Scenes per minute on this 2-core machine (full scenes): {tp["one_at_a_time_threads_1"]:.1f} one
  at a time, {tp["two_at_a_time_threads_1"]:.1f} two at a time ({tp["one_at_a_time_threads_2"]:.1f}
  for one two-threaded scene at a time).
- Fargate (us-east-1 on-demand, x86) per 10-s full scene in a batch of 10, image pull not
  included: economy ({economy["vcpu"]} vCPU, {economy["billed_seconds"]} s billed)
  ${economy["usd_per_scene"]:.5f}, standard ({standard["vcpu"]} vCPU) ${standard["usd_per_scene"]:.5f}.
"""  # noqa: E501


def image(d: dict[str, Any]) -> str:
    size, gz, zs = d["uncompressed_mb"], d["compressed_mb"]["gzip"], d["compressed_mb"]["zstd"]
    pull, rate = d["pull_seconds_estimated"], d["decompress_mb_per_s_measured_here"]
    share, reads = d["per_scene_share_of_task_start"], d["render_reads"]
    largest = ", ".join(
        f"{name} {mb:.0f} MB" for name, mb in list(d["largest_packages_mb"].items())[:8]
    )
    missed = "met" if size["within_target"] else "missed"
    return f"""| | above the base | target | on the public slim base (est.) |
|---|---|---|---|
| uncompressed | {size["above_base"]:.1f} MB | {size["target_above_base"]:.0f} MB ({missed}) | {size["image_on_public_slim_base"]:.1f} MB |
| gzip (ECR's default, SOCI-indexable) | {gz["above_base"]:.1f} MB | {gz["target_above_base"]:.0f} MB ({"met" if gz["within_target"] else "missed"}) | {gz["image_on_public_slim_estimated"]:.1f} MB |
| zstd (`podman push --compression-format zstd`) | {zs["above_base"]:.1f} MB | {zs["target_above_base"]:.0f} MB ({"met" if zs["within_target"] else "missed"}) | {zs["image_on_public_slim_estimated"]:.1f} MB |

Estimated pull of the whole image on the public base, at assumed download rates of 25 / 50 /
100 MB/s and this machine's measured decompression ({rate["gzip"]:.0f} MB/s gzip,
{rate["zstd"]:.0f} MB/s zstd): gzip {pull["gzip"]["25_mb_per_s"]:.1f} / {pull["gzip"]["50_mb_per_s"]:.1f} / {pull["gzip"]["100_mb_per_s"]:.1f} s,
zstd {pull["zstd"]["25_mb_per_s"]:.1f} / {pull["zstd"]["50_mb_per_s"]:.1f} / {pull["zstd"]["100_mb_per_s"]:.1f} s. The container starts and exits here in
{d["container_start_seconds_measured_here"]:.2f} s, so `cloudburst estimate` charges each task
{d["task_start_seconds"]["estimate"]:.1f} s of start-up: per scene {share["1"]["seconds"]:.2f} s at 1 scene a task,
{share["10"]["seconds"]:.2f} s at 10 and {share["50"]["seconds"]:.2f} s at 50 (${share["1"]["usd_on_default_profile"]:.6f}, ${share["10"]["usd_on_default_profile"]:.6f} and
${share["50"]["usd_on_default_profile"]:.6f} on the default 2-vCPU profile). A subtitled zoom scene and a still
scene read {reads["mb_read_by_first_scenes"]:.0f} MB of the image's own files ({reads["fraction_of_layers_above_base"]:.0%} of the layers above the base).
Largest packages: {largest}.
"""  # noqa: E501


def episode(d: dict[str, Any]) -> str:
    def verdict(ok: bool) -> str:
        return "met" if ok else "missed"

    ratio, cpu_ratio = d["ratio_to_full_reencode"], d["cpu_ratio_to_full_reencode"]
    frame_ms = 1000 / 30
    return f"""| {d["scenes"]} scenes, {d["episode_s"]:.0f} s of 1080p, fades, music, −16 LUFS | wall s | CPU s |
|---|---:|---:|
| assembly | {d["assembly_s"]:.1f} | {d["assembly_cpu_s"]:.1f} |
| copying the same scene files | {d["copy_s"]:.2f} | |
| one full re-encode of the same timeline (renderer's x264) | {d["full_reencode_s"]:.1f} | {d["full_reencode_cpu_s"]:.1f} |

- Assembly costs {ratio:.2f}× the full re-encode in wall time and {cpu_ratio:.2f}× in CPU (target
  ≤ 0.2×: {verdict(ratio <= 0.2)} on the clock, {verdict(cpu_ratio <= 0.2)} in CPU), {d["ratio_to_copy"]:.0f}× a file copy: {d["reencoded_seconds"]:.1f} s of
  {d["episode_s"]:.0f} s were re-encoded ({d["seams_reencoded"]} seams).
- Largest inserted silence at a join {d["max_join_gap_ms"]:.2f} ms (target ≤ 1: {verdict(d["max_join_gap_ms"] <= 1)}); audio vs video at the
  end {d["end_drift_ms"]:.2f} ms (≤ {frame_ms:.1f}, one frame: {verdict(d["end_drift_ms"] <= frame_ms)}); loudness error {d["loudness_error_lu"]:+.1f} LU (±1: {verdict(abs(d["loudness_error_lu"]) <= 1)}),
  true peak {d["true_peak_db"]:.1f} dBTP (≤ −1.5: {verdict(d["true_peak_db"] <= -1.5)}); music {d["ducking_db"]:.1f} dB lower under narration than
  in its silences (≥ 8: {verdict(d["ducking_db"] >= 8)}); peak RSS {d["peak_rss_mb"]:.0f} MB.
"""  # noqa: E501


BLOCKS: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    "episode": ("episode.json", episode),
    "image": ("image.json", image),
    "orchestration": ("orchestration.json", orchestration),
    "orchestration-load": ("orchestration_hog.json", orchestration_load),
    "render-modes": ("render.json", render_modes),
    "render-sweep": ("render.json", render_sweep),
    "render-ratios": ("render.json", render_ratios),
}


def rendered(readme: str, results: Path = RESULTS) -> str:
    """The README with every figure block written from the results."""

    def block(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in BLOCKS:
            raise KeyError(f"README names an unknown figure block {name!r}")
        file, render = BLOCKS[name]
        data = json.loads((results / file).read_text("utf-8"))
        return f"{match[1]}{render(data)}{match[4]}"

    return _BLOCK.sub(block, readme)


def _row(name: str, wall: float, cpu: float, mb: float, vmaf: float | None) -> str:
    score = f"{vmaf:.2f}" if vmaf is not None else ""
    return f"| {name} | {wall:.2f} | {cpu:.2f} | {mb:.2f} | {score} |"


def _limit(row: dict[str, float], prefix: str) -> tuple[float, float, float, None]:
    return row[f"{prefix}_wall_s"], row[f"{prefix}_cpu_s"], row[f"{prefix}_mb"], None


def _minute(row: dict[str, float]) -> tuple[float, float, float, None]:
    return row["wall_s"], row["cpu_s"], row["mb"], None


def main() -> int:
    before = README.read_text("utf-8")
    after = rendered(before)
    if after != before:
        README.write_text(after, "utf-8")
        print("README.md figures rewritten from bench/results/")
    else:
        print("README.md figures already match bench/results/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
