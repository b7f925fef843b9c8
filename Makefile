# linktrail: `make dev` runs the whole system offline; `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
NODE_STAMP := node_modules/.installed-$(shell cat package.json package-lock.json 2>/dev/null | sha1sum | cut -c1-12)
STAGE ?= dev

.PHONY: dev test lint typecheck unit bench edge deploy browser clean help

help:
	@echo "make dev     run the whole system on loopback (emulator, app, pumps, short domain, ...)"
	@echo "make test    ruff + import contracts + mypy + pytest (sets up the venv, npm deps and chromium first)"
	@echo "make bench   print the benchmark table"
	@echo "make edge    build dist/edge-click.zip"
	@echo "make deploy STAGE=dev   deploy to your AWS account"
	@echo "make deploy-rehearsal   the whole deploy chain against a fresh emulator, checked"

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .  # the `linktrail` CLI
	@rm -f $(VENV)/.installed-*
	@touch $@

# npm installs the analytics.js build (the browser tests, the local analytics demo); Debian's
# nodejs and npm are installed when the machine has no npm (CI runs as root).
$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { \
	  echo "installing Debian nodejs and npm for the analytics.js build"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm >/dev/null; }
	npm ci --no-audit --no-fund --silent
	@rm -f node_modules/.installed-*
	@touch $@

# Debian chromium for the browser tests; installed when missing (CI runs as root).
browser:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@command -v chromium >/dev/null || { echo "chromium is required for the browser tests"; exit 1; }

dev: $(STAMP) $(NODE_STAMP)
	@$(BIN)/python -m local

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) $(NODE_STAMP) browser
	$(BIN)/pytest -q -n 2 --dist loadgroup -m "not stack"

test: $(STAMP) $(NODE_STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy
	$(BIN)/pytest -q -n 2 --dist loadgroup

bench: $(STAMP)
	$(BIN)/python -m bench

# The Lambda@Edge zip, configuration baked in (Lambda@Edge has no environment variables).
# CLICK_MODE: every-click (default) or first-click; REGION: the links table's region.
edge: $(STAMP)
	$(BIN)/python -m edge.build --stage $(STAGE) --out dist/edge-click.zip \
	  --mode $(patsubst %-click,%,$(or $(CLICK_MODE),every)) $(if $(REGION),--region $(REGION))

-include infra/deploy.mk

clean:
	rm -rf $(VENV) node_modules dist .local .mypy_cache .ruff_cache .pytest_cache
