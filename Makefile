# Two commands do all set-up: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint serve clean bench chaos setup setup-checks setup-browser openapi screenshots

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

# The console's browser tests drive Debian's Chromium (Playwright's own browser builds are never downloaded).
# A clean CI machine (root, Debian's registry) gets it with apt-get; elsewhere, say what to install.
CHROMIUM ?= /usr/bin/chromium
setup-browser:
	@test -x $(CHROMIUM) || { \
	  echo "make: installing Debian's chromium for the console's browser tests"; \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || true; }
	@test -x $(CHROMIUM) || { \
	  echo "make: no Chromium at $(CHROMIUM); install it as root with 'apt-get install -y chromium' (Debian)" \
	       "or set CHROMIUM/TANDEM_CHROMIUM to a Chromium binary: the console's browser tests need it" >&2; exit 1; }

demo: setup
	$(BIN)/tandem demo

serve: setup
	$(BIN)/tandem serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: setup setup-checks setup-browser lint
	TANDEM_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -n 2 --dist loadfile -q

# The admin API's OpenAPI document, kept in the repository (a test fails when it differs from the app's).
openapi: $(STAMP)
	$(BIN)/python -m sync.admin.openapi

bench: setup
	$(BIN)/python bench/import_time.py
	$(BIN)/python bench/ado_sync.py
	$(BIN)/python bench/planner_listing.py
	$(BIN)/python bench/scim_provision.py

# Screenshots of the admin console for the README (docs/screenshots/*.png).
screenshots: setup setup-browser
	TANDEM_CHROMIUM=$(CHROMIUM) $(BIN)/python bench/console_screenshots.py
	TANDEM_CHROMIUM=$(CHROMIUM) $(BIN)/python bench/wizard_screenshot.py

chaos: setup
	$(BIN)/python bench/chaos.py

clean:
	rm -rf $(VENV) .venv-checkov node_modules
