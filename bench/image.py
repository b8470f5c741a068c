"""How big the worker image is, and what that costs at every Fargate task start.

Fargate pulls the image at each task start and bills from ``pullStartedAt``, so its size is
time and money on every batch. This measures the image ``make image`` built (podman):

- uncompressed: the whole image, the base it was built on, and the layers above that base.
  The base here is a stand-in made from Debian's archive (the public registry cannot be
  reached); the budget is stated for the public ``python:3.11-slim`` base (~125 MB), so the
  figure to hold against it is (layers above the base) + 125 MB.
- compressed: each layer gzipped at level 6, as a registry (ECR) stores and serves it.
- an estimated pull: compressed bytes at an assumed download rate plus uncompressed bytes at
  an assumed extraction rate (both printed; they are assumptions, not measurements).
- the largest packages of the image's package folder, to say where the bytes are.

Usage: ``python bench/image.py [IMAGE] [BASE]``; writes ``bench/results/image.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "image.json"
CONTAINERS_CONF = REPO / "container" / "podman" / "containers.conf"
PUBLIC_SLIM_MB = 125.0  # python:3.11-slim-bookworm, uncompressed (issue 12's figure)
BUDGET_MB = 600.0
DOWNLOAD_MB_PER_S = 50.0  # assumed ECR → Fargate throughput
EXTRACT_MB_PER_S = 150.0  # assumed layer extraction rate (uncompressed bytes)
MB = 1e6


def main(argv: list[str]) -> int:
    image = argv[0] if argv else "localhost/cloudburst-worker:dev"
    base = argv[1] if len(argv) > 1 else "localhost/cloudburst-base:bookworm-py3.11"
    base_layers = set(_inspect(base)["RootFS"]["Layers"])
    layers = _layer_sizes(image)
    above = [layer for layer in layers if layer["diff_id"] not in base_layers]
    below = [layer for layer in layers if layer["diff_id"] in base_layers]
    above_mb = sum(layer["bytes"] for layer in above) / MB
    above_gz_mb = sum(layer["gzip_bytes"] for layer in above) / MB
    base_mb = sum(layer["bytes"] for layer in below) / MB
    base_gz_mb = sum(layer["gzip_bytes"] for layer in below) / MB
    slim_gz_mb = PUBLIC_SLIM_MB * base_gz_mb / base_mb  # the stand-in's ratio, applied
    on_slim_mb = above_mb + PUBLIC_SLIM_MB
    on_slim_gz_mb = above_gz_mb + slim_gz_mb
    result: dict[str, Any] = {
        "image": image,
        "base_stand_in": base,
        "uncompressed_mb": {
            "image_on_stand_in_base": round(above_mb + base_mb, 1),
            "stand_in_base": round(base_mb, 1),
            "above_base": round(above_mb, 1),
            "on_public_slim_base": round(on_slim_mb, 1),
            "budget": BUDGET_MB,
            "within_budget": on_slim_mb <= BUDGET_MB,
        },
        "compressed_mb": {
            "above_base": round(above_gz_mb, 1),
            "stand_in_base": round(base_gz_mb, 1),
            "on_public_slim_base_estimated": round(on_slim_gz_mb, 1),
        },
        "pull_seconds_estimated": {
            "on_public_slim_base": round(
                on_slim_gz_mb / DOWNLOAD_MB_PER_S + on_slim_mb / EXTRACT_MB_PER_S, 1
            ),
            "assumed_download_mb_per_s": DOWNLOAD_MB_PER_S,
            "assumed_extract_mb_per_s": EXTRACT_MB_PER_S,
        },
        "layers_above_base": [
            {
                "created_by": layer["created_by"],
                "mb": round(layer["bytes"] / MB, 1),
                "gzip_mb": round(layer["gzip_bytes"] / MB, 1),
            }
            for layer in above
        ],
        "largest_packages_mb": _largest_packages(image),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


def _podman(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
    return subprocess.run(["podman", *args], env=env, check=True, capture_output=True, text=True)


def _inspect(image: str) -> dict[str, Any]:
    inspected: list[dict[str, Any]] = json.loads(_podman("image", "inspect", image).stdout)
    return inspected[0]


def _layer_sizes(image: str) -> list[dict[str, Any]]:
    """Every layer of ``image`` in order: diff id, uncompressed and gzip -6 sizes, origin."""
    history = [h for h in _inspect(image).get("History", []) if not h.get("empty_layer")]
    with tempfile.TemporaryDirectory(prefix="cloudburst-image-bench-") as work:
        archive = Path(work) / "image.tar"
        _podman("save", "--format", "docker-archive", "-o", str(archive), image)
        with tarfile.open(archive) as tar:
            manifest = json.load(_member(tar, "manifest.json"))[0]
            config = json.load(_member(tar, manifest["Config"]))
            layers = []
            for index, (name, diff_id) in enumerate(
                zip(manifest["Layers"], config["rootfs"]["diff_ids"], strict=True)
            ):
                raw, packed = _gzip_size(_member(tar, name))
                origin = history[index].get("created_by", "") if index < len(history) else ""
                layers.append(
                    {
                        "diff_id": diff_id,
                        "bytes": raw,
                        "gzip_bytes": packed,
                        "created_by": origin[:120],
                    }
                )
    return layers


def _member(tar: tarfile.TarFile, name: str) -> Any:
    member = tar.extractfile(name)
    if member is None:
        raise SystemExit(f"{name} is missing from the saved image")
    return member


def _gzip_size(stream: Any) -> tuple[int, int]:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # gzip framing, level 6
    raw = packed = 0
    while chunk := stream.read(1 << 20):
        raw += len(chunk)
        packed += len(compressor.compress(chunk))
    return raw, packed + len(compressor.flush())


_PACKAGES_SCRIPT = """
import json, os
root = "/opt/cloudburst/venv/lib/python3.11/site-packages"
sizes = {}
for name in os.listdir(root):
    total = 0
    for folder, _, files in os.walk(os.path.join(root, name)):
        total += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
    if os.path.isfile(os.path.join(root, name)):
        total = os.path.getsize(os.path.join(root, name))
    sizes[name] = total
print(json.dumps(sizes))
"""


def _largest_packages(image: str, count: int = 10) -> dict[str, float]:
    run = _podman("run", "--rm", "--network", "none", "--entrypoint", "python", image,
                  "-c", _PACKAGES_SCRIPT)  # fmt: skip
    sizes: dict[str, int] = json.loads(run.stdout)
    largest = sorted(sizes.items(), key=lambda item: -item[1])[:count]
    return {name: round(size / MB, 1) for name, size in largest}


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
