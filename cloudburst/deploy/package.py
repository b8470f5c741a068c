"""``make package STAGE=dev``: the stage's deployable template and Lambda bundle, offline.

Writes ``dist/<stage>/infra.json`` (the merge template), then runs ``chalice package
--merge-template`` and leaves ``dist/<stage>/template.json`` and ``deployment.zip``. Needs
no AWS credentials, only ``AWS_DEFAULT_REGION`` (defaulted here when unset).

Run it as its own process (``python -m cloudburst.deploy.package``): it imports the app with
the packaging tokens as its bucket, table and cluster names, so the app's event patterns come
out naming template resources — in another process's settings cache those names would stick.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from cloudburst.deploy.functions import PACKAGING_ENVIRONMENT, FunctionSpec
from cloudburst.deploy.template import infra_template

PROJECT_DIR = Path(__file__).resolve().parents[2]


class PackageError(RuntimeError):
    """``chalice package`` failed; the message carries its output."""


def package_in_subprocess(stage: str, out_dir: Path, region: str | None = None) -> Path:
    """Run this module in a fresh interpreter; returns the path of ``template.json``."""
    env = {**os.environ, "AWS_DEFAULT_REGION": region or _region()}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cloudburst.deploy.package",
            "--stage",
            stage,
            "--out",
            str(out_dir),
        ],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise PackageError(f"packaging stage {stage} failed:\n{done.stdout}{done.stderr}")
    return out_dir / "template.json"


def package(stage: str, out_dir: Path) -> Path:
    """In this process (which must not have imported the app yet): write the stage's bundle."""
    os.environ.update(PACKAGING_ENVIRONMENT)
    os.environ.setdefault("AWS_DEFAULT_REGION", _region())
    out_dir = out_dir.resolve()
    functions = app_functions()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    build = out_dir.with_name(out_dir.name + ".chalice")
    shutil.rmtree(build, ignore_errors=True)
    out_dir.mkdir(parents=True)
    merge = out_dir / "infra.json"
    merge.write_text(json.dumps(infra_template(stage, functions), indent=2) + "\n")
    chalice = Path(sys.executable).with_name("chalice")
    with _bundle_cache_lock():
        done = subprocess.run(
            [str(chalice), "package", "--stage", stage, "--merge-template", str(merge), str(build)],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise PackageError(f"chalice package failed:\n{done.stdout}{done.stderr}")
    (build / "sam.json").replace(out_dir / "template.json")
    (build / "deployment.zip").replace(out_dir / "deployment.zip")
    shutil.rmtree(build)
    return out_dir / "template.json"


@contextlib.contextmanager
def _bundle_cache_lock() -> Iterator[None]:
    """One ``chalice package`` at a time per project: every stage's bundle is cached under the
    same name in ``.chalice/deployments``, and a second packager reading it while the first
    writes it ships an empty zip."""
    cache = PROJECT_DIR / ".chalice" / "deployments"
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def app_functions() -> list[FunctionSpec]:
    """The app's event handlers, named as ``chalice package`` names them."""
    from chalice.app import CloudWatchEventConfig, ScheduledEventConfig
    from chalice.utils import to_cfn_resource_name

    sys.path.insert(0, str(PROJECT_DIR))
    import app

    functions: list[FunctionSpec] = []
    for source in app.app.event_sources:
        logical_id = to_cfn_resource_name(source.name)
        event_id = to_cfn_resource_name(f"{source.name}-event")
        if isinstance(source, CloudWatchEventConfig):
            pattern: dict[str, Any] = source.event_pattern
            functions.append(FunctionSpec(source.name, logical_id, event_id, pattern))
        elif isinstance(source, ScheduledEventConfig):
            schedule = str(source.schedule_expression)
            if not isinstance(source.schedule_expression, str):
                schedule = source.schedule_expression.to_string()
            functions.append(FunctionSpec(source.name, logical_id, event_id, None, schedule))
        else:
            raise PackageError(f"event source {source.name} ({type(source).__name__}) unsupported")
    return functions


def _region() -> str:
    return os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True)
    parser.add_argument("--out", type=Path, default=None, help="default dist/<stage>")
    args = parser.parse_args(argv)
    out = args.out or PROJECT_DIR / "dist" / args.stage
    try:
        template = package(args.stage, out)
    except PackageError as exc:
        print(f"cloudburst package: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {template} and {template.with_name('deployment.zip')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
