"""The README quotes the recorded bench runs, and only them."""

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
    changed = (tmp_path / "orchestration.json").read_text("utf-8")
    (tmp_path / "orchestration.json").write_text(
        changed.replace('"cold_import_ms": 167.', '"cold_import_ms": 267.', 1)
    )

    text = README.read_text("utf-8")

    assert rendered(text, tmp_path) != text
    assert "| 268 ms |" in rendered(text, tmp_path)
