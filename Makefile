SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHECKOV_VENV := .venv-checkov
# sam build needs python3.13 on PATH; on pyenv machines this selects it.
SAM_PYTHON_VERSION ?= 3.13.0
SAM := PYENV_VERSION=$(SAM_PYTHON_VERSION) $(abspath $(BIN))/sam
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
PORT ?= 3000
PROVIDER ?= stripe
# make aws-local's moto server; sam local reaches it as host.docker.internal:$(AWS_LOCAL_PORT).
AWS_LOCAL_PORT ?= 5005
# Where make sam-event and make aws-local write sam-event.json and env.json.
BUILD_DIR ?= build

.PHONY: help venv browser lint fmt pytest validate checkov build smoke test dev openapi backfill redrive replay sam-event aws-local bench soak screenshots clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements-dev.txt layers/shared/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed ## create the virtualenv with the pinned dependencies

# Debian's headless Chromium and its driver, for the console's browser tests.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser: ## install Debian's chromium and chromium-driver (for tests/browser) when missing
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium chromium-driver; \
	fi

lint: venv ## ruff (lint + format check) and mypy on the layer
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: venv ## format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

pytest: venv browser ## unit, moto integration, end-to-end and browser tests
	$(BIN)/pytest

validate: venv ## sam validate --lint (no network or credentials needed)
	$(SAM) validate --lint --region $(AWS_DEFAULT_REGION)

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

# Fails on any failed check. A skip is a `# checkov:skip=CKV_...:reason` comment in the resource it
# concerns (tests/security/test_hardening.py requires the reason).
checkov: $(CHECKOV_VENV)/.installed ## checkov on template.yaml (its own virtualenv): 0 failed checks
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download

build: venv ## sam build (python3.13), then precompile the bytecode Lambda's read-only filesystem cannot cache
	$(SAM) build --parallel
	PYENV_VERSION=$(SAM_PYTHON_VERSION) python3.13 -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build

smoke: build ## import every built function with only the built layer, in a fresh python3.13
	PYENV_VERSION=$(SAM_PYTHON_VERSION) $(BIN)/python -m tools.smoke_build

test: lint pytest validate checkov smoke ## everything CI runs

dev: venv ## run every route locally on http://127.0.0.1:$(PORT) with an embedded AWS
	PORT=$(PORT) $(BIN)/python -m tools.local_server

openapi: venv ## write docs/openapi.json, the accounts API's OpenAPI document, from its resolver
	PYTHONPATH=layers/shared $(BIN)/python -m tools.openapi

backfill: ## start a backfill in the running `make dev` (PROVIDER=stripe) and print its run
	curl -sS -XPOST localhost:$(PORT)/_local/backfill -d '{"provider": "$(PROVIDER)"}'
	@echo

redrive: venv ## redrive each message of a dead-letter queue once (QUEUE=<queue url>; LOCAL=1: in the running make dev)
	$(BIN)/python -m tools.redrive "$(QUEUE)" $(if $(LOCAL),--local http://127.0.0.1:$(PORT))

replay: venv ## sign events/$(FILE) and POST it to the local server on $(PORT) (FILE=stripe/invoice.paid.json)
	$(BIN)/python -m tools.replay $(FILE) --url http://127.0.0.1:$(PORT)

sam-event: venv ## wrap events/$(FILE) into a signed API Gateway event ($(BUILD_DIR)/sam-event.json) for `sam local invoke -e`
	$(BIN)/python -m tools.sam_event $(FILE) --out $(BUILD_DIR)/sam-event.json

aws-local: venv ## run the embedded AWS alone (moto server on $(AWS_LOCAL_PORT), $(BUILD_DIR)/env.json) for `sam local`
	$(BIN)/python -m tools.aws_server --port $(AWS_LOCAL_PORT) --env-json $(BUILD_DIR)/env.json

screenshots: venv browser ## regenerate the console screenshots in docs/console/
	UPDATE_SCREENSHOTS=1 $(BIN)/pytest tests/browser

bench: build ## print DynamoDB requests per event, warm latency, cold start, the backfill per object, the dormancy sweep's reads, every flow's costs, one webhook's walk through the code
	PYENV_VERSION=$(SAM_PYTHON_VERSION) $(BIN)/python -m bench.bench
	$(BIN)/python -m bench.backfill
	$(BIN)/python -m bench.sweep
	$(BIN)/python -m bench.flows
	$(BIN)/python -m bench.walk

soak: venv ## a bounded load through the local server on loopback (SECONDS=60): events/s, p99, errors, memory
	$(BIN)/python -m bench.soak --seconds $(or $(SECONDS),60)

clean: ## remove the virtualenv and build output
	rm -rf $(VENV) $(CHECKOV_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
