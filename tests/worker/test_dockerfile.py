"""What can be checked about the worker image without building it.

These tests read ``container/Dockerfile`` as the builder would: every COPY source exists and
survives ``.dockerignore``, the copied tree alone imports and starts the worker, the image's,
the Lambda bundle's and the local set-up's packages are one hashed lock's, they cover the
worker's imports and bring the local set-up's ffmpeg and fonts, and the build's trim step
removes only test suites and typing stubs. ``make image-test`` (tests/image) builds and runs
the real image.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import pytest
import trim_packages  # container/trim_packages.py, the image build's trim step
from cloudburst_worker.render.ffmpeg import ffmpeg_exe
from cloudburst_worker.render.fonts import subtitle_fonts

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "container" / "Dockerfile"
REQUIREMENTS = REPO / "container" / "requirements.txt"
LOCK = REPO / "requirements.lock"
LAMBDA_REQUIREMENTS = REPO / "requirements.txt"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuations joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def copies() -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY from the build context into the final image.

    Flags such as --chown are dropped; copies from a build stage (--from) and those made in
    an earlier stage (only the last stage is the image) are left out.
    """
    result: list[tuple[list[str], str]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            result = []
        if keyword == "COPY" and "--from=" not in rest:
            parts = [p for p in rest.split() if not p.startswith("--")]
            result.append((parts[:-1], parts[-1]))
    return result


def final_stage_runs() -> list[str]:
    """RUN instructions of the last stage (the image itself)."""
    runs: list[str] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            runs = []
        elif keyword == "RUN":
            runs.append(rest)
    return runs


def context_copies() -> list[str]:
    """Every build-context file any stage copies."""
    sources = []
    for keyword, rest in instructions():
        if keyword == "COPY" and "--from=" not in rest:
            sources.extend([p for p in rest.split() if not p.startswith("--")][:-1])
    return sources


def dockerignore_excludes(path: str) -> bool:
    """Docker's rule: the last matching pattern wins, and a pattern matching a parent counts."""
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _glob_regex(pattern.lstrip("!").rstrip("/"))
        if any(regex.fullmatch(c) for c in candidates):
            excluded = not negate
    return excluded


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def context_files() -> list[Path]:
    """Files the build context would contain (the repository minus .dockerignore)."""
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [REPO / p for p in tracked if not dockerignore_excludes(p) and (REPO / p).exists()]


def test_base_image_is_a_build_argument_defaulting_to_slim_python_311_by_digest() -> None:
    # the multi-arch official image, pinned by digest; `make image` passes a local stand-in
    args = [rest for keyword, rest in instructions() if keyword == "ARG"]
    (base,) = [arg for arg in args if arg.startswith("BASE_IMAGE=")]
    assert re.fullmatch(r"BASE_IMAGE=python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", base)
    froms = [rest.split()[0] for keyword, rest in instructions() if keyword == "FROM"]
    assert set(froms) == {"${BASE_IMAGE}"}


def test_every_copy_source_exists_and_is_in_the_build_context() -> None:
    sources = context_copies()
    assert sources, "the Dockerfile copies nothing"
    for source in sources:
        assert (REPO / source).exists(), f"COPY source {source} does not exist"
        assert not dockerignore_excludes(source), f"{source} is excluded by .dockerignore"


def test_build_context_holds_no_venv_git_tests_or_credentials() -> None:
    assert dockerignore_excludes(".venv/bin/python")
    assert dockerignore_excludes(".git/config")
    assert dockerignore_excludes("tests/worker/test_batch.py")
    assert dockerignore_excludes("container/cloudburst_worker/__pycache__/batch.cpython-311.pyc")
    assert dockerignore_excludes(".env")
    assert dockerignore_excludes("chalicelib/.env")


def test_ffmpeg_and_fonts_come_from_the_local_set_ups_wheels_not_from_apt() -> None:
    # one ffmpeg build and one set of font files for the image and the local set-up
    runs = " ".join(rest for keyword, rest in instructions() if keyword == "RUN")
    assert "--require-hashes" in runs
    assert "--python /opt/cloudburst/venv/bin/python install" in runs
    assert "-r /build/requirements.txt" in runs
    assert "apt-get" not in runs
    assert final_stage_runs() == []  # the image's own stage only copies
    pins = requirement_pins()
    for wheel in ("imageio-ffmpeg", "noto-cjk-sans-otc", "fontpkg-noto-sans"):
        assert wheel in pins, f"{wheel} is not in container/requirements.txt"
    env = " ".join(rest for keyword, rest in instructions() if keyword == "ENV")
    assert "CLOUDBURST_FFMPEG" not in env  # the wheel's ffmpeg is found as it is locally
    assert "CLOUDBURST_FONTS_DIR" not in env


def test_the_trim_step_removes_only_test_suites_and_typing_stubs() -> None:
    # given the installed wheels (the local set-up's, the image's pins) and the trim rule
    site = Path(imageio_ffmpeg.__file__).resolve().parents[1]
    removed = [path.resolve() for path in trim_packages.removable(site)]

    # then everything removed is a tests folder or a .pyi file, never a library or a model
    assert removed, "the trim step removes nothing"
    for path in removed:
        assert path.name == "tests" or path.suffix == ".pyi", path
        assert not (path.is_file() and ".so" in path.name), path
    used = [Path(ffmpeg_exe()).resolve(), site / "botocore" / "data" / "sts"]
    used += [
        font.path.resolve() for lang in ("chinese", "english") for font in subtitle_fonts(lang)
    ]
    for path in used:
        assert path.exists(), path
        assert not any(path == r or r in path.parents for r in removed), f"{path} is trimmed"


def fake_wheel(root: Path, files: dict[str, bytes]) -> None:
    """``files`` installed under ``root`` as one wheel would, with a RECORD of their hashes."""
    rows = []
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
        digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=")
        rows.append(f"{name},sha256={digest.decode()},{len(content)}")
    (root / "fake-1.0.dist-info").mkdir()
    (root / "fake-1.0.dist-info" / "RECORD").write_text("\n".join(rows) + "\n")


def test_the_image_check_finds_a_stubbed_library_a_removed_module_and_a_broken_import(
    tmp_path: Path,
) -> None:
    # given a folder of installed packages where the check passes
    fake_wheel(
        tmp_path,
        {
            "fake/__init__.py": b"",
            "fake/works.py": b"VALUE = 1\n",
            "fake/gone.py": b"",
            "fake.libs/libthing.so.1": b"\x7fELF real library bytes",
        },
    )
    assert list(trim_packages.record_failures([tmp_path])) == []
    assert list(trim_packages.import_failures([tmp_path])) == []

    # when a library is replaced by a stub, a module removed and a module fails to import
    (tmp_path / "fake.libs" / "libthing.so.1").write_bytes(b"\x7fELF stub")
    (tmp_path / "fake" / "gone.py").unlink()
    (tmp_path / "fake" / "raises.py").write_text("raise RuntimeError('no')\n")

    # then each is reported
    found = "\n".join(
        [
            *trim_packages.record_failures([tmp_path]),
            *trim_packages.library_failures([tmp_path]),
            *trim_packages.import_failures([tmp_path]),
        ]
    )
    assert "fake.libs/libthing.so.1: not the file its wheel installed" in found
    assert "fake/gone.py: missing" in found
    assert "library " in found  # the stub does not even load as a library
    assert "import fake.raises: RuntimeError: no" in found
    assert "fake.works" not in found


def test_image_runs_as_a_non_root_user() -> None:
    users = [rest for keyword, rest in instructions() if keyword == "USER"]
    assert users, "no USER: the worker would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_environment_puts_the_worker_and_its_packages_on_the_path_and_unbuffers_logs() -> None:
    env = " ".join(rest for keyword, rest in instructions() if keyword == "ENV")
    assert "PYTHONUNBUFFERED=1" in env
    assert "PATH=/opt/cloudburst/venv/bin:$PATH" in env
    assert "PYTHONPATH=/app " in env


def test_entrypoint_runs_the_worker_module() -> None:
    (entrypoint,) = [rest for keyword, rest in instructions() if keyword == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["python", "-m", "cloudburst_worker"]


def test_dockerfile_and_context_hold_no_secrets() -> None:
    secret = re.compile(
        r"AKIA[0-9A-Z]{16}|aws_secret_access_key\s*=|-----BEGIN [A-Z ]*PRIVATE KEY-----|"
        r"whsec_[A-Za-z0-9+/=]{16,}"
    )
    assert not secret.search(DOCKERFILE.read_text())
    for keyword, rest in instructions():
        if keyword in {"ENV", "ARG"}:
            assert not re.search(r"SECRET|PASSWORD|TOKEN|ACCESS_KEY", rest, re.IGNORECASE), rest
    for path in context_files():
        assert not secret.search(path.read_text(errors="replace")), path


def test_image_and_lambda_requirements_are_the_locks_entries_with_their_hashes() -> None:
    # given the one lock, and the two requirement files resolved inside it (make lock)
    lock = locked(LOCK)
    for requirements in (REQUIREMENTS, LAMBDA_REQUIREMENTS):
        entries = locked(requirements)
        assert entries, f"{requirements} is empty"
        for name, entry in entries.items():
            # then each entry is the lock's: same version, marker and hashes
            assert entry["hashes"], f"{requirements.name}: {name} has no hash"
            assert entry == lock[name], f"{requirements.name}: {name} differs from the lock"


def test_the_lock_has_a_hash_for_every_entry_and_the_project_pins_its_versions() -> None:
    lock = locked(LOCK)
    assert all(entry["hashes"] for entry in lock.values())
    project = (REPO / "pyproject.toml").read_text()
    pins = dict(re.findall(r'"([A-Za-z0-9._-]+)(?:\[[a-z,]+\])?==([^"]+)"', project))
    assert pins, "pyproject.toml pins nothing"
    for name, version in pins.items():
        assert lock[canonical(name)]["version"] == version, f"{name} differs from the lock"


def test_the_local_set_up_runs_the_locked_versions() -> None:
    # the .venv these tests run in was installed from the lock (make), hash-checked
    makefile = (REPO / "Makefile").read_text()
    assert "pip install --quiet --require-hashes -r requirements.lock" in makefile
    for name, entry in locked(REQUIREMENTS).items():
        assert metadata.version(name) == entry["version"], name


def test_dockerfile_sets_no_build_time_environment() -> None:
    # a proxy's CA comes in as a build secret; nothing of the build is in the image's config
    env = " ".join(rest for keyword, rest in instructions() if keyword == "ENV")
    assert "PIP_" not in env
    assert "--mount=type=secret,id=pip_cert" in DOCKERFILE.read_text()


def test_requirements_cover_every_third_party_import_of_the_image() -> None:
    # given every module the image copies
    modules = [REPO / "chalicelib" / "contracts.py"]
    modules += sorted((REPO / "container" / "cloudburst_worker").rglob("*.py"))
    distributions = packages_distributions()
    pins = installed_closure(requirement_pins())

    # then each import outside the stdlib and our own packages is installed by a pin
    for module in modules:
        for top in imported_top_levels(module):
            if top in sys.stdlib_module_names or top in {"chalicelib", "cloudburst_worker"}:
                continue
            names = {canonical(d) for d in distributions.get(top, [])}
            assert names & pins, f"{module.relative_to(REPO)} imports {top}: not in {pins}"


def test_copied_tree_alone_starts_the_worker(tmp_path: Path) -> None:
    # given only what the Dockerfile copies, laid out as in the image's /app
    app = tmp_path / "app"
    for sources, destination in copies():
        target = app / destination.removeprefix("/app/")
        for source in (REPO / s for s in sources):
            if source.is_dir():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
            elif destination.endswith("/"):
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(source, target / source.name)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source, target)

    # when the entrypoint runs there with no BATCH_SPEC, isolated from the repository
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BATCH_"))}
    env |= {"PYTHONPATH": str(app), "PYTHONSAFEPATH": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "cloudburst_worker"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # then it imports, logs one JSON line saying what is missing, and exits 2
    assert done.returncode == 2, done.stderr
    (line,) = [json.loads(text) for text in done.stdout.splitlines()]
    assert line["level"] == "ERROR"
    assert "BATCH_SPEC is not set" in line["message"]
    assert not (app / "chalicelib" / "settings.py").exists()


def requirement_pins() -> dict[str, str]:
    """Name and version of every entry of the image's requirements."""
    return {name: entry["version"] for name, entry in locked(REQUIREMENTS).items()}


def locked(path: Path) -> dict[str, dict[str, Any]]:
    """Entries of a hashed requirements file (``make lock``): name -> version, marker, hashes."""
    entries: dict[str, dict[str, Any]] = {}
    text = re.sub(r"\\\n", " ", path.read_text())
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *hashes = line.split(" --hash=")
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([A-Za-z0-9.+!-]+)\s*(?:;\s*(.*))?", requirement)
        assert match, f"{path.name}: not pinned exactly: {line!r}"
        entries[canonical(match.group(1))] = {
            "version": match.group(2),
            "marker": (match.group(3) or "").strip(),
            "hashes": sorted(h.strip() for h in hashes),
        }
    return entries


def installed_closure(pins: dict[str, str]) -> set[str]:
    """The pinned distributions and everything they depend on (boto3 brings botocore)."""
    seen: set[str] = set()
    todo = [canonical(name) for name in pins]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for requirement in metadata.requires(name) or []:
            if "extra ==" not in requirement:
                todo.append(canonical(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0]))
    return seen


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_top_levels(module: Path) -> set[str]:
    """Top-level packages a module imports, except optional ones guarded by ImportError."""
    tree = ast.parse(module.read_text())
    optional: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
            optional.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    tops: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            tops.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            tops.add(node.module.split(".")[0])
    return tops


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = ast.unparse(handler.type) if handler.type is not None else "Exception"
    return "ImportError" in names or "ModuleNotFoundError" in names or names == "Exception"


@pytest.mark.parametrize(
    "path", [".dockerignore", "container/requirements.txt", "container/trim_packages.py"]
)
def test_image_inputs_are_committed_text_files(path: str) -> None:
    assert (REPO / path).is_file()
