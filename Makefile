# Everyday commands. `make demo` and `make test` work on a fresh machine: they build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck check bench local clean package

$(STAMP): pyproject.toml requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
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

local: $(STAMP)
	$(BIN)/cloudburst local up

# The stage's deployable template and Lambda bundle in dist/$(STAGE)/ (no AWS credentials).
STAGE ?= dev
AWS_DEFAULT_REGION ?= us-east-1
package: $(STAMP)
	AWS_DEFAULT_REGION=$(AWS_DEFAULT_REGION) $(BIN)/python -m cloudburst.deploy.package --stage $(STAGE)

clean:
	rm -rf $(VENV) dist cloudburst_results .pytest_cache .mypy_cache .ruff_cache
