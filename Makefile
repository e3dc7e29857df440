# The two set-up commands of the README: `make run` and `make test`.
# Each creates .venv and installs what it needs from the lock of tested versions.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c $(LOCK) pip setuptools

$(STAMP): $(BIN)/python pyproject.toml $(LOCK)
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/qianfa run

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	@for script in bench/*.py; do [ -e "$$script" ] && $(BIN)/python "$$script"; done; true

# Re-resolve the newest versions and record them as the tested set.
lock: $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade -e '.[dev]'
	$(BIN)/python -m pip freeze --all --exclude-editable | grep -v '^-e ' > $(LOCK)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
