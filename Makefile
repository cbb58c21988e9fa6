# Two entry points a fresh machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

.PHONY: install demo test bench lint
install: $(VENV)/.installed

demo: install
	$(VENV)/bin/bridge send tests/corpus/openlineage
	@echo "MCPs written to .bridge-state/mcps.json (DataHub file format)"

test: install
	$(VENV)/bin/pytest -q

bench: install
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) benchmarks/run.py

lint: install
	$(VENV)/bin/ruff check bridge translators emitters dagster_plugin tests benchmarks
