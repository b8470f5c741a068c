# Everyday commands. `make demo` and `make test` work on a fresh machine: they build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck check bench local clean

$(STAMP): pyproject.toml requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==26.2.1
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cloudburst demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy app.py chalicelib cloudburst container/cloudburst_worker bench/*.py

check: lint typecheck test

bench: $(STAMP)
	$(BIN)/python bench/orchestration.py
	$(BIN)/python bench/render.py
	$(BIN)/python bench/readme_figures.py

local: $(STAMP)
	$(BIN)/cloudburst local up

clean:
	rm -rf $(VENV) cloudburst_results .pytest_cache .mypy_cache .ruff_cache
