"""The README quotes the recorded bench runs, and only them."""

import json
from pathlib import Path

from bench.readme_figures import BLOCKS, README, rendered


def test_every_figure_in_the_readme_is_written_from_the_recorded_results():
    text = README.read_text("utf-8")

    assert rendered(text) == text, "run: python bench/readme_figures.py"
    for name in BLOCKS:
        assert f"<!-- figures:{name} -->" in text


def test_a_changed_result_changes_the_readme(tmp_path: Path):
    results = Path(README).parent / "bench" / "results"
    for file in results.glob("*.json"):
        (tmp_path / file.name).write_text(file.read_text("utf-8"))
    recorded = json.loads((tmp_path / "orchestration.json").read_text("utf-8"))
    recorded["cold_import_ms"] = 287.4  # a figure no run recorded
    (tmp_path / "orchestration.json").write_text(json.dumps(recorded))

    text = README.read_text("utf-8")

    assert rendered(text, tmp_path) != text
    assert "| 287 ms |" in rendered(text, tmp_path)
