# modelfresh - every target installs what it needs (into .tools/ and .venv/), so on a fresh
# machine two commands do everything:
#     make demo    the local end-to-end demo on the local cloud (MODEL=churn: the classifier;
#                  MODEL=churn-batch: the batch classifier's days)
#     make test    every check and every test (what CI runs)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON_VERSION := 3.12
UV_VERSION := 0.13.9
SAM_VERSION := 1.170.0
CHECKOV_VERSION := 3.3.30
ENV ?= default
# Extra `sam deploy` flags; CI passes --no-confirm-changeset (nobody is there to answer).
SAM_DEPLOY_FLAGS ?=
MODEL ?= taxi-fare

TOOLS := $(CURDIR)/.tools
UV := $(TOOLS)/uv/bin/uv
SAM := $(TOOLS)/bin/sam
CHECKOV := $(TOOLS)/bin/checkov
# The GitHub OIDC provider and the role CI deploys with (README, "Deploy from CI").
CI_ROLE_TEMPLATE := ops/ci-deploy-role.yaml
RUN := $(UV) run --frozen --python $(PYTHON_VERSION)

# sam-cli and checkov pin their own dependencies (sam-cli pins boto3 and click exactly), so
# each lives in its own isolated tool environment, never in the project's venv.
export UV_TOOL_DIR := $(TOOLS)/uv-tools
export UV_TOOL_BIN_DIR := $(TOOLS)/bin
export SAM_CLI_TELEMETRY := 0
export PYTHONPATH := $(CURDIR)/layers/shared:$(CURDIR)/layers/drift:$(CURDIR)
export AWS_DEFAULT_REGION ?= us-east-1
# The venv's Python is the one uv finds on the machine (3.12); never a download.
export UV_PYTHON_DOWNLOADS := never

.PHONY: help setup browser test lint typecheck check-config check-pipeline validate checkov build unit pipeline demo demo-wait permissions bench soak deploy destroy clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

# ------------------------------------------------------------------------------ setup
$(UV):
	python3 -m venv $(TOOLS)/uv
	$(TOOLS)/uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON_VERSION)
	touch $@

$(SAM): | $(UV)
	$(UV) tool install --quiet --python $(PYTHON_VERSION) aws-sam-cli==$(SAM_VERSION)

$(CHECKOV): | $(UV)
	$(UV) tool install --quiet --python $(PYTHON_VERSION) checkov==$(CHECKOV_VERSION)

setup: .venv/.synced $(SAM) $(CHECKOV) browser ## Install uv, the venv, sam-cli, checkov, Chromium

# The browser test drives Debian's Chromium (Playwright's own browser download cannot work
# on a closed network). Installed as root, or through sudo where there is one.
browser: ## Install Debian's chromium for the real-browser test
	@command -v chromium >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -q --no-install-recommends chromium \
		|| { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q --no-install-recommends chromium; }; }

# ------------------------------------------------------------------------------ checks
test: lint typecheck check-config check-pipeline validate checkov build unit ## Every check and every test (CI)

lint: .venv/.synced ## ruff (lint + format check), actionlint (with ShellCheck) on .github/workflows
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) actionlint

typecheck: .venv/.synced ## mypy --strict
	$(RUN) mypy

check-config: .venv/.synced ## Validate each environment's models file, that its stack serves it, and no clash (CONFIG=a file to try as ENV's)
	$(RUN) python -m checks.config $(if $(CONFIG),$(CONFIG) --env $(ENV))

# The sagemaker SDK (the pipeline group) is installed here and by `make pipeline` only; the
# tests read the generated file without it.
check-pipeline: .venv/.synced ## pipelines/definition.json and template.yaml are what the SDK builds
	$(RUN) --group pipeline python -m pipelines.definition --check

validate: $(SAM) ## sam validate --lint (cfn-lint on the templates)
	$(SAM) validate --lint
	$(SAM) validate --lint -t $(CI_ROLE_TEMPLATE)

checkov: $(CHECKOV) ## checkov on the templates (skips are justified in .checkov.yaml)
	$(CHECKOV) -f template.yaml -f $(CI_ROLE_TEMPLATE) --config-file .checkov.yaml

# sam build needs the runtime's Python (3.12) first on PATH; no Docker is involved. Two of its
# lines are dropped: "requirements.txt file not found" for every function (their dependencies
# are in the shared layer, on purpose), and its closing hint, `sam deploy --guided`, which
# would skip what `make deploy` puts in place first (the pipeline's step code, package groups).
#
# ENV chooses the models file the layer carries (ops/samconfig.py: config/models.<ENV>.toml, else
# config/models.toml); sam runs the layer's Makefile with this environment, so the choice reaches
# it as MODELFRESH_MODELS_FILE. Each environment has its own build cache: the layer's cache key
# is its folder's content, the same whichever file ENV chooses. check-config first: no build of
# an environment whose stack would act on another environment's names.
build: $(SAM) $(UV) check-config ## sam build of ENV (no Docker)
	@models="$$($(RUN) python -m ops.samconfig models-file $(ENV))"; \
	echo "Building $(ENV) with $$models"; \
	PATH="$$(dirname "$$($(UV) python find --system $(PYTHON_VERSION))"):$$PATH" \
		MODELFRESH_MODELS_FILE="$$models" $(SAM) build --config-env $(ENV) \
		--cache-dir .aws-sam/cache-$(ENV) 2>&1 \
		| sed -u -e '/^requirements.txt file not found/d' -e '/^Commands you can use next/,$$d'
	@echo "Next: make deploy ENV=<environment of samconfig.toml> (default: $(ENV))"

# One worker per core (pytest-xdist), each test file kept on one worker so its module-scoped
# local cloud is built once. Every local cloud lives in its own process, ports are free ones.
unit: .venv/.synced browser ## pytest: unit, ASL, local-cloud, integration and browser tests
	MODELFRESH_REQUIRE_BROWSER=1 $(RUN) pytest -n auto --dist loadfile

# ------------------------------------------------------------------------------ build
pipeline: .venv/.synced ## Rebuild pipelines/definition.json (and its copy in template.yaml) with the SDK
	$(RUN) --group pipeline python -m pipelines.definition

# ------------------------------------------------------------------------------ run
# MODEL: any model of config/models.toml that has a demo data generator (demo/world.py).
# Exit status 3 (the system decided not to promote, and said why) is a demo that worked.
demo: .venv/.synced ## The end-to-end demo on the local cloud (MODEL=taxi-fare|churn|churn-batch)
	$(RUN) python -m demo --model $(MODEL) || [ $$? -eq 3 ]

demo-wait: .venv/.synced ## The demo, waiting for you to approve in a browser (and staying up)
	$(RUN) python -m demo --model $(MODEL) --wait-for-approval --keep-running || [ $$? -eq 3 ]

# The local-cloud and integration tests, IAM enforced, each call recorded with its role; then
# per role, the actions used next to those granted (what is granted and never used: a finding).
permissions: .venv/.synced ## Per-role report of the IAM actions the suite used vs. granted (docs/permissions.md)
	rm -rf build/iam-ledger
	LOCALCLOUD_IAM_LEDGER=build/iam-ledger $(RUN) pytest -q -n auto --dist loadfile tests/localcloud tests/integration
	$(RUN) python -m localcloud.permissions_report build/iam-ledger docs/permissions.md

# The bench group (Evidently, pandas) is installed here, never by `make test`. ONLY=estimate
# (a section, or several separated by spaces) runs those alone; the others keep their figures.
bench: .venv/.synced ## Benchmarks; results in bench/results.json and bench/RESULTS.md (ONLY=a section)
	$(RUN) --group bench python -m bench $(foreach section,$(ONLY),--only $(section))

# `make test` runs the property tests' short profiles; this runs them long (minutes).
soak: .venv/.synced ## Long runs of the property tests: the controller's invariants, the approval API fuzz
	MODELFRESH_HYPOTHESIS_PROFILE=soak MODELFRESH_FUZZ_EXAMPLES=2000 $(RUN) pytest -q \
		tests/unit/test_controller_invariants.py tests/integration/test_approval_fuzz.py \
		--hypothesis-show-statistics

# The setup is checked first (the environment, its region, credentials: one line for what is
# missing), so a mistake costs a second, not a build. After the build, what the stack uses
# without owning it: the default buckets, each configured model's package group, the
# pipeline's step code (the deployed definition names it). Then sam deploy.
deploy: .venv/.synced $(SAM) ## Deploy samconfig.toml's ENV (make deploy ENV=prod) to AWS; needs credentials
	$(RUN) python -m ops.deploy --config-env $(ENV) --check
	$(MAKE) --no-print-directory build
	$(RUN) python -m ops.deploy --config-env $(ENV)
	$(SAM) deploy --config-env $(ENV) $(SAM_DEPLOY_FLAGS)

# sam delete first (it asks): the stack's functions would make again what the rest removes.
# Then what its runs made (alarms, auto scaling, endpoints, models, outputs, log groups) is
# listed and removed after a yes; the registry, the buckets and the retained audit table and
# dead-letter queue stay (README, "Cleanup").
destroy: .venv/.synced $(SAM) ## Delete ENV's stack, then what its runs left behind (asks first)
	$(RUN) python -m ops.deploy --config-env $(ENV) --check
	$(SAM) delete --config-env $(ENV)
	$(RUN) python -m ops.destroy --config-env $(ENV)

clean: ## Remove build output and caches (keeps .tools and .venv)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache demo-output
