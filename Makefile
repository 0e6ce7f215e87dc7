# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tenantflow demo

lint: $(STAMP)
	$(BIN)/ruff check tenantflow tests benchmarks migrations
	$(BIN)/ruff format --check tenantflow tests benchmarks migrations
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

bench: $(STAMP)
	for b in sandbox engine api egress sessions shell; do $(BIN)/python benchmarks/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
