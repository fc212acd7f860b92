# The two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_ARGS ?= --accounts 2000 --events 1000000

.PHONY: install demo test lint typecheck unit bench clean java browser

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/tenure demo $(DEMO_ARGS) --db duckdb:///tenure.duckdb --out demo-data
	$(BIN)/tenure report --db duckdb:///tenure.duckdb
	$(BIN)/tenure churn train --db duckdb:///tenure.duckdb
	@echo "admin API key for this demo: $$($(BIN)/tenure keys create demo --role admin)"
	$(BIN)/tenure serve --db duckdb:///tenure.duckdb

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs
	$(BIN)/ruff format --check src tests benchmarks docs

typecheck: $(STAMP)
	$(BIN)/mypy

# Chromium for the dashboard tests; CJK and Thai fonts so that their screenshots show the demo's
# Japanese and Thai comments (optional: without them the tests still pass, text shows as boxes).
browser:
	@test -x /usr/bin/chromium || { \
		echo "installing Chromium for the dashboard tests"; \
		apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
	@fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || { \
		echo "installing CJK and Thai fonts for the dashboard screenshots"; \
		apt-get install -y -qq fonts-noto-cjk fonts-thai-tlwg >/dev/null 2>&1 \
		|| { apt-get update -qq && apt-get install -y -qq fonts-noto-cjk fonts-thai-tlwg >/dev/null; } \
		|| echo "could not install the fonts; screenshots will show boxes for Japanese and Thai"; }

java:
	@command -v java >/dev/null 2>&1 || { \
		echo "installing a Java runtime for Spark"; \
		apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null; }

# The app-store tests also run on PostgreSQL when .ci/postgres can start a server here. The tests
# run on every core (pytest-xdist), a module per process so that its fixtures are built once.
unit: $(STAMP) java browser
	TENURE_TEST_PG="$${TENURE_TEST_PG:-$$(bash .ci/postgres)}" $(BIN)/python -m pytest -q -n auto --dist loadfile

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) tenure.duckdb tenure-app.db demo-data artifacts
