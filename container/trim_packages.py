"""Drop from the image's installed wheels only what no code path can load, then prove the
rest works (image build step, and ``make image-test`` inside the built image).

The image is pulled at every Fargate task start, so its size is money; but a library that
ships must work, so nothing here stubs, patches or half-removes a library. What goes:

- test suites (numpy's ``tests`` packages): run by a test runner the image does not ship,
  imported by nothing else;
- typing stubs (``*.pyi``): read by type checkers, never by the interpreter.

Everything else stays whole: every botocore service model (so any client, and STS/SSO for
the credential chain), every numpy subpackage, every bundled shared library. ``check``
then proves it: every installed file still has the content its wheel's RECORD gives (so no
library was stubbed or patched, and only test suites and typing stubs are missing), every
shared library loads with all its symbols bound, and every shipped module imports, so the
build fails where a task would otherwise abort or fail to import.

Usage: ``python trim_packages.py ROOT`` (trim, then check) or
``python trim_packages.py --check ROOT [ROOT ...]`` (check only; exits 1 on any failure).
"""

from __future__ import annotations

import base64
import csv
import ctypes
import hashlib
import importlib
import os
import shutil
import sys
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path

# Packages whose ``tests`` folders are test suites, not modules anything imports.
TEST_SUITES = ("numpy",)

# Files that look like modules but are not meant to be imported on this platform (each
# package's own loader or another OS uses them); any other import failure fails the check.
NOT_IMPORTABLE = {
    "cv2.cv2": "the extension itself, which cv2/__init__.py loads as cv2",
    "cv2.config": "exec()uted by cv2's loader with LOADER_DIR defined",
    "numpy.distutils.msvc9compiler": "Windows only (winreg)",
    "dateutil.tzwin": "Windows only (winreg)",
    "dateutil.tz.win": "Windows only (winreg)",
    "botocore.crt.auth": "needs awscrt, an optional dependency botocore guards against",
    "pydantic.v1._hypothesis_plugin": "a plugin that hypothesis loads, with hypothesis",
}


def main(argv: list[str]) -> int:
    if argv[:1] == ["--check"]:
        return check([Path(arg) for arg in argv[1:]])
    (root,) = (Path(arg) for arg in argv)
    freed = 0
    for path in sorted(removable(root)):
        if not path.exists():  # inside a folder removed before it
            continue
        freed += _size(path)
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    print(f"trim_packages: {freed / 1e6:.1f} MB of test suites and typing stubs removed")
    return check([root])


def removable(root: Path) -> Iterator[Path]:
    """Every file or folder under ``root`` that no code path loads."""
    for package in TEST_SUITES:
        yield from (p for p in (root / package).rglob("tests") if p.is_dir())
    yield from root.rglob("*.pyi")


def check(roots: list[Path]) -> int:
    """0 when every shared library under ``roots`` loads and every module imports."""
    sys.dont_write_bytecode = True  # pip's .pyc files only: the layer stays reproducible
    failures = [*record_failures(roots), *library_failures(roots), *import_failures(roots)]
    for failure in failures:
        print(failure, file=sys.stderr)
    libraries = sum(1 for _ in shared_libraries(roots))
    modules = sum(1 for _ in modules_under(roots))
    print(f"check: {libraries} shared libraries, {modules} modules, {len(failures)} failures")
    return 1 if failures else 0


def record_failures(roots: list[Path]) -> Iterator[str]:
    """Each installed file whose content differs from its wheel's RECORD, and each missing
    file that is not a test suite or typing stub (what ``removable`` takes)."""
    for root in roots:
        for record in sorted(root.glob("*.dist-info/RECORD")):
            with record.open(newline="") as file:
                for row in csv.reader(file):
                    if len(row) < 2 or not row[1].startswith("sha256="):
                        continue  # RECORD itself, and .pyc files pip compiled
                    if row[0].startswith("../"):
                        continue  # a console script, installed outside the packages
                    path = root / row[0]
                    if not path.exists():
                        if not _trimmed(Path(row[0])):
                            yield f"file {row[0]}: missing ({record.parent.name})"
                        continue
                    digest = hashlib.sha256(path.read_bytes()).digest()
                    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
                    if row[1] != f"sha256={expected}":
                        yield f"file {row[0]}: not the file its wheel installed (changed)"


def _trimmed(relative: Path) -> bool:
    """Whether ``removable`` would take this path (a test suite or a typing stub)."""
    if relative.suffix == ".pyi":
        return True
    return relative.parts[0] in TEST_SUITES and "tests" in relative.parts[1:-1]


def shared_libraries(roots: list[Path]) -> Iterator[Path]:
    for root in roots:
        for path in sorted(root.rglob("*.so*")):
            if path.is_file() and (path.suffix == ".so" or ".so." in path.name):
                with path.open("rb") as file:
                    if file.read(4) == b"\x7fELF":
                        yield path


def library_failures(roots: list[Path]) -> Iterator[str]:
    """Each library whose loading fails, with every symbol bound now (``RTLD_NOW``): a
    missing or half-removed dependency shows here, not in a task."""
    for path in shared_libraries(roots):
        try:
            ctypes.CDLL(str(path), mode=os.RTLD_NOW | os.RTLD_LOCAL)
        except OSError as error:
            yield f"library {path}: {error}"


def modules_under(roots: list[Path]) -> Iterator[str]:
    """Dotted names of every module in every regular package (and top-level module)."""
    for root in roots:
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if path.suffix == ".py":
                name = relative.with_suffix("")
            elif path.suffix == ".so" and ".cpython-" not in path.name and ".abi3" not in path.name:
                continue
            elif path.suffix == ".so":
                name = relative.with_name(path.name.split(".", 1)[0])
            else:
                continue
            parts = name.parts
            if not all((root / Path(*parts[:i]) / "__init__.py").exists()
                       for i in range(1, len(parts))):  # fmt: skip
                continue  # a script or data folder, not a package
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if not parts or parts[-1] == "__main__" or not all(p.isidentifier() for p in parts):
                continue
            yield ".".join(parts)


def import_failures(roots: list[Path]) -> Iterator[str]:
    """Each module that fails to import, except for an optional dependency that is not
    shipped at all (``botocore.crt`` without ``awscrt``): that is how its package says
    "feature not installed", not a broken module."""
    shipped = {
        child.name.split(".")[0]
        for root in roots
        for child in root.iterdir()
        if not child.name.endswith((".dist-info", ".libs"))
    }
    sys.path[:0] = [str(root) for root in roots if str(root) not in sys.path]
    warnings.simplefilter("ignore")  # optional-dependency notices, not failures
    for name in dict.fromkeys(modules_under(roots)):
        if name in NOT_IMPORTABLE:
            continue
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as error:
            missing = (error.name or "").split(".")[0]
            if missing and missing not in shipped and missing not in sys.stdlib_module_names:
                continue
            yield f"import {name}: {traceback.format_exception_only(error)[-1].strip()}"
        except BaseException as error:  # any failure to import is the finding
            yield f"import {name}: {traceback.format_exception_only(error)[-1].strip()}"


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
