# Threadline — the two commands: `make up` (run the suite locally) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
NPM_FIXTURES := $(wildcard tests/gateway_fixtures/*/install.sh bench/gateways/install.sh)

.PHONY: install rabbitmq kubectl wrk npm-tools up test lint typecheck unit integration e2e bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

APT_INSTALL = $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends

## RabbitMQ: Debian's rabbitmq-server, installed when missing (we run our own node, never the system one)
rabbitmq:
	@if [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ] && [ -z "$$THREADLINE_AMQP_URL" ]; then \
	  echo "installing rabbitmq-server"; $(APT_INSTALL) rabbitmq-server >/dev/null; \
	fi

## kubectl renders the Kubernetes manifests the tests validate
kubectl:
	@command -v kubectl >/dev/null || { echo "installing kubectl"; $(APT_INSTALL) kubernetes-client >/dev/null; }

## wrk is the HTTP load generator of the benchmarks
wrk:
	@command -v wrk >/dev/null || { echo "installing wrk"; $(APT_INSTALL) wrk >/dev/null; }

npm-tools:
	@for script in $(NPM_FIXTURES); do bash $$script || exit 1; done

install: $(STAMP) rabbitmq kubectl

up: install
	$(BIN)/threadline up

## lint: formatting, the curated rules (complexity, the driver whitelist) and the import contracts
lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

## test: everything, with the coverage floor of pyproject's [tool.coverage.report]
test: install npm-tools lint typecheck
	$(BIN)/pytest --cov --cov-report=term:skip-covered --durations=30

## The tiers on their own. unit needs no servers; integration and e2e start their own.
unit: $(STAMP) kubectl npm-tools
	$(BIN)/pytest tests/unit

integration: install npm-tools
	$(BIN)/pytest tests/integration

e2e: install npm-tools
	$(BIN)/pytest tests/e2e

bench: install wrk npm-tools
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .threadline .mypy_cache .ruff_cache .pytest_cache .import_linter_cache .coverage
