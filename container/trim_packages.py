"""Remove from the image's installed wheels what the worker never loads (image build step).

The worker image is pulled at every Fargate task start and billed from the pull's start,
so its size is money. The wheels are the local set-up's own pins (one ffmpeg build, one
set of fonts for both), installed whole; this deletes only parts no code path of the
worker reaches:

- botocore's and boto3's API models of every AWS service but S3 (the worker's one client;
  ECS hands it credentials over HTTP, no STS call). botocore reads a model only when a
  client for that service is made.
- the test suites, C headers, ``distutils`` and ``f2py`` shipped inside numpy (for building
  extensions, never imported by ``import numpy``), and typing stubs (``*.pyi``) everywhere.
- the italic Noto Sans face: the renderer gives libass exactly one upright file per
  language (render/fonts.py), so the italic file is never opened.

Bundled shared libraries stay: cv2 and PyAV resolve symbols of their bundled libav*,
OpenBLAS and codec libraries when they load, so none can go without a rebuilt wheel.

Usage: ``python trim_packages.py /opt/cloudburst/packages``; prints what it removed, then
imports the trimmed packages to prove they still load.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

KEEP_SERVICES = frozenset({"s3"})


def main(argv: list[str]) -> int:
    (root,) = (Path(arg) for arg in argv)
    freed = 0
    for path in sorted(set(removable(root))):
        if not path.exists():  # inside a folder removed before it
            continue
        size = _size(path)
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        freed += size
    print(f"trim_packages: {freed / 1e6:.1f} MB removed")
    verify(root)
    return 0


def removable(root: Path) -> Iterator[Path]:
    """Every file or folder under ``root`` that the worker never loads."""
    for models in (root / "botocore" / "data", root / "boto3" / "data"):
        for service in models.iterdir():
            if service.is_dir() and service.name not in KEEP_SERVICES:
                yield service
    numpy = root / "numpy"
    yield from (p for p in numpy.rglob("tests") if p.is_dir())
    yield from (numpy / "distutils", numpy / "f2py", numpy / "_core" / "include")
    yield from root.rglob("*.pyi")
    yield from (root / "fontpkg_noto_sans" / "files").glob("NotoSans-Italic*")


def verify(root: Path) -> None:
    """The trimmed packages still import and make an S3 client (fails the build if not)."""
    code = (
        "import av, boto3, cv2, numpy, pydantic, aws_lambda_powertools;"
        "boto3.client('s3', region_name='us-east-1')"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(root)})


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
