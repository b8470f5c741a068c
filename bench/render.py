"""Renderer bench: what a 10-second 1080p scene costs, against the physics and the seed.

Run: ``.venv/bin/python bench/render.py`` (about 8-12 minutes on 2 cores; not run by CI).

Measures, in one run on this machine and side by side:
- wall and CPU seconds, size and VMAF (against a lossless render of the same scene) of
  plain, zoom, subtitles, full (zoom + subtitles + watermark) and portrait full;
- the encode-only limit: x264 with the same settings encoding exactly the output's frames
  (plus the same audio) from a raw file in RAM — a render that encodes every frame cannot
  cost less than that; plain beats it by repeating its one encoded GOP, so plain is also
  timed encoding every frame (one pass), and a 61-s plain scene both ways;
- the earlier tools' method as their documentation describes it: per-frame Lanczos warp of RGB
  frames into an mp4v intermediate, a libx264 medium CRF 23 encode with audio and
  watermark, then a second encode to burn the subtitles;
- zoom wobble: RMS deviation (px) of tracked dots from a smooth path, ours vs ``zoompan``;
- an encoder sweep (preset/CRF) on the full scene, which is how the shipped one was chosen;
- scenes per minute at 1 and 2 scenes at a time, and Fargate cost per 10-s full scene.

Writes ``bench/results/render.json``.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "container"), str(ROOT)]

from cloudburst_worker.render import (  # noqa: E402
    RenderResult,
    RenderSettings,
    SceneInput,
    render_scene,
)
from cloudburst_worker.render.commands import (  # noqa: E402
    FPS,
    SHIPPED_ENCODER,
    Encoder,
    decode_audio_args,
    encode_args,
)
from cloudburst_worker.render.ffmpeg import ffmpeg_exe, run_ffmpeg  # noqa: E402
from cloudburst_worker.render.motion import ZOOM_MAX  # noqa: E402
from cloudburst_worker.render.pipeline import _render_scene  # noqa: E402
from cloudburst_worker.render.subtitles import build_ass  # noqa: E402

from chalicelib import pricing  # noqa: E402

SECONDS = 10.0
RESULTS = ROOT / "bench" / "results" / "render.json"
SWEEP = [Encoder("veryfast", 22), Encoder("faster", 23), Encoder("medium", 23)]
REPEATS = 5  # other work shares this machine: ratios use the best of interleaved repeats
Q = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
T = TypeVar("T")


def main() -> None:
    started = time.monotonic()
    shm = Path("/dev/shm")
    work = Path(tempfile.mkdtemp(prefix="cb-bench-", dir=shm if shm.is_dir() else None))
    try:
        report = run(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["bench_wall_seconds"] = round(time.monotonic() - started, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwrote {RESULTS.relative_to(ROOT)} in {report['bench_wall_seconds']} s")


def run(work: Path) -> dict[str, Any]:
    load_before = os.getloadavg()
    assets = make_assets(work)
    image, audio, srt, mark = assets["image"], assets["audio"], assets["srt"], assets["mark"]
    one = RenderSettings(threads=1)
    modes: dict[str, tuple[SceneInput, RenderSettings]] = {
        "plain": (SceneInput("plain", image, audio, effect="none"), one),
        "zoom": (SceneInput("zoom", image, audio, effect="zoom_in"), one),
        "subtitles": (SceneInput("subs", image, audio, srt, effect="none"), one),
        "full": (SceneInput("full", image, audio, srt, "zoom_in"), replace(one, watermark=mark)),
        "portrait_full": (
            SceneInput("portrait", image, audio, srt, "zoom_in"),
            replace(one, watermark=mark, is_portrait=True),
        ),
    }
    rows: dict[str, dict[str, Any]] = {}
    refs: dict[str, Path] = {}
    for name, (scene, settings) in modes.items():
        out = work / f"{name}.mp4"
        result, wall, cpu = measured(partial(render_scene, scene, settings, out))
        check(result)
        refs[name] = lossless(scene, settings, work / f"{name}.ref.mp4")
        rows[name] = row(wall, cpu, out, vmaf(out, refs[name]))
        show(name, rows[name])

    pcm = work / "audio.pcm"
    run_ffmpeg(decode_audio_args(audio, pcm), timeout=600)
    best: dict[str, dict[str, float]] = {}
    for name in ("plain", "full"):
        best[name] = versus_limit(modes[name], work / f"{name}.mp4", pcm, work, name)
        rows[f"limit_{name}"] = {
            k: v for k, v in best[name].items() if k.startswith(("limit", "one_pass"))
        }
        print(f"{'vs limit ' + name:>16}: {best[name]}")

    seed_out, seed_wall, seed_cpu = seed_full(assets, work)
    seed_ref = seed_full_lossless(assets, work)
    rows["seed_full"] = row(seed_wall, seed_cpu, seed_out, vmaf(seed_out, seed_ref))
    show("seed_full", rows["seed_full"])

    minute = minute_long_plain(image, work)
    sweep = encoder_sweep(modes["full"], refs["full"], work)
    wobble = zoom_wobble(work)
    throughput = scenes_per_minute(modes["full"], work)
    costs = fargate_costs(throughput)

    full, seed = rows["full"], rows["seed_full"]
    return {
        "limit_ratio_plain": ratio(best["plain"]["wall_s"], best["plain"]["limit_wall_s"]),
        "limit_ratio_full": ratio(best["full"]["wall_s"], best["full"]["limit_wall_s"]),
        # plain encoding every frame instead of repeating its GOP (not shipped)
        "limit_ratio_plain_one_pass": ratio(
            best["plain"]["one_pass_wall_s"], best["plain"]["limit_wall_s"]
        ),
        "limit_cpu_ratio_plain": ratio(best["plain"]["cpu_s"], best["plain"]["limit_cpu_s"]),
        "limit_cpu_ratio_full": ratio(best["full"]["cpu_s"], best["full"]["limit_cpu_s"]),
        "seed_cpu_ratio_full": ratio(seed["cpu_s"], full["cpu_s"]),
        "vmaf_full": full["vmaf"],
        "vmaf_seed_full": seed["vmaf"],
        "wobble_px_rms": wobble["ours_px_rms"],
        "size_mb_full": full["mb"],
        "size_mb_seed_full": seed["mb"],
        "encoder": {"preset": SHIPPED_ENCODER.preset, "crf": SHIPPED_ENCODER.crf},
        "modes": rows,
        "plain_minute_long": minute,
        "encoder_sweep_full": sweep,
        "load_average_before_after": [load_before, os.getloadavg()],
        "wobble": wobble,
        "throughput": throughput,
        "fargate_cost_per_full_scene_usd": costs,
        "machine": {
            "cpus": _cpus(),
            "python": platform.python_version(),
            "ffmpeg": Path(ffmpeg_exe()).name,
            "opencv": cv2.__version__,
        },
        "notes": [
            "All scenes are 10 s; threads=1 per encode; VMAF v0.6.1 over every 3rd frame.",
            "Limits encode the same frames (+ the same PCM audio to AAC) from a raw file in RAM.",
            "Fargate cost: V parallel single-threaded scenes on a V-vCPU task, per-vCPU speed"
            " as measured here at 2 at a time, a batch of 10, billed >= 60 s; image pull and"
            " task start are not included.",
        ],
    }


# --- measuring -------------------------------------------------------------------------


def measured(fn: Callable[[], T]) -> tuple[T, float, float]:
    """(result, wall s, CPU s of this process and its ffmpeg children)."""
    s0, c0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    result = fn()
    wall = time.perf_counter() - t0
    s1, c1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(
        (b.ru_utime + b.ru_stime) - (a.ru_utime + a.ru_stime) for a, b in ((s0, s1), (c0, c1))
    )
    return result, wall, cpu


def row(wall: float, cpu: float, out: Path, score: float | None) -> dict[str, Any]:
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "mb": round(out.stat().st_size / 1e6, 3),
        "vmaf": None if score is None else round(score, 2),
    }


def show(name: str, r: dict[str, Any]) -> None:
    vm = "" if r.get("vmaf") is None else f"  VMAF {r['vmaf']:6.2f}"
    print(f"{name:>16}: wall {r['wall_s']:6.2f} s  CPU {r['cpu_s']:6.2f} s  {r['mb']:6.2f} MB{vm}")


def ratio(a: float, b: float) -> float:
    return round(a / b, 3)


def check(result: RenderResult) -> None:
    if not result.ok:
        raise SystemExit(f"render failed: {result.error}")


def lossless(scene: SceneInput, settings: RenderSettings, out: Path) -> Path:
    check(_render_scene(scene, settings, out, Encoder("ultrafast"), lossless=True))
    return out


def vmaf(distorted: Path, reference: Path) -> float:
    log = distorted.with_suffix(".vmaf.json")
    graph = (
        "[0:v]setpts=PTS-STARTPTS[d];[1:v]setpts=PTS-STARTPTS[r];"
        f"[d][r]libvmaf=n_threads=2:n_subsample=3:log_fmt=json:log_path={log.name}"
    )
    args = [*Q, "-i", str(distorted), "-i", str(reference), "-lavfi", graph, "-f", "null", "-"]
    run_ffmpeg(args, timeout=1800, cwd=str(log.parent))
    return float(json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"])


# --- references ------------------------------------------------------------------------


def versus_limit(
    mode: tuple[SceneInput, RenderSettings], output: Path, pcm: Path, work: Path, name: str
) -> dict[str, float]:
    """Best-of-REPEATS wall/CPU of the render and of its encode-only limit, interleaved."""
    scene, settings = mode
    raw = work / f"{name}.yuv"
    run_ffmpeg(
        [*Q, "-i", str(output), "-f", "rawvideo", "-pix_fmt", "yuv420p", str(raw)], timeout=600
    )
    frames = raw.stat().st_size // (1920 * 1080 * 3 // 2)
    limit_out = work / f"limit_{name}.mp4"
    args = encode_args(
        width=1920, height=1080, frame_count=frames, still=False, pcm=pcm, output=limit_out
    )
    args[args.index("pipe:0")] = str(raw)
    # A still scene ships with repeated GOPs; the same render encoding every frame is timed
    # beside it, so the JSON shows what repeating saves (and that one pass is at the limit).
    one_pass = None
    if scene.effect == "none" and scene.subtitle is None:
        one_pass = replace(settings, repeat_still_gops=False)
    runs: dict[str, list[tuple[float, float]]] = {"render": [], "limit": [], "one_pass": []}
    for _ in range(REPEATS):
        result, wall, cpu = measured(lambda: render_scene(scene, settings, work / "rep.mp4"))
        check(result)
        runs["render"].append((wall, cpu))
        if one_pass is not None:
            result, wall, cpu = measured(
                lambda: render_scene(scene, one_pass, work / "one_pass.mp4")
            )
            check(result)
            runs["one_pass"].append((wall, cpu))
        _, wall, cpu = measured(lambda: run_ffmpeg(args, timeout=1800))
        runs["limit"].append((wall, cpu))
    raw.unlink()
    best = {
        "wall_s": round(min(w for w, _ in runs["render"]), 2),
        "cpu_s": round(min(c for _, c in runs["render"]), 2),
        "limit_wall_s": round(min(w for w, _ in runs["limit"]), 2),
        "limit_cpu_s": round(min(c for _, c in runs["limit"]), 2),
        "limit_mb": round(limit_out.stat().st_size / 1e6, 3),
    }
    if runs["one_pass"]:
        best["one_pass_wall_s"] = round(min(w for w, _ in runs["one_pass"]), 2)
        best["one_pass_cpu_s"] = round(min(c for _, c in runs["one_pass"]), 2)
        best["one_pass_mb"] = round((work / "one_pass.mp4").stat().st_size / 1e6, 3)
    return best


def seed_full(assets: dict[str, Path], work: Path) -> tuple[Path, float, float]:
    """The seed's method: RGB Lanczos warp → mp4v → x264 (+audio, watermark) → x264 (+subs)."""
    ass = work / "seed.ass"
    inter, step1, final = work / "seed_inter.mp4", work / "seed_step1.mp4", work / "seed.mp4"

    def method() -> None:
        img = _read_bgr(assets["image"])
        h, w = img.shape[:2]
        n = round(SECONDS * FPS)
        writer = cv2.VideoWriter(str(inter), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (w, h))
        for i in range(n):
            writer.write(_seed_warp(img, i, n))
        writer.release()
        run_ffmpeg(
            [*Q, "-i", str(inter), "-i", str(assets["audio"]), "-i", str(assets["mark"]),
             "-filter_complex", f"[2:v]scale={w // 8}:-1[m];[0:v][m]overlay=10:10[v]",
             "-map", "[v]", "-map", "1:a", "-c:v", "libx264", "-preset", "medium",
             "-crf", "23", "-pix_fmt", "yuv420p", "-r", str(FPS), "-c:a", "aac", "-b:a",
             "128k", "-ar", "48000", "-ac", "2", "-shortest", str(step1)],
            timeout=1800,
        )  # fmt: skip
        run_ffmpeg(
            [*Q, "-i", str(step1), "-vf", f"subtitles=filename={ass.name}:fontsdir=fonts",
             "-c:v", "libx264", "-preset", "medium", "-crf", "23", "-pix_fmt", "yuv420p",
             "-c:a", "copy", str(final)],
            timeout=1800, cwd=str(work),
        )  # fmt: skip

    _seed_subtitles(assets, work, ass)
    _, wall, cpu = measured(method)
    return final, wall, cpu


def seed_full_lossless(assets: dict[str, Path], work: Path) -> Path:
    """The same seed picture (Lanczos warp, watermark, subtitles) encoded losslessly once."""
    img = _read_bgr(assets["image"])
    h, w = img.shape[:2]
    n = round(SECONDS * FPS)
    out = work / "seed.ref.mp4"
    frames = (_seed_warp(img, i, n).tobytes() for i in range(n))
    run_ffmpeg(
        [*Q, "-f", "rawvideo", "-pix_fmt", "bgr24", "-video_size", f"{w}x{h}",
         "-framerate", str(FPS), "-i", "pipe:0", "-i", str(assets["mark"]),
         "-filter_complex",
         f"[1:v]scale={w // 8}:-1[m];[0:v][m]overlay=10:10,"
         f"subtitles=filename=seed.ass:fontsdir=fonts[v]",
         "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0",
         "-pix_fmt", "yuv420p", str(out)],
        timeout=1800, stdin_chunks=frames, cwd=str(work),
    )  # fmt: skip
    return out


def _read_bgr(path: Path) -> np.ndarray:
    img = cv2.imread(str(path))
    if img is None:
        raise SystemExit(f"cannot read {path}")
    return np.asarray(img)


def _seed_warp(img: np.ndarray, i: int, n: int) -> np.ndarray:
    h, w = img.shape[:2]
    zoom = 1.0 + (ZOOM_MAX - 1.0) * i / (n - 1)
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 0, zoom)
    return np.asarray(cv2.warpAffine(img, matrix, (w, h), flags=cv2.INTER_LANCZOS4))


def _seed_subtitles(assets: dict[str, Path], work: Path, ass: Path) -> None:
    doc = build_ass(assets["srt"], RenderSettings(), 1920, 1080, SECONDS)
    ass.write_text(doc.text, encoding="utf-8")
    fonts = work / "fonts"
    fonts.mkdir(exist_ok=True)
    for index, path in enumerate(doc.font_files):
        link = fonts / f"{index}{path.suffix.lower()}"
        if not link.exists():
            link.symlink_to(path)


# --- encoder sweep, wobble, throughput, cost -------------------------------------------


def minute_long_plain(image: Path, work: Path) -> dict[str, dict[str, float]]:
    """A 61.3-s plain scene with repeated GOPs and in one pass: how the saving scales."""
    audio = work / "minute.m4a"
    run_ffmpeg(
        [*Q, "-f", "lavfi", "-i", "sine=f=180:d=61.3", "-c:a", "aac", "-b:a", "128k", str(audio)],
        timeout=120,
    )  # fmt: skip
    scene, one = SceneInput("minute", image, audio, effect="none"), RenderSettings(threads=1)
    rows = {}
    for name, settings in (("repeated", one), ("one_pass", replace(one, repeat_still_gops=False))):
        out = work / f"minute_{name}.mp4"
        result, wall, cpu = measured(partial(render_scene, scene, settings, out))
        check(result)
        rows[name] = {
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "mb": round(result.bytes / 1e6, 3),
        }
        print(f"{'61 s ' + name:>16}: {rows[name]}")
    return rows


def encoder_sweep(
    mode: tuple[SceneInput, RenderSettings], reference: Path, work: Path
) -> list[dict[str, Any]]:
    scene, settings = mode
    rows = []
    for enc in SWEEP:
        out = work / f"sweep_{enc.preset}_{enc.crf}.mp4"
        result, wall, cpu = measured(
            partial(_render_scene, scene, settings, out, enc, lossless=False)
        )
        check(result)
        r = {"preset": enc.preset, "crf": enc.crf, **row(wall, cpu, out, vmaf(out, reference))}
        rows.append(r)
        show(f"{enc.preset}/{enc.crf}", r)
    return rows


def zoom_wobble(work: Path) -> dict[str, Any]:
    """Track Gaussian dots through a 4-s zoom_in (lossless) and fit each dot's path with a
    quadratic in time; the RMS residual (px) is the wobble. ``zoompan`` gets the same input."""
    bw, bh = 2112, 1188  # exactly our zoom base, so the fit step is an identity
    dots = _dots_image(bw, bh)
    dots_png = work / "dots.png"
    Image.fromarray(dots).save(dots_png)
    tone = work / "tone4.wav"
    run_ffmpeg([*Q, "-f", "lavfi", "-i", "sine=d=4", str(tone)], timeout=60)
    ours = work / "wobble_ours.mp4"
    check(
        _render_scene(
            SceneInput("w", dots_png, tone, effect="zoom_in"),
            RenderSettings(),
            ours,
            Encoder("ultrafast"),
            lossless=True,
        )
    )
    n = 120
    zp = work / "wobble_zoompan.mp4"
    run_ffmpeg(
        [*Q, "-i", str(dots_png), "-vf",
         f"zoompan=z='1+{ZOOM_MAX - 1}*on/{n - 1}':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)'"
         f":d={n}:s=1920x1080:fps={FPS}",
         "-frames:v", str(n), "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0",
         "-pix_fmt", "yuv420p", str(zp)],
        timeout=600,
    )  # fmt: skip
    result = {
        "ours_px_rms": round(_wobble(ours, bw, bh), 4),
        "zoompan_px_rms": round(_wobble(zp, bw, bh), 4),
    }
    print(
        f"{'wobble':>16}: ours {result['ours_px_rms']} px RMS, zoompan {result['zoompan_px_rms']}"
    )
    return result


DOT_STEP = 96


def _dots_image(width: int, height: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.zeros((height, width), np.float32)
    for cy in range(DOT_STEP // 2, height, DOT_STEP):
        for cx in range(DOT_STEP // 2, width, DOT_STEP):
            sl = np.s_[max(0, cy - 16) : cy + 17, max(0, cx - 16) : cx + 17]
            img[sl] += np.exp(-((xx[sl] - cx) ** 2 + (yy[sl] - cy) ** 2) / (2 * 3.0**2))
    grey = (30 + 200 * img.clip(0, 1)).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def _wobble(video: Path, bw: int, bh: int) -> float:
    import av

    with av.open(str(video)) as container:
        frames = [f.to_ndarray(format="gray").astype(np.float64) for f in container.decode(video=0)]
    n = len(frames)
    w, h = frames[0].shape[1], frames[0].shape[0]
    centres = [
        (cx, cy)
        for cy in range(DOT_STEP // 2, bh, DOT_STEP)
        for cx in range(DOT_STEP // 2, bw, DOT_STEP)
    ]
    residuals = []
    t = np.arange(n) / (n - 1)
    for cx, cy in centres:
        track = []
        for i, frame in enumerate(frames):
            zoom = 1 + (ZOOM_MAX - 1) * i / (n - 1)
            scale = (bw / w) / zoom  # base px per output px
            px = (cx - (bw - 1) / 2) / scale + (w - 1) / 2
            py = (cy - (bh - 1) / 2) / scale + (h - 1) / 2
            if not (20 < px < w - 21 and 20 < py < h - 21):
                break
            x0, y0 = round(px), round(py)
            win = frame[y0 - 10 : y0 + 11, x0 - 10 : x0 + 11] - 30
            win = np.clip(win, 0, None)
            yy, xx = np.mgrid[y0 - 10 : y0 + 11, x0 - 10 : x0 + 11]
            track.append((float((win * xx).sum() / win.sum()), float((win * yy).sum() / win.sum())))
        if len(track) < n:
            continue  # the dot leaves the frame during the move
        xs, ys = np.array(track).T
        for series in (xs, ys):
            fit = np.polyval(np.polyfit(t, series, 2), t)
            residuals.append(series - fit)
    return float(np.sqrt(np.mean(np.square(np.concatenate(residuals)))))


def scenes_per_minute(mode: tuple[SceneInput, RenderSettings], work: Path) -> dict[str, Any]:
    scene, settings = mode

    def batch(count: int, parallel: int, threads: int) -> float:
        s = replace(settings, threads=threads)
        outs = [work / f"tp_{parallel}_{threads}_{i}.mp4" for i in range(count)]
        t0 = time.perf_counter()
        with ThreadPoolExecutor(parallel) as pool:
            results = list(pool.map(lambda o: render_scene(scene, s, o), outs))
        wall = time.perf_counter() - t0
        for r in results:
            check(r)
        return round(60 * count / wall, 2)

    result = {
        "one_at_a_time_threads_1": batch(2, 1, 1),
        "one_at_a_time_threads_2": batch(2, 1, 2),
        "two_at_a_time_threads_1": batch(4, 2, 1),
    }
    print(f"{'scenes/minute':>16}: {result}")
    return result


def fargate_costs(throughput: dict[str, Any]) -> dict[str, Any]:
    per_vcpu_per_minute = throughput["two_at_a_time_threads_1"] / 2
    rate = pricing.fargate_rate(pricing.DEFAULT_REGION, "x86_64", spot=False)
    out = {}
    for profile in pricing.PROFILES.values():
        seconds = 10 / (per_vcpu_per_minute * profile.vcpu) * 60  # batch of 10, V in parallel
        billed = pricing.billed_for(seconds)
        cost = pricing.task_cost_usd(profile.vcpu, profile.memory_gb, billed, rate)
        out[profile.label] = {
            "vcpu": profile.vcpu,
            "batch_of_10_seconds": round(seconds, 1),
            "billed_seconds": billed,
            "usd_per_scene": round(cost / 10, 6),
        }
    print(f"{'cost/scene':>16}: " + ", ".join(f"{k} ${v['usd_per_scene']}" for k, v in out.items()))
    return out


# --- assets ----------------------------------------------------------------------------


def make_assets(work: Path) -> dict[str, Path]:
    """A detailed 1920x1080 picture, 10 s of narration-like audio, a Chinese SRT, a logo."""
    image = work / "slide.png"
    run_ffmpeg(
        [*Q, "-f", "lavfi", "-i", "mandelbrot=s=1920x1080:maxiter=2000:start_scale=0.9",
         "-vf", "noise=alls=6:allf=u", "-frames:v", "1", str(image)],
        timeout=120,
    )  # fmt: skip
    audio = work / "narration.m4a"
    run_ffmpeg(
        [*Q, "-f", "lavfi", "-i",
         f"sine=f=180:d={SECONDS},volume='0.4+0.3*sin(2*PI*3*t)':eval=frame",
         "-f", "lavfi", "-i", f"anoisesrc=d={SECONDS}:a=0.05",
         "-filter_complex", "amix=inputs=2", "-c:a", "aac", "-b:a", "128k", str(audio)],
        timeout=120,
    )  # fmt: skip
    srt = work / "narration.srt"
    srt.write_text(
        "1\n00:00:00,300 --> 00:00:02,800\n欢迎来到云端渲染，这是第一句字幕。\n\n"
        "2\n00:00:03,200 --> 00:00:05,900\n静止的图片配上旁白，\n再加上缓慢的镜头推进。\n\n"
        "3\n00:00:06,300 --> 00:00:09,600\n字幕在底部居中，背景是一个半透明的黑色方框，"
        "长句会自动换行以适应画面宽度。\n",
        encoding="utf-8",
    )
    mark = work / "logo.png"
    logo = Image.new("RGBA", (400, 160), (0, 0, 0, 0))
    draw = ImageDraw.Draw(logo)
    draw.rounded_rectangle((4, 4, 396, 156), 30, fill=(255, 255, 255, 170))
    draw.ellipse((24, 24, 136, 136), fill=(230, 60, 40, 255))
    draw.rectangle((160, 60, 370, 100), fill=(20, 20, 20, 230))
    logo.save(mark)
    return {"image": image, "audio": audio, "srt": srt, "mark": mark}


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
