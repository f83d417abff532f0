# Two commands do all set-up: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint serve clean bench chaos setup setup-checks openapi

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# checkov pins versions that clash with the test tools, so it gets its own virtual environment.
CHECKOV_STAMP := .venv-checkov/.installed
$(CHECKOV_STAMP): requirements-checkov.txt
	@test -x .venv-checkov/bin/python || $(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	@touch $(CHECKOV_STAMP)

node_modules/.installed: package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	@touch node_modules/.installed

setup: $(STAMP) node_modules/.installed

setup-checks: $(CHECKOV_STAMP)

demo: setup
	$(BIN)/tandem demo

serve: setup
	$(BIN)/tandem serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: setup setup-checks lint
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

# The admin API's OpenAPI document, kept in the repository (a test fails when it differs from the app's).
openapi: $(STAMP)
	$(BIN)/python -m sync.admin.openapi

bench: setup
	$(BIN)/python bench/import_time.py
	$(BIN)/python bench/ado_sync.py
	$(BIN)/python bench/planner_listing.py
	$(BIN)/python bench/scim_provision.py

chaos: setup
	$(BIN)/python bench/chaos.py

clean:
	rm -rf $(VENV) .venv-checkov node_modules
