# clawkeeper: the two commands a newcomer needs are `make test` and `make demo`.
# Both install what they need (a Python venv with moto and cfn-lint, the OpenClaw gateway
# for interop tests) from the package registries on first use.

SHELL := /bin/bash
CARGO ?= cargo
VENV := $(CURDIR)/.venv
OPENCLAW_DIR := $(CURDIR)/.cache/openclaw

export CLAWKEEPER_VENV := $(VENV)

.PHONY: test demo tools venv openclaw fmt-check clippy build unit-and-e2e template-lint bench clean

## make test: every lint and test (what CI runs).
test: tools fmt-check clippy build unit-and-e2e template-lint
	@echo "make test: all checks passed"

## make demo: the main job locally, against moto, through the Runtime API.
demo: venv
	$(CARGO) build --workspace --bins
	$(CARGO) run --quiet -p clawkeeper-tests --bin demo

tools: venv openclaw

venv:
	@scripts/python-env.sh >/dev/null

openclaw:
	@if [ -x scripts/install-openclaw.sh ]; then scripts/install-openclaw.sh $(OPENCLAW_DIR) >/dev/null; fi

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

build:
	$(CARGO) build --workspace --bins

unit-and-e2e: build
	$(CARGO) test --workspace

template-lint: venv
	$(VENV)/bin/cfn-lint template.yaml
	$(VENV)/bin/python tests/template/check_template.py

bench:
	@if [ -x scripts/bench.sh ]; then scripts/bench.sh; else echo "no bench harness yet" >&2; exit 1; fi

clean:
	$(CARGO) clean
	rm -rf .venv .cache .aws-sam
