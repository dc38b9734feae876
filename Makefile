# Two commands for a fresh clone: `make demo` and `make test`. Each sets itself up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint format migrate worker beat serve console clean audit-deps
# The browser tests (tests/e2e) drive Debian's Chromium with Playwright; installed when missing.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver

demo: $(STAMP)
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py demo

# Uses PostgreSQL and Redis when they answer on localhost and nothing else was configured;
# tests that need them are otherwise left out, and the run lists them.
test: $(STAMP) $(CHROMIUM)
	@if [ -z "$${DATABASE_URL:-}" ] && (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then \
	  export DATABASE_URL=postgres://postgres@127.0.0.1:5432/ewallet; fi; \
	if [ -z "$${CELERY_BROKER_URL:-}" ] && (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then \
	  export CELERY_BROKER_URL=redis://127.0.0.1:6379/15; fi; \
	echo "make test: database $${DATABASE_URL:-sqlite (embedded)}, broker $${CELERY_BROKER_URL:-none}"; \
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

# Known vulnerabilities of the installed dependencies, from PyPI's advisory data (it needs
# PyPI's JSON API; --strict fails when a package could not be looked up, so an unreachable
# API is an error, never a silent pass).
audit-deps: $(STAMP)
	$(VENV)/bin/pip-audit --strict --skip-editable --progress-spinner off

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput

worker: $(STAMP)
	$(VENV)/bin/celery -A ewallet worker --loglevel=INFO

beat: $(STAMP)
	$(VENV)/bin/celery -A ewallet beat --loglevel=INFO

serve: $(STAMP)
	$(VENV)/bin/gunicorn ewallet.wsgi --bind 127.0.0.1:8000 --workers 2

# The admin console on :8000 with one user per role (their passwords are printed).
console: $(STAMP)
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py seed_console
	$(VENV)/bin/gunicorn ewallet.wsgi --bind 127.0.0.1:8000 --workers 2

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
