# Threadline — the two commands: `make up` (run the suite locally) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
NPM_FIXTURES := $(wildcard tests/gateway_fixtures/*/install.sh bench/gateways/install.sh)

.PHONY: install rabbitmq npm-tools up test lint typecheck unit integration bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

## RabbitMQ: Debian's rabbitmq-server, installed when missing (we run our own node, never the system one)
rabbitmq:
	@if [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ] && [ -z "$$THREADLINE_AMQP_URL" ]; then \
	  echo "installing rabbitmq-server"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends rabbitmq-server >/dev/null; \
	fi

npm-tools:
	@for script in $(NPM_FIXTURES); do bash $$script || exit 1; done

install: $(STAMP) rabbitmq

up: install
	$(BIN)/threadline up

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: install npm-tools lint typecheck
	$(BIN)/pytest

bench: install npm-tools
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .threadline .mypy_cache .ruff_cache .pytest_cache
