# clawkeeper: the two commands a newcomer needs are `make test` and `make demo`.
# Both install what they need (a Python venv with moto and cfn-lint, the OpenClaw gateway
# for interop tests) from the package registries on first use.

SHELL := /bin/bash
CARGO ?= cargo
VENV := $(CURDIR)/.venv
OPENCLAW_DIR := $(CURDIR)/.cache/openclaw
# Where the end-to-end tests record each function's AWS requests (tests/src/recorder.rs).
IAM_CALLS := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/iam-calls

export CLAWKEEPER_VENV := $(VENV)

.PHONY: test demo tools venv openclaw iam-sim fmt-check clippy build unit-and-e2e iam-coverage template-lint template-scan sam-build deploy package package-check bench cost clean

## make test: every lint and test (CI runs it, then `make sam-build`).
test: tools fmt-check clippy build unit-and-e2e iam-coverage template-lint template-scan
	@echo "make test: all checks passed"

## make demo: the main job locally, against moto, through the Runtime API.
demo: venv
	$(CARGO) build --workspace --bins
	$(CARGO) run --quiet -p clawkeeper-tests --bin demo

tools: venv openclaw iam-sim

venv:
	@scripts/python-env.sh >/dev/null

openclaw:
	@if [ -x scripts/install-openclaw.sh ]; then scripts/install-openclaw.sh $(OPENCLAW_DIR) >/dev/null; fi

## The offline IAM policy evaluator (npm: @cloud-copilot/iam-simulate) into tests/iam/node_modules.
iam-sim:
	@scripts/install-iam-sim.sh >/dev/null

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

build:
	$(CARGO) build --workspace --bins

unit-and-e2e: build
	rm -rf $(IAM_CALLS)
	$(CARGO) test --workspace --no-fail-fast

## Every AWS request the functions made in the end-to-end tests, evaluated against each function's
## role in every parameter mode of the template (tests/iam/check.py): no deny, no unused grant.
iam-coverage: venv iam-sim
	$(VENV)/bin/python -m unittest discover -s tests/iam -p 'test_*.py'
	$(VENV)/bin/python tests/iam/check.py --calls $(IAM_CALLS)

## cfn-lint on template.yaml, then the checks of tests/template/: the template's wiring, and per
## parameter mode (tests/template/modes.py) cfn-lint of the SAM-transformed and resolved template and
## what CloudFormation and AWS would refuse or silently break. CLAWKEEPER_TEMPLATE=path checks another file.
template-lint: venv
	$(VENV)/bin/cfn-lint $${CLAWKEEPER_TEMPLATE:-template.yaml}
	$(VENV)/bin/python tests/template/check_template.py
	$(VENV)/bin/python tests/template/check_parameters.py
	$(VENV)/bin/python tests/template/check_deploy.py
	$(VENV)/bin/python tests/template/check_modes.py
	$(VENV)/bin/python tests/template/check_cost.py

## Security scan: checkov on template.yaml and on every mode's resolved template; every skipped
## check is justified inline in template.yaml.
template-scan: venv
	@scripts/python-env.sh scan >/dev/null
	$(VENV)/bin/python tests/template/scan_modes.py

## The slower packaging check CI runs after `make test`: `sam build` offline for arm64 (the deploy
## default), cross-compiled by cargo-lambda with zig, both from PyPI.
sam-build:
	@scripts/python-env.sh package >/dev/null
	PATH="$(CURDIR)/.venv-sam/bin:$$PATH" AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 \
		.venv-sam/bin/sam build --template template.yaml --build-dir .aws-sam/build
	@for f in TaskEvents Reconciler LogAlerts Snapshot Restore Control; do \
		test -x .aws-sam/build/$${f}Function/bootstrap || { echo "sam build made no $${f}Function/bootstrap" >&2; exit 1; }; \
	done
	@file .aws-sam/build/TaskEventsFunction/bootstrap | grep -q aarch64 || { echo "not an arm64 binary" >&2; exit 1; }

## make deploy MODE=watch|snapshots|create-gateway [ARCH=arm64|x86_64] [CONFIG=samconfig.toml] [DRY_RUN=1]:
## sam build and sam deploy with deploy/samconfig.MODE.toml, checked first (stack name, capabilities,
## the same architecture for build and deploy); DRY_RUN=1 checks and prints the commands only.
MODE ?= watch
ARCH ?= arm64
deploy:
	@if [ -z "$(DRY_RUN)" ]; then scripts/python-env.sh package >/dev/null; fi
	python3 scripts/deploy.py deploy $(MODE) $(ARCH)

## make package BUCKET=<s3 bucket> [ARCH=arm64]: the built functions and packaged.yaml, which deploys
## without a Rust toolchain (sam deploy --template-file packaged.yaml) or is published with sam publish.
package:
	@if [ -z "$(DRY_RUN)" ]; then scripts/python-env.sh package >/dev/null; fi
	python3 scripts/deploy.py package $(ARCH) $(BUCKET)

## make package-check (CI, after sam-build): `make package` for real against S3 in moto_server on
## loopback, and the packaged template checked as a release (tests/package/check_package.py).
package-check: venv
	@scripts/python-env.sh package >/dev/null
	$(VENV)/bin/python tests/package/check_package.py

bench:
	@if [ -x scripts/bench.sh ]; then scripts/bench.sh; else echo "no bench harness yet" >&2; exit 1; fi

## make cost: docs/COST.md, the monthly cost of every parameter mode, from what the resolved template
## creates, the measured AWS requests per run (docs/call-counts.json) and docs/BENCHMARKS.md.
cost: venv
	$(VENV)/bin/python scripts/cost.py --write

clean:
	$(CARGO) clean
	rm -rf .venv .venv-sam .venv-scan .cache .aws-sam
