# The project's front door. `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint format typecheck check bench mutation dist clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash scripts/demo.sh

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: install
	$(VENV)/bin/mypy

check: lint typecheck test

bench: install
	$(PY) -m pip install --quiet -e '.[test,bench]'
	$(PY) benchmarks/run.py

# The release artefacts: sdist and wheel in dist/, their metadata checked by twine, then
# scripts/check_dist.py runs a few test modules from the unpacked sdist and the installed wheel's
# command (slow, so not part of `test`).
dist: install
	$(PY) -m pip install --quiet -e '.[test,dist]'
	rm -rf dist
	$(PY) -m build --quiet --outdir dist .
	$(VENV)/bin/twine check --strict dist/*
	$(PY) scripts/check_dist.py dist

# Mutation testing of the core decision modules (listed in pyproject.toml, [tool.mutmut]) with
# the whole suite as killer. Takes minutes, so not part of `check` or CI; see docs/testing.md.
MUTATION_CHILDREN ?= 2
mutation: install
	$(PY) -m pip install --quiet -e '.[test,mutation]'
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children $(MUTATION_CHILDREN) > mutants.log 2>&1 \
		|| { tail -n 40 mutants.log; exit 1; }
	$(PY) scripts/mutation_score.py

clean:
	rm -rf mutants mutants.log $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
