# The README's two commands: `make demo` (run the platform on the embedded default)
# and `make test` (every check CI runs). Both set up whatever is missing first.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

setup: $(STAMP)
	@scripts/setup.sh system viewer

$(STAMP): pyproject.toml scripts/setup.sh
	@scripts/setup.sh python
	@touch $@

demo: setup
	@scripts/demo.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: setup lint
	@scripts/setup.sh postgres
	$(BIN)/pytest $(PYTEST_ARGS)

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
