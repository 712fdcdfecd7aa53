# The two commands of the README: `make run` and `make test`.
# Everything Courriel needs is installed from these files: the hashed lock
# (requirements.lock, made by `make lock`) and Debian packages for the browser tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= data
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest quick bench lock docs clean browser screenshots

# Debian packages: Chromium for the browser tests (Playwright drives it, and
# never downloads a browser of its own), wrk for the HTTP benchmarks, swaks
# (with Net::SSLeay for STARTTLS) for the SMTP relay tests, pg_dump and pg_restore
# for backups of PostgreSQL installations; SpamAssassin (spamd, spamc) for the
# spam score of the content check.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := chromium wrk swaks libnet-ssleay-perl postgresql-client spamassassin spamc

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/courriel migrate --data-dir $(DATA_DIR)
	$(BIN)/courriel serve --data-dir $(DATA_DIR) --sandbox --seed-demo

test: $(STAMP) browser lint typecheck pytest

browser:
	@command -v chromium >/dev/null && command -v wrk >/dev/null && command -v swaks >/dev/null && command -v pg_dump >/dev/null && command -v spamd >/dev/null && command -v spamc >/dev/null || \
		($(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES))

# import-linter keeps the layers of docs/architecture.md (contracts in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# Two pytest workers per core (pytest-xdist): the tests mostly wait on
# databases, SMTP sessions and sockets, so one per core leaves the cores half
# idle. Every test has its own databases, data directory and ephemeral ports,
# so they run side by side safely.
PYTEST_WORKERS ?= $(shell echo $$(( $$(nproc) * 2 )))
pytest: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --durations=15

# While iterating: the suite without the long scenarios (marked `slow`).
# CI and `make test` always run everything.
quick: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) -m "not slow"

# The web application's journeys, keeping a screenshot of every page for docs/ui.md.
screenshots: $(STAMP) browser
	COURRIEL_SCREENSHOTS=docs/screenshots $(BIN)/pytest -n $(PYTEST_WORKERS) tests/web/ui \
		--ignore=tests/web/ui/test_docs.py
	$(BIN)/pytest tests/web/ui/test_docs.py

bench: $(STAMP) browser
	for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

docs: $(STAMP)
	$(BIN)/courriel config --markdown > docs/configuration.md

# Regenerate the lock after changing dependencies in pyproject.toml.
lock:
	$(PYTHON) -m pip install --quiet uv==0.13.8
	$(PYTHON) -m uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
