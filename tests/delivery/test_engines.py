"""Issue 20: several engines share one campaign on PostgreSQL.

Three `courriel worker` processes (scheduler and delivery each) run against
one PostgreSQL cluster and the sandbox internet while a campaign is sent: the
fan-out happens once (leases), every recipient receives exactly one message,
and the receiving server never sees more simultaneous sessions than the lane
allows, counted by the server itself across all three engines.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from courriel.campaigns.models import CampaignRecipient
from courriel.config import Settings
from courriel.config.profiles import ThrottleProfile
from courriel.delivery.models import SpoolMessage
from courriel.services import Services
from tests.support.databases import POSTGRES_URL
from tests.support.delivery import fast_profiles
from tests.support.engines import engine_process
from tests.support.sandbox import SandboxThread
from tests.support.seeds.campaigns import make_campaign, seed_list
from tests.support.tenants import make_tenant

pytestmark = pytest.mark.slow

RECIPIENTS = 1_000
ENGINES = 3
# Few sessions, few messages each: many openings, so a lane limit that did
# not hold across engines would show at the receiving side.
LANE = ThrottleProfile(
    mx_suffixes=["google.test"],
    max_connections=3,
    messages_per_connection=20,
    messages_per_minute=600_000,
    messages_per_hour=36_000_000,
)


@pytest.fixture(params=["postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Engines share a database server: this is PostgreSQL's test."""
    if not POSTGRES_URL:
        pytest.skip("COURRIEL_TEST_POSTGRES_URL is not set")
    name: str = request.param
    return name


def test_three_engines_send_one_campaign_once_within_the_lane_limits(
    services: Services, settings: Settings
) -> None:
    tenant = make_tenant(services, "Engines")
    people = [f"reader{n}@gmail.test" for n in range(RECIPIENTS)]
    list_id = seed_list(services, tenant, people)
    campaign_id = make_campaign(services, tenant, [list_id])
    with SandboxThread(Path(settings.data_dir)) as sandbox:
        engines = [
            engine_process(settings, profiles=fast_profiles(google=LANE)) for _ in range(ENGINES)
        ]
        try:
            services.campaign_control.send(tenant.operator, campaign_id)
            deadline = time.monotonic() + 240
            while sandbox.store.count() < RECIPIENTS or _spooled(services):
                dead = [e for e in engines if e.poll() is not None]
                assert not dead, dead[0].communicate()[1].decode(errors="replace")[:4000]
                assert time.monotonic() < deadline, (
                    f"{sandbox.store.count()} of {RECIPIENTS} received in time"
                )
                time.sleep(0.2)
        finally:
            for engine in engines:
                engine.send_signal(signal.SIGTERM)
            errors = [e.communicate(timeout=60)[1].decode(errors="replace") for e in engines]
        per_rcpt = Counter(sandbox.store.all_recipients())
        peak = sandbox.handlers["google"].peak_sessions
        accepted = sandbox.connections_accepted["google"]
    with services.storage.tenant(tenant.tenant.id)() as session:
        fanned_out = session.scalar(
            select(func.count())
            .select_from(CampaignRecipient)
            .where(CampaignRecipient.campaign_id == campaign_id)
        )
    print(
        f"\n{ENGINES} engines: {RECIPIENTS} recipients, {accepted} sessions opened, "
        f"at most {peak} at once (lane limit {LANE.max_connections})"
    )
    assert fanned_out == RECIPIENTS, errors
    assert sorted(per_rcpt) == sorted(people)
    assert max(per_rcpt.values()) == 1, "a recipient received a message twice"
    assert peak <= LANE.max_connections
    # Sessions end after 20 messages: the lane was opened many times over.
    assert accepted >= RECIPIENTS // LANE.messages_per_connection


def _spooled(services: Services) -> int:
    with services.spool.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(SpoolMessage)) or 0)
