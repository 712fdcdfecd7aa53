"""Fixtures live in the `tests.support` package; this registers them as pytest plugins.

Every database test runs on SQLite and, when COURRIEL_TEST_POSTGRES_URL is set
(`.ci/run` sets it), on PostgreSQL: see `tests.support.fixtures`.
"""

# Each after the modules it imports, so pytest rewrites the asserts of all.
pytest_plugins = [
    "tests.support.databases",
    "tests.support.delivery",
    "tests.support.http",
    "tests.support.sandbox",
    "tests.support.browser",
    "tests.support.fixtures",
]
