# The newcomer's commands. Everything runs from the project's own virtualenv (.venv).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup test unit lint up check-config docs

$(BIN)/azora: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

setup: $(BIN)/azora

# The test command: lint, then the whole suite (unit; integration, live and e2e when their
# prerequisites are installed by `.ci/run`).
test: setup lint
	$(BIN)/python -m pytest

unit: setup
	$(BIN)/python -m pytest tests/unit

lint: setup
	$(BIN)/ruff check .

check-config: setup
	$(BIN)/azora config check Pulumi.*.yaml

# The main job. Until the toolchain and the local cluster land it validates the local stack
# and stops, saying so.
up: setup
	$(BIN)/azora config check Pulumi.local.yaml
	@echo "make up: the Pulumi toolchain and the local cluster are not available yet; nothing was deployed." >&2
	@exit 1

docs: setup
	$(BIN)/python -m azora.docs
