# The two set-up commands of the README: `make run` and `make test`.
# Each creates .venv and installs what it needs from the lock of tested versions.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
STAMP := $(VENV)/.installed

CHROMIUM := /usr/bin/chromium
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc

.PHONY: run test lint format bench lock clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c $(LOCK) pip setuptools

$(STAMP): $(BIN)/python pyproject.toml $(LOCK)
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/qianfa run

# The console's browser tests drive Debian's Chromium (Playwright never downloads a browser);
# a Chinese font makes their screenshots legible. Installed as root, only when missing.
browser:
	@if [ ! -x $(CHROMIUM) ] || [ ! -e $(CJK_FONT) ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "run as root to install chromium: apt-get install chromium fonts-wqy-microhei" >&2; exit 1; fi; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q chromium fonts-wqy-microhei || \
			{ apt-get update -q && apt-get install -y -q chromium fonts-wqy-microhei; }; \
	fi

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=. $(BIN)/lint-imports
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=. $(BIN)/lint-imports

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
