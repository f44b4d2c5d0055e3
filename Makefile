# Two entry points, both doing their own set-up on a fresh machine:
#   make demo   ingest the sample corpus and answer sample questions on the offline defaults
#   make test   lint, type-check and run the test suite against the real models
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
QUESTION ?= How do I factory reset the router?

.PHONY: install demo test lint adapters

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

test: lint
	$(BIN)/pytest

# Train and export the sample domains' adapters (30-60 min per domain on 2 CPU cores).
adapters: install
	scripts/train_sample_adapters.sh
