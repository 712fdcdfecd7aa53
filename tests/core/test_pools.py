"""Issue 20: each process's PostgreSQL connection pools are sized by settings.

Many engines share one cluster; what each holds open to each database
(control, spool, every tenant's) is `database_pool_size`, and at busy
moments `database_max_overflow` more, so an operator can fit engines ×
databases × pool under the server's max_connections.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import QueuePool

from courriel.config import Settings
from courriel.core.storage import Storage
from tests.support.databases import POSTGRES_URL


@pytest.fixture(params=["postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Pools are PostgreSQL's: the embedded default opens files."""
    if not POSTGRES_URL:
        pytest.skip("COURRIEL_TEST_POSTGRES_URL is not set")
    name: str = request.param
    return name


def test_a_process_opens_at_most_pool_size_plus_overflow_connections_to_a_database(
    settings: Settings,
) -> None:
    small = settings.model_copy(update={"database_pool_size": 2, "database_max_overflow": 1})
    storage = Storage(small)
    limited = storage.spool_engine
    assert isinstance(limited.pool, QueuePool)
    assert limited.pool.size() == 2
    limited.pool._timeout = 0.5  # fail fast past the limit (pool_timeout's attribute)
    held = []
    try:
        held = [limited.connect() for _ in range(3)]
        with pytest.raises(PoolTimeout):
            limited.connect()
        database = held[0].execute(text("SELECT current_database()")).scalar()
        with storage.control_engine.connect() as conn:
            backends = conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d"), {"d": database}
            ).scalar()
        assert backends == 3
    finally:
        for conn in held:
            conn.close()
        storage.dispose()
