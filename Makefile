# Two commands on a fresh machine:  `make demo` (the main job)  and  `make test` (the whole suite).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install clean-data lock check-wheel

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/thidua demo $(ARGS)

test: $(STAMP)
	bash scripts/ensure-chromium.sh
	bash scripts/ensure-test-tools.sh
	$(BIN)/pytest $(ARGS)
	bash scripts/check-wheel.sh

# Build the wheel, install it in a fresh venv outside the checkout, run `thidua init`, `validate` and a short demo.
check-wheel: $(STAMP)
	bash scripts/check-wheel.sh

clean-data:
	rm -rf data

# Re-lock after changing dependencies in pyproject.toml (run in a venv that has exactly them).
lock:
	$(BIN)/pip freeze --exclude-editable --disable-pip-version-check | grep -v '^thidua' > requirements.lock
