"""Each stage packaged once per session (``chalice package --merge-template``), in parallel."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.server import ThreadedMotoServer

from cloudburst.deploy.package import package_in_subprocess

PROJECT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
STAGES = tuple(json.loads((PROJECT / ".chalice" / "config.json").read_text())["stages"])


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """stage → path of its packaged ``template.json`` (the bundle sits beside it)."""
    root = tmp_path_factory.mktemp("dist")
    workers = min(len(STAGES), os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        paths = pool.map(lambda s: package_in_subprocess(s, root / s, region="eu-west-1"), STAGES)
        return dict(zip(STAGES, paths, strict=True))


@pytest.fixture(scope="session")
def templates(packaged: dict[str, Path]) -> dict[str, dict[str, Any]]:
    return {stage: json.loads(path.read_text()) for stage, path in packaged.items()}


class RecordedImages:
    """Stands in for docker/podman: records a manifest in ECR under a content-like tag."""

    def __init__(self, session: Any) -> None:
        self.ecr = session.client("ecr", region_name=REGION)
        self.version = "1"

    def publish(self, repository_uri: str, architecture: str) -> str:
        tag = f"{architecture}-{self.version * 20}"[:27]
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"digest": f"sha256:{self.version * 64}"},
        }
        try:
            self.ecr.put_image(
                repositoryName=repository_uri.split("/", 1)[1],
                imageManifest=json.dumps(manifest),
                imageTag=tag,
            )
        except ClientError as exc:  # pushed before: as ContainerEngine, leave it
            if exc.response["Error"]["Code"] != "ImageAlreadyExistsException":
                raise
        return f"{repository_uri}:{tag}"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    _host, port = server.get_host_and_port()
    for name, value in {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    yield boto3.session.Session()
    # the server shares this process's moto backends: leave nothing for the next test
    urllib.request.urlopen(
        urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST")
    ).close()
    server.stop()


@pytest.fixture
def packager(packaged: dict[str, Path]):
    """The session's packaged dev template, copied where deploy asks for it."""
    edits: list[Any] = []

    def package(stage: str, out_dir: Path, region: str) -> Path:
        out_dir.mkdir(parents=True, exist_ok=True)
        source = packaged[stage].parent
        shutil.copy(source / "deployment.zip", out_dir / "deployment.zip")
        template = json.loads((source / "template.json").read_text())
        for edit in edits:
            edit(template)
        (out_dir / "template.json").write_text(json.dumps(template))
        return out_dir / "template.json"

    package.edits = edits  # type: ignore[attr-defined]
    return package


@pytest.fixture
def moto_in(
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[str], contextlib.AbstractContextManager[None]]:
    """``with moto_in(region):`` moto in-process, dummy credentials, that region the default."""

    @contextlib.contextmanager
    def start(region: str) -> Iterator[None]:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": region,
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        with mock_aws():
            yield

    return start


def expand(template: dict[str, Any], region: str = REGION) -> dict[str, Any]:
    """The template after the SAM transform, as CloudFormation would expand it."""
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        """The templates name no managed policy, so none needs looking up in IAM."""

        def load(self) -> dict[str, str]:
            return {}

    template = json.loads(json.dumps(template))
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":  # as deploy() points it
            resource["Properties"]["CodeUri"] = {"Bucket": "artefacts", "Key": "lambda.zip"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", region)
        return dict(transform(template, {}, NoManagedPolicies()))


@pytest.fixture(scope="session")
def expanded(templates: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """stage → its packaged template expanded by the SAM translator."""
    return {stage: expand(template) for stage, template in templates.items()}
