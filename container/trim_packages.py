"""Remove from the image's installed wheels what the worker never loads (image build step).

The worker image is pulled at every Fargate task start and billed from the pull's start,
so its size is money. The wheels are the local set-up's own pins (one ffmpeg build, one
set of fonts for both), installed whole; this deletes only parts no code path of the
worker reaches:

- botocore's and boto3's API models of every AWS service but S3 (the worker's one client;
  ECS hands it credentials over HTTP, no STS call). botocore reads a model only when a
  client for that service is made.
- the test suites, C headers, ``distutils`` and ``f2py`` shipped inside numpy (for building
  extensions, never imported by ``import numpy``), numpy's lazily loaded subpackages the
  renderer never touches (``random``, ``ma``, ``polynomial``, ``fft``), and typing stubs
  (``*.pyi``) everywhere.
- the parts of aws-lambda-powertools the worker's Logger never imports (the event handler,
  middleware factory and every utility but ``jmespath_utils``), and pydantic's ``v1`` copy.
- the italic Noto Sans face: the renderer gives libass exactly one upright file per
  language (render/fonts.py), so the italic file is never opened.

- bundled shared libraries for features the worker never calls (STUBBED): OpenCV's OpenBLAS
  (LAPACK/GEMM; resize, warpAffine, GaussianBlur, transform, cvtColor and imdecode do not
  use it) and libvpx (video I/O, never used: the renderer feeds ffmpeg frames); PyAV's
  AV1 codec libraries (the worker's PyAV only remuxes H.264/AAC packets,
  it opens no codec). cv2 and libavcodec bind these libraries' symbols when they load, so
  the files cannot simply go: each is replaced by a stub of the same name that defines the
  same symbols, every function printing which trimmed symbol was called and aborting. The
  libraries only they needed (OpenBLAS's libgfortran, libquadmath) then go too. The build
  needs a C compiler for this (the build stage only); ``verify`` then imports the result,
  and ``make image-test`` renders every feature inside the image.

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

# bundled libraries (globs under the packages folder) replaced by aborting stubs
STUBBED = (
    "opencv_python_headless.libs/libopenblas*.so*",
    "opencv_python_headless.libs/libvpx-*.so*",
    "av.libs/libSvtAv1Enc-*.so*",
    "av.libs/libdav1d-*.so*",
)


def main(argv: list[str]) -> int:
    (root,) = (Path(arg) for arg in argv)
    freed = stub_unused_libraries(root)
    for path in sorted({*removable(root), *unlinked_libraries(root)}):
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
    yield from (numpy / "random", numpy / "ma", numpy / "polynomial", numpy / "fft")
    yield from root.rglob("*.pyi")
    powertools = root / "aws_lambda_powertools"
    yield from (powertools / "event_handler", powertools / "middleware_factory")
    for utility in (powertools / "utilities").iterdir():
        if utility.is_dir() and utility.name not in {"jmespath_utils", "__pycache__"}:
            yield utility
    yield root / "pydantic" / "v1"
    yield from (root / "fontpkg_noto_sans" / "files").glob("NotoSans-Italic*")


def stub_unused_libraries(root: Path) -> int:
    """Replace every STUBBED library by a stub defining the symbols others import from it;
    returns the bytes saved."""
    saved = 0
    imported = _imported_symbols(root)
    for pattern in STUBBED:
        matches = sorted(root.glob(pattern))
        if len(matches) != 1:
            raise SystemExit(f"trim_packages: {pattern} matches {matches}: update STUBBED")
        library = matches[0]
        symbols = [(name, kind, size) for name, kind, size in _exported(library)
                   if name in imported]  # fmt: skip
        before = library.stat().st_size
        _compile_stub(library, symbols)
        saved += before - library.stat().st_size
        print(f"stubbed {library.relative_to(root)}: {len(symbols)} symbols")
    return saved


def _imported_symbols(root: Path) -> set[str]:
    names: set[str] = set()
    for library in _elf_files(root):
        out = _run("nm", "-D", "--undefined-only", str(library))
        names.update(line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip())
    return names


def _exported(library: Path) -> list[tuple[str, str, int]]:
    """(name, nm type letter, size) of every dynamic symbol ``library`` defines."""
    symbols = []
    for line in _run("nm", "-D", "--defined-only", "--size-sort", str(library)).splitlines():
        size, kind, name = line.split()[-3:]
        symbols.append((name.split("@")[0], kind, int(size, 16)))
    return symbols


def _compile_stub(library: Path, symbols: list[tuple[str, str, int]]) -> None:
    lines = [
        "#include <stdio.h>",
        "#include <stdlib.h>",
        "static void trimmed(const char *name) {",
        f'  fprintf(stderr, "{library.name} was trimmed from the image: %s called\\n", name);',
        "  abort();",
        "}",
    ]
    for name, kind, size in symbols:
        if kind in "Tt":
            lines.append(f'void {name}(void) {{ trimmed("{name}"); }}')
        else:  # data: zeroed storage of the same size
            lines.append(f"char {name}[{max(size, 1)}];")
    source = library.with_suffix(".stub.c")
    source.write_text("\n".join(lines) + "\n")
    _run("gcc", "-shared", "-fPIC", "-O2", "-s", f"-Wl,-soname,{library.name}",
         "-o", str(library), str(source))  # fmt: skip
    source.unlink()


def unlinked_libraries(root: Path) -> list[Path]:
    """Bundled libraries (``*.libs/``) that no extension module links, even indirectly."""
    bundled = {p.name: p for p in root.glob("*.libs/*.so*")}
    todo = [p for p in _elf_files(root) if p.parent.suffix != ".libs"]
    reached: set[str] = set()
    while todo:
        for needed in _needed(todo.pop()):
            if needed in bundled and needed not in reached:
                reached.add(needed)
                todo.append(bundled[needed])
    return [path for name, path in bundled.items() if name not in reached]


def _needed(library: Path) -> list[str]:
    return [
        line.split("[", 1)[1].rstrip("]")
        for line in _run("readelf", "-d", str(library)).splitlines()
        if "(NEEDED)" in line
    ]


def _elf_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.so*") if p.is_file() and p.read_bytes()[:4] == b"\x7fELF"]


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def verify(root: Path) -> None:
    """The trimmed packages still import and make an S3 client (fails the build if not)."""
    code = (
        "import av, boto3, cv2, numpy, pydantic;"
        "from aws_lambda_powertools import Logger;"
        "boto3.client('s3', region_name='us-east-1');"
        "log = Logger(service='trim-check'); log.append_keys(job_id='j');"
        "log.info('loaded', extra={'n': 1}); log.remove_keys(['job_id'])"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(root)})


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
