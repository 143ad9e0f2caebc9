# Everything the project needs is installed by these targets (no manual steps).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install test test-unit demo ui bench ingest opensearch-up opensearch-down clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

test: install
	bash scripts/system-deps.sh
	bash scripts/test.sh

test-unit: install
	$(BIN)/python -m pytest -q -m "not integration"

demo: install
	$(BIN)/python -m dagster_project.demo

# ingest one day (raw files, events, digest) for every configured instance: make ingest DAY=YYYY-MM-DD
ingest: install
	@test -n "$(DAY)" || { echo "usage: make ingest DAY=YYYY-MM-DD" >&2; exit 2; }
	$(BIN)/python -m dagster_project.ingest_day $(DAY)

ui: install
	DAGSTER_HOME=$${DAGSTER_HOME:-$(CURDIR)/.dagster_home} ; mkdir -p $$DAGSTER_HOME ; \
	DAGSTER_HOME=$$DAGSTER_HOME $(BIN)/dagster dev -w workspace.yaml

bench: install
	bash scripts/system-deps.sh
	# byte-compile the package: with PYTHONDONTWRITEBYTECODE set, every timed run would recompile it
	$(BIN)/python -m compileall -q dagster_project
	$(BIN)/python bench/bench.py

opensearch-up:
	bash scripts/opensearch/opensearch.sh up

opensearch-down:
	bash scripts/opensearch/opensearch.sh down

clean:
	rm -rf .pytest_cache .bench
