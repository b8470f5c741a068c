"""The layers and the owners of shared facts, read from the source with ``ast``.

- The use cases talk to ports only: no module under chalicelib/usecases imports boto3,
  botocore, the composition root or an adapter; the domain imports nothing from AWS.
- One owner for each fact: an S3 key prefix, a final job status, a scene status or an
  environment variable name written as a literal anywhere but its owner fails here, so the
  second definition is caught when it is written, not when the two drift apart.
- No import cycle among our modules, lazy imports included.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.contracts import (
    CANCEL_PREFIX,
    INPUTS_PREFIX,
    JOBS_PREFIX,
    MANIFESTS_PREFIX,
    OUTPUTS_PREFIX,
    UPLOADS_PREFIX,
    SceneStatus,
)
from chalicelib.model import JobStatus
from chalicelib.settings import ENV

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["app.py", "chalicelib", "cloudburst", "container/cloudburst_worker"]
FORBIDDEN_IN_USECASES = ("boto3", "botocore", "chalicelib.bootstrap", "chalicelib.adapters")
AWS_LIBRARIES = ("boto3", "botocore", "chalicelib.adapters")
DOMAIN = ["model.py", "planner.py", "pricing.py", "report.py", "retries.py", "webhooks.py"]


def python_files(*places: str) -> Iterator[Path]:
    for place in places:
        path = ROOT / place
        yield from [path] if path.is_file() else sorted(path.rglob("*.py"))


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports inside functions count)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(f"{p}.") for p in packages)


@pytest.mark.parametrize("path", list(python_files("chalicelib/usecases")), ids=lambda p: p.name)
def test_a_use_case_imports_ports_never_aws_an_adapter_or_the_composition_root(path: Path):
    wrong = sorted(m for m in imported_modules(path) if within(m, FORBIDDEN_IN_USECASES))

    assert wrong == [], f"{path.relative_to(ROOT)} imports {wrong}"


@pytest.mark.parametrize("name", [*DOMAIN, "ports.py", "storage.py", "contracts.py"])
def test_the_domain_and_the_ports_import_nothing_from_aws(name: str):
    path = ROOT / "chalicelib" / name
    wrong = sorted(m for m in imported_modules(path) if within(m, AWS_LIBRARIES))

    assert wrong == [], f"chalicelib/{name} imports {wrong}"


def test_nothing_but_the_lambda_entry_point_imports_the_composition_root():
    importers = [
        str(path.relative_to(ROOT))
        for path in python_files("chalicelib", "cloudburst", "container/cloudburst_worker")
        if "chalicelib.bootstrap" in imported_modules(path) and path.name != "bootstrap.py"
    ]

    # the local stack builds the Lambdas' services as app.py does
    assert set(importers) <= {"cloudburst/local/dispatcher.py", "cloudburst/local/stack.py"}


def test_the_worker_takes_only_the_contracts_and_the_episode_spec_from_chalicelib():
    taken = {
        module
        for path in python_files("container/cloudburst_worker")
        for module in imported_modules(path)
        if within(module, ("chalicelib",)) and module != "chalicelib"
    }

    assert {m.rsplit(".", 1)[0] if m.count(".") > 1 else m for m in taken} == {
        "chalicelib.contracts",
        "chalicelib.episode",  # pure: the timeline the assembler follows
    }


def test_no_chalicelib_module_is_longer_than_a_reader_holds_at_once():
    lengths = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in python_files("chalicelib")
    }

    assert {path: n for path, n in lengths.items() if n > 350} == {}


# -- one owner for each fact ------------------------------------------------------------------

PREFIXES = {
    MANIFESTS_PREFIX,
    OUTPUTS_PREFIX,
    JOBS_PREFIX,
    INPUTS_PREFIX,
    CANCEL_PREFIX,
    UPLOADS_PREFIX,
}
FINAL_STATUSES = {status.value for status in JobStatus if status.is_final}
SCENE_STATUSES = {status.value for status in SceneStatus}
ENV_NAMES = set(ENV.values())
OWNERS = {
    "prefix": {"chalicelib/contracts.py"},
    "job status": {"chalicelib/model.py"},
    "scene status": {"chalicelib/contracts.py"},
    "environment variable": {"chalicelib/settings.py"},
}


def fact_of(text: str) -> str | None:
    """Which owned fact a string literal restates, if any."""
    if any(text.startswith(prefix) and len(text) > 1 for prefix in PREFIXES):
        return "prefix"
    if text in FINAL_STATUSES:
        return "job status"
    if text in SCENE_STATUSES:
        return "scene status"
    if text in ENV_NAMES:
        return "environment variable"
    return None


def literals(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """String constants, docstrings and log fields (``extra=``) aside."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            skipped.add(id(body[0].value))  # a docstring
        if isinstance(node, ast.keyword) and node.arg == "extra":
            skipped.add(id(node.value))
    for node in ast.walk(tree):
        if id(node) in skipped:
            for inner in ast.walk(node):
                skipped.add(id(inner))
    for node in ast.walk(tree):
        if id(node) in skipped or not isinstance(node, ast.Constant):
            continue
        if isinstance(node.value, str):
            yield node.lineno, node.value


def test_each_key_prefix_status_and_environment_name_is_written_once_by_its_owner():
    restated = []
    for path in python_files(*SOURCES):
        where = str(path.relative_to(ROOT))
        for line, text in literals(ast.parse(path.read_text(), where)):
            fact = fact_of(text)
            if fact is not None and where not in OWNERS[fact]:
                restated.append(f"{where}:{line}: {fact} {text!r}")

    assert restated == []


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    parts = parts[1:] if parts[0] == "container" else parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Our modules and the ones of ours each imports (lazy imports count; a package's own
    ``__init__`` seen from inside it does not)."""
    files = {module_name(path): path for path in python_files(*SOURCES)}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        graph[name] = set()
        for module in imported_modules(path):
            while module and module not in files:
                module = module.rpartition(".")[0]
            if module and module != name and not name.startswith(f"{module}."):
                graph[name].add(module)
    return graph


def test_no_module_imports_one_that_imports_it_back():
    """A cycle, even through a lazy import, means two modules are one design."""
    graph = import_graph()
    cycles = []
    for start in graph:
        path, seen = [start], {start}
        stack = [iter(sorted(graph[start]))]
        while stack:  # depth-first, reporting each cycle back to ``start`` once
            following = next(stack[-1], None)
            if following is None:
                stack.pop()
                seen.discard(path.pop())
            elif following == start and min(path) == start:
                cycles.append(" → ".join([*path, start]))
            elif following not in seen and following > start:
                path.append(following)
                seen.add(following)
                stack.append(iter(sorted(graph[following])))
    assert graph["chalicelib.manifest"]  # the graph is read, not empty
    assert cycles == []
