"""Issue 20: a scheduled campaign starts once, however many engines run schedulers.

Two engines (each its own services and connection pools, as two `courriel
worker` processes) run their schedulers at the same time once the
scheduled instant has passed: the campaign's fan-out job is claimed under a
lease (SKIP LOCKED on PostgreSQL), its batches one at a time, and every
recipient gets exactly one spooled message.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest

from courriel.config import Settings
from courriel.core.clock import FrozenClock
from courriel.services import Services
from tests.support.databases import POSTGRES_URL, Templates, build_services
from tests.support.seeds.campaigns import make_campaign, seed_list, spooled
from tests.support.tenants import make_tenant

pytestmark = pytest.mark.slow

RECIPIENTS = 1_200  # several fan-out batches of 500
START = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Engines share a database server: this is PostgreSQL's test."""
    if not POSTGRES_URL:
        pytest.skip("COURRIEL_TEST_POSTGRES_URL is not set")
    name: str = request.param
    return name


def test_two_engines_start_a_scheduled_campaign_once(
    settings: Settings, templates: Templates
) -> None:
    clock = FrozenClock(START)
    first = build_services(settings, templates, clock)
    second = Services.build(settings, clock)  # the other engine, on the same databases
    try:
        tenant = make_tenant(first, "Scheduled")
        people = [f"reader{n}@gmail.test" for n in range(RECIPIENTS)]
        campaign = make_campaign(first, tenant, [seed_list(first, tenant, people)])
        first.campaign_control.schedule(tenant.operator, campaign, at=START + dt.timedelta(hours=1))
        first.scheduler().drain()
        second.scheduler().drain()
        assert spooled(first, campaign) == []  # not yet due
        clock.advance(hours=1, seconds=1)
        ran: Counter[str] = Counter()

        def engine(name: str, services: Services) -> None:
            scheduler = services.scheduler()
            while (batches := scheduler.run_once(max_batches=1)) > 0:
                ran[name] += batches

        threads = [
            threading.Thread(target=engine, args=(name, s))
            for name, s in (("first", first), ("second", second))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        per_rcpt = Counter(spooled(first, campaign))
    finally:
        second.close()
        first.close()
    assert sorted(per_rcpt) == sorted(people)
    assert max(per_rcpt.values()) == 1, "a recipient was spooled twice"
    assert sum(ran.values()) >= RECIPIENTS // 500
