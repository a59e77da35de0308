# Xinyu — one entry point for people and CI. `make up` runs the platform with demo data;
# `make test` installs what is missing, starts what the tests need, runs every suite and stops
# what it started. See README.md.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
UV_VERSION := 0.13.8
BUF_VERSION := v1.75.0
HELM_VERSION := v3.22.0
TOOLS := $(ROOT)/.cache/bin
export PATH := $(TOOLS):$(HOME)/.local/bin:/usr/local/go/bin:$(PATH)
export XINYU_ROOT := $(ROOT)
STACK := $(ROOT)/infra/local/stack
UV_RUN := uv run --frozen

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

# --- tools -------------------------------------------------------------------------------

.PHONY: bootstrap
bootstrap: ## Install uv, the Python workspace, buf and helm (idempotent)
	@command -v uv >/dev/null 2>&1 && uv --version | grep -q "$(UV_VERSION)" \
	  || python3 -m pip install --quiet --user "uv==$(UV_VERSION)"
	@uv sync --frozen --quiet
	@[ -x "$(TOOLS)/buf" ] && "$(TOOLS)/buf" --version | grep -q "$(BUF_VERSION:v%=%)" \
	  || { echo "installing buf $(BUF_VERSION) (Go module proxy; a few minutes once)"; \
	       GOBIN="$(TOOLS)" GOFLAGS=-mod=mod go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION); }
	@go version -m "$(TOOLS)/helm" 2>/dev/null | grep -q "helm.sh/helm/v3[[:space:]]*$(HELM_VERSION)" \
	  || { echo "installing helm $(HELM_VERSION) (Go module proxy; about 2 minutes once)"; \
	       GOBIN="$(TOOLS)" GOFLAGS=-mod=mod go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION); }

# --- contracts ---------------------------------------------------------------------------

.PHONY: proto
proto: bootstrap ## Regenerate shared/contracts from proto/
	@proto/generate.sh

.PHONY: proto-check
proto-check: bootstrap ## buf lint, and fail when the committed generated code is stale
	@cd proto && buf lint
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT \
	  && mkdir -p "$$tmp/xinyu" && proto/generate.sh "$$tmp" >/dev/null \
	  && diff -r -q -x __pycache__ -x py.typed "$$tmp/xinyu" shared/contracts/src/xinyu \
	  && echo "proto-check: generated code is up to date" \
	  || { echo "proto-check: shared/contracts is stale; run 'make proto' and commit"; exit 1; }

# --- quality -----------------------------------------------------------------------------

.PHONY: lint
lint: bootstrap ## Ruff (lint and format), mypy, and the Helm charts (lint, render, validate)
	@$(UV_RUN) ruff check .
	@$(UV_RUN) ruff format --check .
	@$(UV_RUN) mypy shared/core/src services/*/src e2e/src infra/local \
	  charts/xinyu/render_infra.py charts/validate_rendered.py
	@charts/check.sh

# --- the local stack ---------------------------------------------------------------------

.PHONY: infra-up
infra-up: bootstrap ## Start PostgreSQL, Kafka and Keycloak (no services)
	@$(STACK) up

.PHONY: up
up: infra-up ## Run the whole platform with demo data; prints URLs and demo accounts
	@$(ROOT)/infra/local/services up
	@$(ROOT)/infra/local/services demo

.PHONY: down
down: ## Stop everything `make up` started (data is kept; `infra/local/stack reset` wipes it)
	@$(STACK) down

# --- tests -------------------------------------------------------------------------------

PYTEST := $(UV_RUN) pytest -p no:cacheprovider

.PHONY: test-unit
test-unit: bootstrap ## Unit tests: no servers
	@$(PYTEST) -m "not integration and not e2e" shared services

.PHONY: test-integration
test-integration: bootstrap ## Integration tests against the real local servers (starts them)
	@$(PYTEST) -m integration shared services infra/tests e2e

.PHONY: test-e2e
test-e2e: bootstrap ## End-to-end tests through the gateway (starts the platform)
	@$(PYTEST) -m e2e e2e services

.PHONY: test
test: ## Everything CI runs: lint, proto-check, unit, integration, e2e
	@$(ROOT)/infra/local/run-tests
