# The README's two commands: `make demo` (run MPCS locally) and `make test` (everything CI checks).
SHELL := /bin/bash
VENV := .venv/bin
PY_DIRS := .
CRATE := workloads/lineproto/Cargo.toml

.PHONY: demo test bootstrap lint unit integration clean-stack deploy-aws

demo: bootstrap
	$(VENV)/mpcs dev demo

test: bootstrap lint
	cd console && npx vitest run
	$(VENV)/pytest

bootstrap:
	scripts/bootstrap

lint:
	$(VENV)/ruff check $(PY_DIRS)
	$(VENV)/ruff format --check $(PY_DIRS)
	$(VENV)/mypy
	$(VENV)/lint-imports
	cargo fmt --manifest-path $(CRATE) --check
	PYO3_PYTHON=$(VENV)/python cargo clippy --quiet --manifest-path $(CRATE) -- -D warnings
	cd console && npx tsc -b && npx eslint --max-warnings 0 .

unit:
	$(VENV)/pytest tests/unit

integration:
	$(VENV)/pytest tests/integration

clean-stack:
	$(VENV)/mpcs dev down

# MPCS in an AWS account (deploy/aws/README.md): the alerts Lambda zip, then the CDK app.
CDK = $(shell $(VENV)/python -c 'from mpcs.dev.tools import binary; print(binary("aws-cdk", "cdk"))')
deploy-aws: bootstrap
	$(VENV)/mpcs lambdas package --out dist/mpcs-alerts-lambda.zip
	cd deploy/aws && $(CDK) bootstrap $(CDK_ARGS) && $(CDK) deploy --require-approval broadening $(CDK_ARGS)
