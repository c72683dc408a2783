# The two commands a newcomer needs: `make demo` and `make test`. Each installs what it needs
# first (scripts/install-deps.sh: Debian packages as root, then the project venv in .venv).
VENV ?= .venv
PY := $(VENV)/bin/python
# Tests and the demo run with the venv's tools (ccmon, hadolint, ...) first on PATH.
RUN := PATH="$(abspath $(VENV))/bin:$$PATH"

.PHONY: deps demo test test-fast lint constraints

deps:
	./scripts/install-deps.sh

demo: deps
	$(RUN) $(PY) -m monitor demo

test: deps
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(RUN) $(PY) -m pytest -q -rs --durations=15

# The pure tests only: no lab, no server process (a laptop's quick run).
test-fast: deps
	$(RUN) $(PY) -m pytest -q -m "not integration"

lint: deps
	$(PY) -m ruff check .
	$(PY) -m mypy

# Regenerate constraints.txt from the newest releases that satisfy pyproject.toml.
constraints:
	rm -rf .venv-constraints
	python3 -m venv .venv-constraints
	.venv-constraints/bin/python -m pip install -q --upgrade pip
	.venv-constraints/bin/python -m pip install -q -e '.[test]'
	{ sed -n '1,2p' constraints.txt; .venv-constraints/bin/python -m pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf .venv-constraints
