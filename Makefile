# Two entry points a fresh machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

.PHONY: install browser demo test bench lint
install: $(VENV)/.installed

# The demo starts afresh each time, in a state directory of its own: the file emitter appends, and
# the lineage memory would leave out what the last demo sent, so a second demo would differ.
DEMO_STATE := .bridge-state/demo

demo: install
	rm -rf $(DEMO_STATE)
	$(VENV)/bin/bridge send tests/corpus/openlineage --state-dir $(DEMO_STATE)
	@echo "MCPs written to $(DEMO_STATE)/mcps.json (DataHub file format), replacing the last demo's"

# The status page's browser tests (tests/test_ui_page.py) drive Debian's chromium through Playwright, with no
# browser download; as root (CI) it is installed here, skipped when /usr/bin/chromium is already there.
browser:
	@test -x /usr/bin/chromium || [ "$$(id -u)" != 0 ] || \
		{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }
	@test -x /usr/bin/chromium || { echo "the browser tests need Debian's chromium: sudo apt-get install -y chromium" >&2; exit 1; }

test: install browser
	$(VENV)/bin/pytest -q

bench: install
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) benchmarks/run.py

lint: install
	$(VENV)/bin/ruff check bridge translators emitters dagster_plugin tests benchmarks
