# Two entry points, both doing their own set-up on a fresh machine:
#   make demo   ingest the sample corpus, import the sample adapters, answer a question per domain
#   make test   lint, type-check and run the test suite against the real models
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Not questions of the eval or training sets: the adapters answer questions they have not seen
# (tests/test_sample_adapters.py asks the same ones).
SUPPORT_QUESTION ?= $(shell sed -n 's/^support: //p' samples/demo_questions.txt)
POLICY_QUESTION ?= $(shell sed -n 's/^policy: //p' samples/demo_questions.txt)

CHROMIUM := /usr/bin/chromium
NGINX := /usr/sbin/nginx
OIDC_PROVIDER := tests/oidc/node_modules/oidc-provider
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install demo test test-fast lint adapters ui

install: $(STAMP)

# torch is pinned through constraints.txt: an unpinned one pulls gigabytes of CUDA wheels.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --progress-bar off -c constraints.txt -e '.[all,dev]'
	touch $@

# The shipped sample adapters (samples/adapters/, made by `make adapters`) are imported: exported to
# GGUF and checked against PEFT once; a second run finds them registered.
demo: install
	$(BIN)/ingest samples/corpus/support --domain support
	$(BIN)/ingest samples/corpus/policy --domain policy
	$(BIN)/assistant adapters import samples/adapters/support
	$(BIN)/assistant adapters import samples/adapters/policy
	@printf '\n== support, answered with its adapter ==\n'
	$(BIN)/assistant ask "$(SUPPORT_QUESTION)"
	@printf '\n== policy, answered with its adapter ==\n'
	$(BIN)/assistant ask "$(POLICY_QUESTION)"
	@printf '\n== the same policy question, base model alone (same passages, no adapter) ==\n'
	$(BIN)/assistant ask "$(POLICY_QUESTION)" --adapter none

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The browser tests drive Debian's Chromium (never a browser that Playwright downloads); the Chroma server's
# token is checked by Debian's nginx, as the README's deployment section sets it up.
$(CHROMIUM) $(NGINX):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium nginx-light

# A real OpenID Connect provider (panva's oidc-provider, on the machine's Node) for the login tests.
$(OIDC_PROVIDER): tests/oidc/package-lock.json
	cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error

test: lint $(CHROMIUM) $(NGINX) $(OIDC_PROVIDER)
	$(BIN)/pytest

# A few minutes: lint, types, the layers contract and every test that needs no model (a test that loads one
# anyway fails, naming itself). `make test`, and so CI, still runs everything.
test-fast: lint
	ASSISTANT_TESTS_WITHOUT_MODELS=1 $(BIN)/pytest -m "not model" -q

# The web app on http://127.0.0.1:8501, on the data home `make demo` filled.
ui: install
	$(BIN)/assistant ui

# Train and export the sample domains' adapters (30-60 min per domain on 2 CPU cores).
adapters: install
	scripts/train_sample_adapters.sh
