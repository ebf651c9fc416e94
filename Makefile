# One target per habit. Everything runs from a project-local virtualenv (.venv).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lock lint format typecheck test test-timescale bench run clean

# constraints.txt pins every package to the versions tested together (see `lock`).
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Refresh constraints.txt: the newest versions pyproject.toml allows, resolved in a scratch
# virtualenv; then run the tests and commit it (an upgrade is a change, not an accident).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -q --upgrade pip
	.lock-venv/bin/pip install -q -e '.[dev]'
	{ sed -n '/^#/p' constraints.txt; .lock-venv/bin/pip freeze --exclude-editable; } > constraints.new
	mv constraints.new constraints.txt && rm -rf .lock-venv
	rm -f $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP)
	$(BIN)/pytest

# The same suite on the TimescaleDB storage path. The server: CITYSENSE_TEST_TIMESCALE_URL (one
# with the extension preloaded), or a private cluster from CITYSENSE_TEST_PG_BINDIR (a PostgreSQL
# bin directory with the extension; .ci/run passes ../shared/timescaledb/install's).
test-timescale: $(STAMP)
	CITYSENSE_TEST_STORAGE=timescaledb $(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m bench

# Everything on this machine: embedded PostgreSQL + Mosquitto, ingest, API, demo fleet.
run: $(STAMP)
	$(BIN)/citysense up

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache tests/artifacts
