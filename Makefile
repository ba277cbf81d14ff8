# The project's front door. `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint format typecheck check bench mutation dist clean acceptance \
	acceptance-simulator lock

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash scripts/demo.sh

# One worker per core; a test file stays on one worker, so its module fixtures are made once.
# Files go out in the order they are collected, not fewest tests last, so the slow ones (few
# tests that each run the CLI in a subprocess) start early and the many small unit files fill
# in at the end. Bytecode is cached even where PYTHONDONTWRITEBYTECODE is set: many tests run
# the CLI in a subprocess, which would compile the whole package each time.
test: install
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -q -n auto --dist loadfile --no-loadscope-reorder

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

# requirements/ci.lock: the runtime dependencies pinned with the hashes of every file of each
# release, which the action and the CI recipes install with `pip install --require-hashes` before
# the project itself with --no-deps. Run it after changing pyproject.toml's dependencies; it
# resolves for this machine's Python, so run it on the oldest one supported (3.11), whose lock
# also holds the backports it needs. tests/scenarios/test_ci_recipes.py checks the lock against
# pyproject.toml.
lock: install
	$(PY) -m pip install --quiet pip-tools
	CUSTOM_COMPILE_COMMAND="make lock" $(VENV)/bin/pip-compile --quiet --generate-hashes \
		--strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links \
		--output-file requirements/ci.lock pyproject.toml

# Mutation testing of the core decision modules (listed in pyproject.toml, [tool.mutmut]) with
# the whole suite as killer. Takes minutes, so not part of `check` or CI; see docs/testing.md.
MUTATION_CHILDREN ?= 2
mutation: install
	$(PY) -m pip install --quiet -e '.[test,mutation]'
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children $(MUTATION_CHILDREN) > mutants.log 2>&1 \
		|| { tail -n 40 mutants.log; exit 1; }
	$(PY) scripts/mutation_score.py

# The scenarios of tests/acceptance against a live account: opt-in, and it changes only the
# scratch personas, agents and numbers, restored at the end (docs/acceptance.md). Needs
# RECONCILER_ACCEPTANCE=1, BLAND_API_URL, BLAND_API_KEY, RECONCILER_SCRATCH_PERSONAS=id1,id2 and
# RECONCILER_SCRATCH_NUMBERS=n1,n2,...; RECONCILER_SCRATCH_AGENTS=id1[,id2] adds the move to a v2
# agent and back (skipped without it). Without the switch it touches nothing. `make test` runs
# the same scenarios against a simulator in its own process, never against an account.
ACCEPTANCE_ARGS ?=
acceptance: install
	@if [ "$$RECONCILER_ACCEPTANCE" != "1" ]; then \
		echo "acceptance: skipped, nothing was sent (set RECONCILER_ACCEPTANCE=1 to run it; see docs/acceptance.md)"; \
		exit 0; \
	fi; \
	$(PY) -m pytest -q -p no:cacheprovider tests/acceptance --acceptance-target=live $(ACCEPTANCE_ARGS); \
	status=$$?; \
	if [ $$status -eq 5 ]; then echo "acceptance: no scenario selected"; exit 0; fi; \
	exit $$status

# `make acceptance` against the simulator started as its own process, with the scratch personas,
# agents and numbers given by the environment; then checks that it left the simulator exactly as
# found and wrote only to the scratch personas and agents. The way to try `make acceptance`
# without an account.
acceptance-simulator: install
	MAKE="$(MAKE)" $(PY) -m tests.acceptance.against_simulator

clean:
	rm -rf mutants mutants.log $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
