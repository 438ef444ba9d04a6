# Two entry points on a fresh machine (see README):
#   make demo   install, then run a demo task on the embedded default and print its logs back
#   make test   install, then lint, type-check and run the whole test suite
#   make bench  install, then the full benchmark harness (bench/README.md; a quiet machine)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The distributions of this repo, installed editable (the root `tasklogs` gathers them).
PARTS  := otel_sdk_ext collector_service exporters/clickhouse exporters/postgres live_tail
PYPROJECTS := pyproject.toml $(addsuffix /pyproject.toml,$(PARTS))

.PHONY: install demo test test-deps lint typecheck pytest clean web bench

install: $(STAMP)

$(STAMP): $(PYPROJECTS) constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt $(addprefix -e ./,$(PARTS)) -e '.[dev]'
	@touch $@

demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

# What the tests need beyond the venv: the OpenTelemetry JavaScript SDK (tests/interop/js),
# the viewer's build tools (live_tail/web, for the stale-bundle check) and Debian's
# chromium for the browser tests (never a browser download; installing it needs root).
test-deps:
	@[ -d tests/interop/js/node_modules ] || (cd tests/interop/js && npm ci --no-audit --no-fund)
	@[ -d live_tail/web/node_modules ] || (cd live_tail/web && npm ci --no-audit --no-fund)
	@[ -x /usr/bin/chromium ] || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

pytest: install test-deps
	$(BIN)/pytest

test: lint typecheck pytest

# Every configuration and the rotel peer under one load, 3 repeats, py-spy profiles; JSON
# and plots in bench/results/harness/ (~40-60 min, loads both cores: see bench/README.md).
bench: install
	$(BIN)/python -m bench all --profile

# The web viewer's bundle (live_tail/web -> live_tail/src/live_tail/static, committed).
web:
	cd live_tail/web && npm ci --no-audit --no-fund --prefer-offline && node build.mjs

clean:
	rm -rf $(VENV) .tasklogs-demo .mypy_cache .pytest_cache .ruff_cache
