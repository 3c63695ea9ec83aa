# Herald. `make run` and `make test` do all set-up themselves on a machine with Python 3.11+.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; \
	done)
VENV := .venv
BIN := $(VENV)/bin
REQS_HASH := $(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQS_HASH)
PYTEST_ARGS ?=
# Twilio's SMS segment calculator (npm, pinned by its lock file): the judge of
# tests/templates_app/test_twilio_oracle.py. Only `make test` wants it, and without npm it is
# skipped (so is that test): `make run` needs nothing but Python.
ORACLES := tests/oracles
ORACLES_STAMP := $(ORACLES)/node_modules/.package-lock.json
# The test SMSC (npm `smpp`, pinned): tests/smsc/README.md. Without npm its tests skip.
SMSC := tests/smsc
SMSC_STAMP := $(SMSC)/node_modules/.package-lock.json

.PHONY: setup run test lint format bench screenshots clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@if [ -z "$(PYTHON)" ]; then echo "Herald needs Python 3.11 or newer on PATH." >&2; exit 1; fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@# The RapidPro client before 2.19 (integer ids), beside the current one: tests/live run both.
	$(BIN)/python -m pip install --quiet --no-deps --upgrade --target $(VENV)/rapidpro-python-2.18 rapidpro-python==2.18.2
	@rm -f $(VENV)/.installed-*
	@touch $@

run: setup
	$(BIN)/python scripts/run.py

test: setup $(ORACLES_STAMP) $(SMSC_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

$(ORACLES_STAMP): $(ORACLES)/package.json $(ORACLES)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix $(ORACLES) --no-audit --no-fund --loglevel=error \
	    || echo "npm ci failed: tests/templates_app/test_twilio_oracle.py will skip." >&2; \
	else \
	  echo "npm not found: tests/templates_app/test_twilio_oracle.py will skip (apt-get install nodejs npm)."; \
	fi

$(SMSC_STAMP): $(SMSC)/package.json $(SMSC)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix $(SMSC) --no-audit --no-fund --loglevel=error \
	    || echo "npm ci failed: the tests using the test SMSC (tests/smsc) will skip." >&2; \
	else \
	  echo "npm not found: the tests using the test SMSC (tests/smsc) will skip (apt-get install nodejs npm)."; \
	fi

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: setup
	$(BIN)/python bench/run_all.py

# The dashboard's main pages as PNGs in docs/screenshots/ (a throwaway database, Debian's chromium).
screenshots: setup
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) var/static .mypy_cache .ruff_cache .pytest_cache $(ORACLES)/node_modules $(SMSC)/node_modules
