# The two commands a newcomer needs: `make demo` and `make test`. Each installs what it needs first.
PYTHON ?= python3

.PHONY: deps demo test lint bench

deps:
	./scripts/install-deps.sh

demo: deps
	$(PYTHON) -m monitor demo

test: deps
	$(PYTHON) -m ruff check .
	$(PYTHON) -m pytest -q -rs

lint:
	$(PYTHON) -m ruff check .
