# The newcomer's commands. Everything runs from the project's own virtualenv (.venv).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup tools checkov test unit lint up check-config docs

$(BIN)/azora: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@# Bytecode for the project's own modules: every `azora` and test subprocess then starts
	@# without compiling them again, even where PYTHONDONTWRITEBYTECODE is set (as on CI here).
	$(BIN)/python -m compileall -q azora components policy
	@touch $@

setup: $(BIN)/azora

# The Pulumi CLI and plugins, and the embedded cluster's binaries: built once from Go modules
# into ~/.cache/azora/toolchain (a cache hit takes a second); and checkov.
tools: setup checkov
	$(BIN)/azora tools install --with cluster

# checkov, the independent scanner the integration suite runs on the rendered production stack
# (tests/integration/test_checkov.py), in a virtualenv of its own, so its ~95 pinned packages
# never move the project's. Installed again only when its pins change (about 40 s cold).
# It lives in azora's cache (azora.toolchain.paths.checkov_dir), by the hash of its pins, so a
# fresh clone finds it installed.
CHECKOV_PINS := tests/integration/checkov-requirements.txt
CACHE_ROOT := $(or $(AZORA_CACHE_DIR),$(if $(XDG_CACHE_HOME),$(XDG_CACHE_HOME)/azora,$(HOME)/.cache/azora))
CHECKOV_VENV := $(CACHE_ROOT)/checkov/$(shell sha256sum $(CHECKOV_PINS) | cut -c1-12)

# `.installed` is written only after pip succeeds, so an interrupted install is made again.
$(CHECKOV_VENV)/.installed:
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r $(CHECKOV_PINS)
	@touch $@

checkov: $(CHECKOV_VENV)/.installed

# The unit gate: tests/unit (mocks only: no engine, cluster, browser or fixed port), spread over
# the CPUs by pytest-xdist, a test file per worker at a time (its tests in their order); the
# stacks' mocked runs are still made once per session (tests/conftest.py). UNIT_WORKERS=0 runs
# it in one process; benchmarks/unit_gate.py times both. Only this gate runs in parallel: the
# other suites share ports and one cluster.
# Three workers on two cores: a third of the gate's time is waiting (subprocesses starting,
# stand-ins' sleeps and timeouts), which a third worker fills; measured 13.3 s against 16.3 s.
UNIT_WORKERS ?= 3
UNIT_DIST ?= loadfile
UNIT_PYTEST = $(BIN)/python -m pytest tests/unit -n $(UNIT_WORKERS) --dist $(UNIT_DIST)

# The engine suites: integration (real engine, scratch stacks of their own) and the browser
# suites (their own stand-ins on free ports), two workers, a file per worker at a time. Each
# test owns its files, backends and ports, and half their time is the engine's subprocesses
# starting and waiting: measured 174 s against about 300 s in one process.
ENGINE_WORKERS ?= 2
ENGINE_PYTEST = $(BIN)/python -m pytest tests/integration tests/e2e -n $(ENGINE_WORKERS) --dist loadfile

# The test command: lint, then the whole suite: the unit gate (in parallel, as `make unit`),
# the engine suites (in parallel, above; the browser suites need Chromium, which `.ci/run`
# installs), then the live suite in one process: it starts one cluster whose real node holds
# the machine, and its tests share it in order. Each test runs once; a later run goes on when
# an earlier one fails, and the target fails if any did. The slowest tests are listed.
test: setup tools lint
	status=0; \
	$(UNIT_PYTEST) || status=$$?; \
	$(ENGINE_PYTEST) --durations=15 || status=$$?; \
	$(BIN)/python -m pytest tests/live --durations=15 || status=$$?; \
	exit $$status

unit: setup
	$(UNIT_PYTEST)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/python -m mypy azora components policy

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
