# One target per habit. Everything runs from a project-local virtualenv (.venv).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lint format typecheck test test-timescale bench run clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

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
