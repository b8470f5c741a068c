"""How big the worker image is, and what that costs at every Fargate task start.

Fargate pulls the whole image at every task start (it caches nothing) and bills from
``pullStartedAt``, so the image's compressed size is part of every task's cost. This
measures the image ``make image`` built (podman) on the stand-in base:

- uncompressed: the image, the stand-in base, and the layers above that base (the figure
  the targets are stated for: the base is whatever python:3.11-slim weighs);
- compressed, as ``podman push`` compresses the layers for a registry: gzip (what ECR
  serves by default, and what a SOCI index needs) and zstd (smaller, faster to unpack);
- how fast this machine decompresses each (gzip with zlib, zstd with the ``zstd`` tool
  when installed), and how long the worker's container takes here from start to exit;
- an estimated pull at stated bandwidths (assumptions: the download rate from ECR inside a
  region is not published), for the image on the public base, and the share of that start
  each scene carries at 1, 10 and 50 scenes per task, in seconds and in dollars on the
  default profile;
- which fraction of the image's bytes one rendered scene reads (the SOCI question).

The figure ``cloudburst estimate`` uses is ``task_start_seconds.estimate``: the gzip pull at
the reference bandwidth plus the measured container start.

Usage: ``python bench/image.py [IMAGE] [BASE]``; writes ``bench/results/image.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from chalicelib.pricing import PROFILES, fargate_rate, task_cost_usd  # noqa: E402

RESULTS = REPO / "bench" / "results" / "image.json"
CONTAINERS_CONF = REPO / "container" / "podman" / "containers.conf"
SITE = "/opt/cloudburst/venv/lib/python3.11/site-packages"
PUBLIC_SLIM_MB = 125.0  # python:3.11-slim-bookworm uncompressed (not reachable from here)
TARGET_ABOVE_BASE_MB = 350.0
TARGET_ABOVE_BASE_COMPRESSED_MB = 120.0
BANDWIDTHS_MB_PER_S = (25.0, 50.0, 100.0)  # assumed ECR -> Fargate download rates
REFERENCE_MB_PER_S = 50.0
BATCH_SIZES = (1, 10, 50)
DEFAULT_PRIORITY = 1  # the manifest's default profile (2 vCPU, 4 GB)
MB = 1e6


def main(argv: list[str]) -> int:
    image = argv[0] if argv else "localhost/cloudburst-worker:dev"
    base = argv[1] if len(argv) > 1 else "localhost/cloudburst-base:bookworm-py3.11"
    base_layers = set(_inspect(base)["RootFS"]["Layers"])
    with tempfile.TemporaryDirectory(prefix="cloudburst-image-bench-") as work:
        gzip = _pushed_layers(image, "gzip", Path(work))
        zstd = _pushed_layers(image, "zstd", Path(work))
        raw, gzip_rate = _gunzip_sizes(gzip)
        zstd_rate = _zstd_rate(zstd, sum(raw.values()))
    history = [h for h in _inspect(image).get("History", []) if not h.get("empty_layer")]
    layers = []
    for index, diff_id in enumerate(raw):
        origin = history[index].get("created_by", "") if index < len(history) else ""
        layers.append({"diff_id": diff_id, "bytes": raw[diff_id], "gzip": gzip[diff_id][1],
                       "zstd": zstd[diff_id][1], "created_by": origin[:120],
                       "base": diff_id in base_layers})  # fmt: skip
    result = summarise(layers, gzip_rate, zstd_rate, _container_start_seconds(image))
    result["image"], result["base_stand_in"] = image, base
    result["largest_packages_mb"] = _largest_packages(image)
    result["render_reads"] = _render_reads(
        image, above_base_mb=result["uncompressed_mb"]["above_base"]
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


def summarise(
    layers: list[dict[str, Any]], gzip_rate: float, zstd_rate: float, start_s: float
) -> dict[str, Any]:
    """Sizes, estimated pulls and per-scene shares from measured layer sizes and rates."""

    def total(key: str, base: bool) -> float:
        return sum(layer[key] for layer in layers if layer["base"] == base) / MB

    above, base = total("bytes", False), total("bytes", True)
    compressed = {kind: {"above_base": total(kind, False), "stand_in_base": total(kind, True)}
                  for kind in ("gzip", "zstd")}  # fmt: skip
    for sizes in compressed.values():  # the public base compressed like the stand-in
        sizes["public_slim_base_estimated"] = PUBLIC_SLIM_MB * sizes["stand_in_base"] / base
        sizes["image_on_public_slim_estimated"] = (
            sizes["above_base"] + sizes["public_slim_base_estimated"]
        )
    on_slim = above + PUBLIC_SLIM_MB
    rates = {"gzip": gzip_rate, "zstd": zstd_rate}
    pulls = {
        kind: {
            f"{bandwidth:g}_mb_per_s": round(
                compressed[kind]["image_on_public_slim_estimated"] / bandwidth
                + on_slim / rates[kind],
                1,
            )
            for bandwidth in BANDWIDTHS_MB_PER_S
        }
        for kind in ("gzip", "zstd")
        if rates[kind] > 0
    }
    reference = f"{REFERENCE_MB_PER_S:g}_mb_per_s"
    estimate = pulls["gzip"][reference] + start_s
    profile = PROFILES[DEFAULT_PRIORITY]
    rate = fargate_rate("us-east-1", "x86_64", False)
    pull_cost = task_cost_usd(profile.vcpu, profile.memory_gb, 1, rate) * estimate
    return {
        "uncompressed_mb": {
            "image_on_stand_in_base": round(above + base, 1),
            "stand_in_base": round(base, 1),
            "above_base": round(above, 1),
            "target_above_base": TARGET_ABOVE_BASE_MB,
            "within_target": above <= TARGET_ABOVE_BASE_MB,
            "image_on_public_slim_base": round(on_slim, 1),
        },
        "compressed_mb": {
            kind: {name: round(value, 1) for name, value in sizes.items()}
            | {
                "target_above_base": TARGET_ABOVE_BASE_COMPRESSED_MB,
                "within_target": sizes["above_base"] <= TARGET_ABOVE_BASE_COMPRESSED_MB,
            }
            for kind, sizes in compressed.items()
        },
        "decompress_mb_per_s_measured_here": {
            "gzip": round(gzip_rate, 1),
            "zstd": round(zstd_rate, 1) if zstd_rate else None,
        },
        "pull_seconds_estimated": pulls
        | {
            "model": "compressed image on the public base / bandwidth + uncompressed / "
            "decompression rate measured here (no overlap, one stream: an upper bound)",
            "bandwidths_assumed_not_measured": list(BANDWIDTHS_MB_PER_S),
        },
        "container_start_seconds_measured_here": round(start_s, 2),
        "task_start_seconds": {
            "estimate": round(estimate, 1),
            "how": f"gzip pull at {REFERENCE_MB_PER_S:g} MB/s + container start to exit, "
            "measured here; Fargate's provisioning before the pull is not billed",
        },
        "per_scene_share_of_task_start": {
            str(size): {
                "seconds": round(estimate / size, 2),
                "usd_on_default_profile": round(pull_cost / size, 6),
            }
            for size in BATCH_SIZES
        },
        "layers_above_base": [
            {
                "created_by": layer["created_by"],
                "mb": round(layer["bytes"] / MB, 1),
                "gzip_mb": round(layer["gzip"] / MB, 1),
                "zstd_mb": round(layer["zstd"] / MB, 1),
            }
            for layer in layers
            if not layer["base"]
        ],
    }


def _podman(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
    return subprocess.run(["podman", *args], env=env, check=True, capture_output=True, text=True)


def _inspect(image: str) -> dict[str, Any]:
    inspected: list[dict[str, Any]] = json.loads(_podman("image", "inspect", image).stdout)
    return inspected[0]


def _pushed_layers(image: str, compression: str, work: Path) -> dict[str, tuple[Path, int]]:
    """diff id -> (blob, compressed bytes) of every layer as ``podman push`` writes it."""
    layout = work / compression
    _podman("push", "--compression-format", compression, image, f"oci:{layout}")
    blobs = layout / "blobs" / "sha256"
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((blobs / index["manifests"][0]["digest"].split(":")[1]).read_text())
    config = json.loads((blobs / manifest["config"]["digest"].split(":")[1]).read_text())
    return {
        diff_id: (blobs / layer["digest"].split(":")[1], int(layer["size"]))
        for diff_id, layer in zip(config["rootfs"]["diff_ids"], manifest["layers"], strict=True)
    }


def _gunzip_sizes(layers: dict[str, tuple[Path, int]]) -> tuple[dict[str, int], float]:
    """Uncompressed bytes per layer, and this machine's gzip decompression rate (MB/s)."""
    sizes: dict[str, int] = {}
    started = time.perf_counter()
    for diff_id, (blob, _) in layers.items():
        decompressor = zlib.decompressobj(31)
        size = 0
        with blob.open("rb") as file:
            while chunk := file.read(1 << 20):
                size += len(decompressor.decompress(chunk))
        sizes[diff_id] = size + len(decompressor.flush())
    elapsed = time.perf_counter() - started
    return sizes, sum(sizes.values()) / MB / elapsed


def _zstd_rate(layers: dict[str, tuple[Path, int]], raw_bytes: int) -> float:
    """This machine's zstd decompression rate (MB/s), 0 without the ``zstd`` tool."""
    if shutil.which("zstd") is None:
        return 0.0
    started = time.perf_counter()
    for blob, _ in layers.values():
        subprocess.run(["zstd", "-q", "-d", "-f", str(blob), "-o", os.devnull], check=True)
    return raw_bytes / MB / (time.perf_counter() - started)


def _container_start_seconds(image: str, runs: int = 3) -> float:
    """Median time from ``podman run`` to the worker's exit (no BATCH_SPEC: it imports
    everything, logs why and exits 2): container creation plus the worker's imports."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        env = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
        subprocess.run(["podman", "run", "--rm", "--network", "none", image], env=env,
                       capture_output=True, check=False)  # fmt: skip
        times.append(time.perf_counter() - started)
    return statistics.median(times)


_PACKAGES_SCRIPT = f"""
import json, os
root = "{SITE}"
sizes = {{}}
for name in os.listdir(root):
    path = os.path.join(root, name)
    total = os.path.getsize(path) if os.path.isfile(path) else 0
    for folder, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
    sizes[name] = total
print(json.dumps(sizes))
"""


def _largest_packages(image: str, count: int = 12) -> dict[str, float]:
    run = _podman("run", "--rm", "--network", "none", "--entrypoint", "python", image,
                  "-c", _PACKAGES_SCRIPT)  # fmt: skip
    sizes: dict[str, int] = json.loads(run.stdout)
    largest = sorted(sizes.items(), key=lambda item: -item[1])[:count]
    return {name: round(size / MB, 1) for name, size in largest}


# Renders a subtitled zooming scene and a still one inside the image, then lists every
# file the process mapped (Python, extensions, bundled libraries) plus the ffmpeg binary
# and fonts it used.
_RENDER_SCRIPT = """
import json, os, subprocess, tempfile
from pathlib import Path
import numpy as np, cv2
from cloudburst_worker.render import RenderSettings, SceneInput, render_scene
from cloudburst_worker.render.ffmpeg import ffmpeg_exe
from cloudburst_worker.render.fonts import subtitle_fonts
work = Path(tempfile.mkdtemp())
yy, xx = np.mgrid[0:720, 0:1280]
cv2.imwrite(str(work / "p.png"), np.stack([xx % 256, yy % 256, (xx + yy) % 256], 2).astype("uint8"))
subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "sine=duration=2",
                str(work / "a.mp3")], check=True)
(work / "s.srt").write_text("1\\n00:00:00,100 --> 00:00:01,500\\nhello\\n")
for zoom in (True, False):  # a moving scene (ffmpeg, OpenCV) and a still one (PyAV too)
    render_scene(SceneInput("s", work / "p.png", work / "a.mp3", work / "s.srt"),
                 RenderSettings(language="english", enable_zoom=zoom), work / f"{zoom}.mp4")
files = {line.split()[-1] for line in open("/proc/self/maps") if "/" in line}
files |= {ffmpeg_exe()} | {str(f.path) for f in subtitle_fonts("english")}
files |= {m.__file__ for m in list(__import__("sys").modules.values())
          if getattr(m, "__file__", None)}
print(json.dumps(sum(os.path.getsize(f) for f in files if os.path.isfile(f)
                     and not f.startswith(("/usr/", "/lib")))))
"""


def _render_reads(image: str, above_base_mb: float) -> dict[str, Any]:
    """Bytes of the image's own layers a task's first scenes read, against their total."""
    try:
        run = _podman("run", "--rm", "--network", "none", "--entrypoint", "python", image,
                      "-c", _RENDER_SCRIPT)  # fmt: skip
    except subprocess.CalledProcessError as error:
        return {"error": error.stderr[-500:]}
    read_mb = int(run.stdout.strip().splitlines()[-1]) / MB
    return {
        "mb_read_by_first_scenes": round(read_mb, 1),
        "fraction_of_layers_above_base": round(read_mb / above_base_mb, 2),
        "how": "files mapped by the worker process after a subtitled zoom scene and a still "
        "scene, plus the ffmpeg binary and font they ran with (the base's files not counted)",
    }


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
