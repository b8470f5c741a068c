# Everyday commands. `make demo` and `make test` work on a fresh machine: they build .venv first.
PYTHON ?= python3
, := ,
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck check bench local clean package

# Every third-party package comes from requirements.lock, hash-checked; the project itself
# is then installed without dependencies. The worker image and the Lambda bundle install the
# same versions (container/requirements.txt, requirements.txt: subsets of the lock).
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==26.2.1
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Re-resolve the lock after changing a pin in pyproject.toml (needs the package index):
# one universal lock (every platform's wheel hashes, so arm64 images verify too), and the
# Lambda's and the worker's requirements resolved inside it.
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock"
.PHONY: lock
lock: $(STAMP)
	$(UV_COMPILE) pyproject.toml --extra dev -o requirements.lock
	$(UV_COMPILE) requirements.in -c requirements.lock -o requirements.txt
	$(UV_COMPILE) container/requirements.in -c requirements.lock -o container/requirements.txt

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

# The stage's deployable template and Lambda bundle in dist/$(STAGE)/ (no AWS credentials).
STAGE ?= dev
AWS_DEFAULT_REGION ?= us-east-1
package: $(STAMP)
	AWS_DEFAULT_REGION=$(AWS_DEFAULT_REGION) $(BIN)/python -m cloudburst.deploy.package --stage $(STAGE)

clean:
	rm -rf $(VENV) dist cloudburst_results .pytest_cache .mypy_cache .ruff_cache

# The worker image, built with podman (no Docker engine here; see container/podman/) from the
# same container/Dockerfile that `docker build -f container/Dockerfile .` builds.
# The public base registry is out of reach, so a stand-in base is made from Debian's archive
# once (container/podman/base.sh keeps an existing one). PyPI is reached through a
# TLS-inspecting proxy whose CA is only in the machine's bundle: it goes in as a build
# secret, so it is in no layer and not in the image's configuration. File times and the
# creation time are the last commit's (--timestamp), so a rebuild of a commit matches it.
IMAGE ?= localhost/cloudburst-worker:dev
BASE_IMAGE ?= localhost/cloudburst-base:bookworm-py3.11
ARCH ?= amd64
PIP_CA ?= /etc/ssl/certs/ca-certificates.crt
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
BUILD_FLAGS ?=  # e.g. --no-cache, to check that a rebuild gives the same image
PODMAN := CONTAINERS_CONF=$(CURDIR)/container/podman/containers.conf podman

.PHONY: image image-base image-test

image-base:
	CONTAINERS_CONF=$(CURDIR)/container/podman/containers.conf container/podman/base.sh $(BASE_IMAGE) $(ARCH)

image: image-base
	$(PODMAN) build $(BUILD_FLAGS) --runtime runc --network host --platform linux/$(ARCH) \
		$(if $(wildcard $(PIP_CA)),--secret id=pip_cert$(,)src=$(PIP_CA)) \
		--timestamp $(SOURCE_DATE_EPOCH) --build-arg SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) \
		--build-arg BASE_IMAGE=$(BASE_IMAGE) \
		-f container/Dockerfile -t $(IMAGE) .

# The worker's render and worker tests, run inside the image, plus the image's own checks;
# every container they start is removed (--rm), and the tests check that none is left.
image-test: $(STAMP)
	CLOUDBURST_IMAGE=$(IMAGE) CONTAINERS_CONF=$(CURDIR)/container/podman/containers.conf \
		$(BIN)/python -m pytest -q -p no:cacheprovider -m image tests/image
