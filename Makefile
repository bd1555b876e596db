# Lab MES — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Reinstall when the declared dependencies or the lock change.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt $(wildcard examples/*/pyproject.toml) 2>/dev/null | sha256sum | cut -c1-12)
EXAMPLE_PLUGINS := $(patsubst %/pyproject.toml,-e %,$(wildcard examples/*/pyproject.toml))

# Compiled Python goes into the virtualenv, never into the source tree, and is kept even where the shell
# says not to write bytecode: every test process and every server a test starts would otherwise compile
# the project (and rewrite the tests' asserts) again (collecting the suite: 7.7 → 2.9 s of CPU).
export PYTHONPYCACHEPREFIX := $(CURDIR)/$(VENV)/pycache
unexport PYTHONDONTWRITEBYTECODE

# Real services for the production-like test pass (running on our machines and in CI).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_SERVICES_REDIS_URL ?= redis://127.0.0.1:6379/14
# Checks must not pick up a developer's .env or production variables (pytest scrubs them itself, in
# conftest.py, so a plain `pytest tests/jobs` is as safe as `make test`).
TEST_ENV := env -u DATABASE_URL -u REDIS_URL -u TASK_ENGINE -u SECRET_KEY -u DEBUG -u ALLOWED_HOSTS MES_ENV_FILE=/dev/null
# Extra arguments: pytest's for the test targets (`make test-fast ARGS="tests/jobs -x"`), bench/run.py's for
# `make bench` (`make bench ARGS="--engine embedded --printers 2000"`).
ARGS ?=
# Parallel pytest-xdist workers. Most tests wait on servers, browsers and processes rather than compute,
# so more workers than cores pays; tests sharing one expensive thing keep to one worker
# (`xdist_group` in conftest.py). WORKERS=0 runs everything in this process.
WORKERS ?= 4
XDIST := $(if $(filter 0,$(WORKERS)),,-n $(WORKERS) --dist loadgroup)

.PHONY: run test test-fast lint test-sqlite test-services venv browser lock bench clean

$(STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing Lab MES and its dependencies into $(VENV)…"
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]" $(EXAMPLE_PLUGINS)
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

# The browser tests (marker `browser`, tests/browser/) drive Debian's Chromium through Playwright
# (`playwright install` needs the internet; the system package does not). Installed when missing.
CHROMIUM := /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
		echo "Chromium is missing at $(CHROMIUM): apt-get update && apt-get install chromium (for the browser tests)…"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; \
	fi

run: $(STAMP)
	@$(BIN)/python manage.py bootstrap
	@$(BIN)/python manage.py up --simulate 8

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(TEST_ENV) $(BIN)/python manage.py check
	$(TEST_ENV) $(BIN)/python manage.py makemigrations --check --dry-run

# The quick loop while developing: the embedded default (SQLite, no services), no slow tests.
test-fast: $(STAMP) browser
	$(BIN)/pytest $(XDIST) -m "not slow" $(ARGS)

test-sqlite: $(STAMP) browser
	$(BIN)/pytest $(XDIST) $(ARGS)

# DATABASE_URL equal to TEST_DATABASE_URL is what makes conftest.py keep the services variables. This pass
# leaves out the slow tests and the directories in conftest.py's EMBEDDED_PASS_ONLY (browser tests).
test-services: $(STAMP) browser
	TEST_DATABASE_URL=$(TEST_DATABASE_URL) DATABASE_URL=$(TEST_DATABASE_URL) \
		REDIS_URL=$(TEST_SERVICES_REDIS_URL) TASK_ENGINE=celery $(BIN)/pytest $(XDIST) -m "not slow" $(ARGS)

test: lint test-sqlite test-services

# Regenerate the lock of exact versions after changing dependencies in pyproject.toml.
lock: 
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e ' | grep -iv '^mes-plugin-example' > constraints.txt

bench: $(STAMP)
	$(BIN)/python bench/run.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
