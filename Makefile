# Two commands on a fresh machine:  `make demo` (the main job)  and  `make test` (the whole suite).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The suite runs on this many processes (pytest-xdist), a file per process at a time so module fixtures run once.
TEST_WORKERS ?= 2

.PHONY: demo test test-fast lint lint-baseline install clean-data lock check-wheel

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/thidua demo $(ARGS)

test: $(STAMP) lint
	bash scripts/ensure-chromium.sh
	bash scripts/ensure-test-tools.sh
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile $(ARGS)
	bash scripts/check-wheel.sh

# The pure domain rules (marker `domain`: no database, no network), in seconds.
test-fast: $(STAMP)
	$(BIN)/pytest -q -m domain -p no:cacheprovider $(ARGS)

# ruff check, ruff format --check, then mypy: strict on models/, notifications/ and thidua/errors.py; elsewhere no more errors per file
# than scripts/mypy-baseline.txt records (`make lint-baseline` lowers the record after a fix, never raises it).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/mypy-ratchet.py

lint-baseline: $(STAMP)
	$(BIN)/python scripts/mypy-ratchet.py --update

# Build the wheel, install it in a fresh venv outside the checkout, run `thidua init`, `validate` and a short demo.
check-wheel: $(STAMP)
	bash scripts/check-wheel.sh

clean-data:
	rm -rf data

# Re-lock after changing dependencies in pyproject.toml (run in a venv that has exactly them).
lock:
	$(BIN)/pip freeze --exclude-editable --disable-pip-version-check | grep -v '^thidua' > requirements.lock
