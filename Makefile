# linktrail: `make dev` runs the whole system offline; `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
NODE_STAMP := node_modules/.installed-$(shell cat package.json package-lock.json 2>/dev/null | sha1sum | cut -c1-12)
STAGE ?= dev

.PHONY: dev demo-data test fuzz soak lint typecheck unit bench edge deploy browser clean help

help:
	@echo "make dev     run the whole system on loopback (emulator, app, pumps, short domain, ...)"
	@echo "make test    ruff + import contracts + mypy + pytest (sets up the venv, npm deps and chromium first)"
	@echo "make fuzz    schemathesis against the local stack, with many more examples (FUZZ_EXAMPLES=500)"
	@echo "make soak    the local stack under load with faults injected; nothing lost (SOAK_DURATION=300 s)"
	@echo "make demo-data   1,000 links and 50,000 clicks in the running make dev stack"
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

# The dashboard's libraries, copied from node_modules next to our own files so that
# `chalice local` and `chalice deploy` serve and package them (never committed).
DASHBOARD_VENDOR := chalicelib/dashboard/vendor
VENDORED := $(addprefix $(DASHBOARD_VENDOR)/,preact-htm.js uplot.js uplot.css)
$(DASHBOARD_VENDOR)/preact-htm.js: $(NODE_STAMP)
	@mkdir -p $(@D) && cp node_modules/htm/preact/standalone.module.js $@
$(DASHBOARD_VENDOR)/uplot.js: $(NODE_STAMP)
	@mkdir -p $(@D) && cp node_modules/uplot/dist/uPlot.iife.min.js $@
$(DASHBOARD_VENDOR)/uplot.css: $(NODE_STAMP)
	@mkdir -p $(@D) && cp node_modules/uplot/dist/uPlot.min.css $@

# Swagger UI for /docs, copied the same way (chalicelib/contract/docs.py names them).
DOCS_VENDOR := chalicelib/contract/vendor
DOCS_VENDORED := $(addprefix $(DOCS_VENDOR)/,swagger-ui-bundle.js swagger-ui.css)
VENDORED += $(DOCS_VENDORED)
$(DOCS_VENDOR)/%: $(NODE_STAMP)
	@mkdir -p $(@D) && cp node_modules/swagger-ui-dist/$* $@

# Debian chromium for the browser tests; installed when missing (CI runs as root).
browser:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@command -v chromium >/dev/null || { echo "chromium is required for the browser tests"; exit 1; }

dev: $(STAMP) $(NODE_STAMP) $(VENDORED)
	@$(BIN)/python -m local

# 1,000 links and 50,000 clicks in the running `make dev` stack, for the dashboard.
demo-data: $(STAMP)
	@$(BIN)/python -m local.demo_data

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) $(NODE_STAMP) $(VENDORED) browser
	$(BIN)/pytest -q -n 2 --dist loadgroup -m "not stack"

test: $(STAMP) $(NODE_STAMP) $(VENDORED) browser
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy
	$(BIN)/pytest -q -n 2 --dist loadgroup

# The contract fuzz test of `make test`, longer: FUZZ_EXAMPLES cases per operation.
FUZZ_EXAMPLES ?= 500
fuzz: $(STAMP) $(NODE_STAMP) $(VENDORED)
	LINKTRAIL_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -s tests/stack/test_contract_fuzz.py

# The whole local stack under concurrent load while the sink, the Vonage fake, DynamoDB,
# the app server and the pumps fail; then it proves nothing was lost or doubled.
SOAK_DURATION ?= 300
SOAK_REQUESTS ?= 200000
SOAK_SEED ?= 1
soak: $(STAMP) $(NODE_STAMP) $(VENDORED)
	$(BIN)/python -m local.soak --duration $(SOAK_DURATION) --max-requests $(SOAK_REQUESTS) --seed $(SOAK_SEED)

bench: $(STAMP) $(VENDORED)
	$(BIN)/python -m bench

# The Lambda@Edge zip, configuration baked in (Lambda@Edge has no environment variables).
# CLICK_MODE: every-click (default) or first-click; REGION: the links table's region.
edge: $(STAMP)
	$(BIN)/python -m edge.build --stage $(STAGE) --out dist/edge-click.zip \
	  --mode $(patsubst %-click,%,$(or $(CLICK_MODE),every)) $(if $(REGION),--region $(REGION))

-include infra/deploy.mk
deploy deploy-plan: $(VENDORED)

clean:
	rm -rf $(VENV) node_modules dist .local .mypy_cache .ruff_cache .pytest_cache
