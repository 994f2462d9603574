# The newcomer's commands. Everything runs from the project's own virtualenv (.venv).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup tools test unit lint up check-config docs

$(BIN)/azora: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

setup: $(BIN)/azora

# The Pulumi CLI and plugins, and the embedded cluster's binaries: built once from Go modules
# into ~/.cache/azora/toolchain (a cache hit takes a second).
tools: setup
	$(BIN)/azora tools install --with cluster

# The test command: lint, then the whole suite: unit, integration (real engine), live (the
# embedded cluster, started and stopped by the tests), and the browser suites when Chromium is
# installed (`.ci/run` installs it).
test: setup tools lint
	$(BIN)/python -m pytest

unit: setup
	$(BIN)/python -m pytest tests/unit

lint: setup
	$(BIN)/ruff check .

check-config: setup
	$(BIN)/azora config check Pulumi.*.yaml

# The main job: the local stack, for real, on the embedded cluster (started if it is down).
# --refresh: after `azora cluster down --purge` the state still lists objects the new cluster
# lacks; reading them first makes `up` create them again.
up: tools
	$(BIN)/azora cluster up
	$(BIN)/azora up --stack local --yes --refresh

docs: setup
	$(BIN)/python -m azora.docs
