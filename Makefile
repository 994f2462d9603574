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

# The Pulumi CLI and plugins: a compatible install on PATH, or built once from Go modules into
# ~/.cache/azora/toolchain (a cache hit takes a second).
tools: setup
	$(BIN)/azora tools install

# The test command: lint, then the whole suite: unit, integration (real engine), and the
# browser suites when Chromium is installed (`.ci/run` installs it).
test: setup tools lint
	$(BIN)/python -m pytest

unit: setup
	$(BIN)/python -m pytest tests/unit

lint: setup
	$(BIN)/ruff check .

check-config: setup
	$(BIN)/azora config check Pulumi.*.yaml

# The main job. The embedded cluster is not there yet: run the real engine on the local stack
# in render mode, so the manifests `pulumi up` would apply land in .azora/render/local.
up: tools
	$(BIN)/azora render --stack local --out .azora/render/local
	@echo "make up: rendered the local stack; the embedded cluster (azora cluster up) is not available yet."

docs: setup
	$(BIN)/python -m azora.docs
