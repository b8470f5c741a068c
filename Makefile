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

# The worker image, built with podman (no Docker engine here; see container/podman/).
# The public base registry is out of reach, so a stand-in base is made from Debian's archive
# once (container/podman/base.sh keeps an existing one). PIP_CERT: PyPI is reached through
# a TLS-inspecting proxy whose CA is only in the machine's bundle.
IMAGE ?= localhost/cloudburst-worker:dev
BASE_IMAGE ?= localhost/cloudburst-base:bookworm-py3.11
PODMAN := CONTAINERS_CONF=$(CURDIR)/container/podman/containers.conf podman

.PHONY: image image-base image-test

image-base:
	CONTAINERS_CONF=$(CURDIR)/container/podman/containers.conf container/podman/base.sh $(BASE_IMAGE)

image: image-base
	$(PODMAN) build --runtime runc --network host \
		-v /etc/ssl/certs:/etc/ssl/certs:ro --env PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
		--build-arg BASE_IMAGE=$(BASE_IMAGE) \
		-f container/Dockerfile -t $(IMAGE) .

image-test: $(STAMP)
	CLOUDBURST_IMAGE=$(IMAGE) CONTAINERS_CONF=$(CURDIR)/container/podman/containers.conf \
		$(BIN)/python -m pytest -q -p no:cacheprovider -m image tests/image
