# Fanfare's front door. `make help` lists every target.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
# Use uv from PATH when there is one; otherwise install it into .tools/ with pip.
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
export UV_PYTHON_DOWNLOADS ?= never
# Slow suites run in CI (CI=true) and with `make test-all`; a local `make test` skips them.
PYTEST_SELECT := $(if $(filter true 1 yes,$(CI)),,-m "not slow")

.PHONY: help install run test test-all lint format docs migrate bench images clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv>=0.9"

install: $(UV) ## Install Python packages into .venv from uv.lock
	$(UV) sync --all-packages --frozen

run: install ## Start the whole system: databases, bus, four services (Ctrl-C stops it)
	$(UV) run --frozen fanfare dev up

test: install ## Run the test suite (slow suites too when CI=true)
	$(UV) run --frozen pytest $(PYTEST_SELECT)

test-all: install ## Run every test, slow suites included
	$(UV) run --frozen pytest

lint: install ## Ruff (lint and format check) and mypy --strict
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy libs/*/src services/*/src tools/*/src

format: install ## Apply ruff's fixes and formatting
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

docs: install ## Regenerate docs/events.md from the event catalogue
	$(UV) run --frozen fanfare events docs --output docs/events.md

migrate: install ## Apply database migrations to FANFARE_DATABASE_URL
	$(UV) run --frozen fanfare migrate

bench: install ## Measure the flash crowd (every scenario; writes docs/benchmarks.md)
	$(UV) run --frozen fanfare-bench --report docs/benchmarks.md

IMAGE_TAG ?= 0.1.0
IMAGE_TARGETS := admin-api consumer-api scheduler settlement-worker cli

images: ## Build the images fanfare/<service>:IMAGE_TAG (needs a Docker engine)
	@docker info --format 'Docker engine {{.ServerVersion}}' || { echo "make images: no Docker engine answers here"; exit 1; }
	for target in $(IMAGE_TARGETS); do \
		docker build -f deploy/docker/Dockerfile --target $$target -t fanfare/$$target:$(IMAGE_TAG) . || exit 1; \
	done

clean: ## Remove .venv, .tools and the local run folder (.run: databases included)
	rm -rf .venv .tools .run .pytest_cache .mypy_cache .ruff_cache
