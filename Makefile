# Two entry points on a fresh machine (see README):
#   make demo   install, then run a demo task on the embedded default and print its logs back
#   make test   install, then lint, type-check and run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The distributions of this repo, installed editable (the root `tasklogs` gathers them).
PARTS  := otel_sdk_ext collector_service exporters/clickhouse exporters/postgres live_tail
PYPROJECTS := pyproject.toml $(addsuffix /pyproject.toml,$(PARTS))

.PHONY: install demo test lint typecheck pytest clean web

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

pytest: install
	$(BIN)/pytest

test: lint typecheck pytest

# The web viewer's bundle (live_tail/web -> live_tail/src/live_tail/static, committed).
web:
	cd live_tail/web && npm ci --no-audit --no-fund --prefer-offline && node build.mjs

clean:
	rm -rf $(VENV) .tasklogs-demo .mypy_cache .pytest_cache .ruff_cache
