# Two entry points, both doing their own set-up on a fresh machine:
#   make demo   ingest the sample corpus and answer sample questions on the offline defaults
#   make test   lint, type-check and run the test suite against the real models
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
QUESTION ?= How do I factory reset the router?

CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install demo test lint adapters ui

install: $(STAMP)

# torch is pinned through constraints.txt: an unpinned one pulls gigabytes of CUDA wheels.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --progress-bar off -c constraints.txt -e '.[all,dev]'
	touch $@

demo: install
	$(BIN)/ingest samples/corpus/support --domain support
	$(BIN)/ingest samples/corpus/policy --domain policy
	$(BIN)/assistant ask "$(QUESTION)"
	$(BIN)/assistant ask "How long are invoices kept?"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The browser tests drive Debian's Chromium (never a browser that Playwright downloads).
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

test: lint $(CHROMIUM)
	$(BIN)/pytest

# The web app on http://127.0.0.1:8501, on the data home `make demo` filled.
ui: install
	$(BIN)/assistant ui

# Train and export the sample domains' adapters (30-60 min per domain on 2 CPU cores).
adapters: install
	scripts/train_sample_adapters.sh
