# One entry point. Every target bootstraps .venv from pyproject.toml if it is missing or stale.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck unit demo bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

test: lint typecheck unit

lint: $(STAMP)
	$(VENV)/bin/ruff check fanscope tests benchmarks examples
	$(VENV)/bin/ruff format --check fanscope tests benchmarks examples

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict fanscope tests/typing
	PYRIGHT_PYTHON_IGNORE_WARNINGS=1 $(VENV)/bin/pyright

unit: $(STAMP)
	$(VENV)/bin/pytest -q

demo: $(STAMP)
	$(PY) examples/demo.py

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache .fanscope
